"""An in-process stand-in for the gateway's batch routes (httpx.MockTransport), scripted per
test: each poll of the task finishes `step` more items; intents containing "FAIL" fail."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx


def _rules(intent: str) -> dict[str, Any]:
    """A workflow rules document of the contract's shape, named after the intent."""
    rule = {"name": intent, "condition": "$metrics.cpu > 90", "then": [{"action": "NOTIFY"}]}
    return {"workflow_name": "fake", "trigger": "ON_METRIC_UPDATE", "rules": [rule]}


@dataclass
class FakeGateway:
    step: int = 3
    token: str | None = None
    accepts_mode: bool = True
    interrupt_on_poll: int | None = None  # raise KeyboardInterrupt on this poll (1-based)
    requests: list[httpx.Request] = field(default_factory=list)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    polls: int = 0

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.token is not None and request.headers.get("authorization") != (
            f"Bearer {self.token}"
        ):
            return httpx.Response(401, json={"detail": "Invalid or missing token"})
        parts = request.url.path.strip("/").split("/")
        if request.method == "POST" and request.url.path == "/api/rules/generate-batch":
            return self._submit(request)
        if parts[:2] != ["api", "tasks"] or len(parts) < 3 or parts[2] not in self.batches:
            return httpx.Response(404, json={"detail": "Task not found"})
        batch = self.batches[parts[2]]
        if len(parts) == 3 and request.method == "GET":
            return self._poll(batch)
        if parts[3:] == ["results"]:
            return self._results(batch, request)
        if parts[3:] == ["retry"] and request.method == "POST":
            return self._retry(batch)
        return httpx.Response(404, json={"detail": "Not Found"})

    # --- routes -------------------------------------------------------------------------

    def _submit(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if "mode" in body and not self.accepts_mode:
            detail = [{"loc": ["body", "mode"], "msg": "Extra inputs are not permitted"}]
            return httpx.Response(422, json={"detail": detail})
        key = request.headers.get("idempotency-key", "")
        if key in self.keys:
            batch = self.batches[self.keys[key]]
            return httpx.Response(200, json=self._accepted(batch))
        task_id = str(uuid.uuid4())
        self.keys[key] = task_id
        self.batches[task_id] = batch = {
            "task_id": task_id,
            "intents": body["intents"],
            "items": {},
            "status": "queued",
        }
        return httpx.Response(202, json=self._accepted(batch))

    def _poll(self, batch: dict[str, Any]) -> httpx.Response:
        self.polls += 1
        if self.interrupt_on_poll == self.polls:
            raise KeyboardInterrupt
        pending = [i for i in range(len(batch["intents"])) if i not in batch["items"]]
        for index in pending[: self.step]:
            intent = batch["intents"][index]
            if "FAIL" in intent:
                item = {"status": "failed", "error": {"code": "invalid_llm_output", "message": "x"}}
            else:
                item = {"status": "succeeded", "workflow_rules": _rules(intent)}
            batch["items"][index] = {"index": index, "intent": intent, "cost_usd": 0.01, **item}
        if len(batch["items"]) == len(batch["intents"]):
            succeeded = self._count(batch, "succeeded")
            batch["status"] = "succeeded" if succeeded else "failed"
        else:
            batch["status"] = "running"
        return httpx.Response(200, json=self.task(batch))

    def _results(self, batch: dict[str, Any], request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params.get("offset", 0))
        limit = int(request.url.params.get("limit", 100))
        total = len(batch["intents"])
        items = [
            batch["items"].get(i, {"index": i, "intent": batch["intents"][i], "status": "queued"})
            for i in range(offset, min(offset + limit, total))
        ]
        wanted = request.url.params.get("status")
        if wanted:
            items = [item for item in items if item["status"] == wanted]
        next_offset = offset + limit if offset + limit < total else None
        page = {"task_id": batch["task_id"], "offset": offset, "limit": limit, "total": total}
        return httpx.Response(200, json={**page, "items": items, "next_offset": next_offset})

    def _retry(self, batch: dict[str, Any]) -> httpx.Response:
        if batch["status"] not in ("succeeded", "failed"):
            return httpx.Response(409, json={"detail": "Batch is still running"})
        failed = [i for i, item in batch["items"].items() if item["status"] == "failed"]
        for index in failed:
            del batch["items"][index]
        batch["status"] = "running"
        return httpx.Response(200, json={**self.task(batch), "requeued": len(failed)})

    # --- shapes -------------------------------------------------------------------------

    @staticmethod
    def _count(batch: dict[str, Any], status: str) -> int:
        return sum(1 for item in batch["items"].values() if item["status"] == status)

    def _accepted(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {
            "task_id": batch["task_id"],
            "kind": "batch",
            "status": batch["status"],
            "status_url": f"/api/tasks/{batch['task_id']}",
            "total": len(batch["intents"]),
        }

    def task(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {
            "task_id": batch["task_id"],
            "kind": "batch",
            "status": batch["status"],
            "created_at": "2025-01-01T00:00:00Z",
            "started_at": None,
            "finished_at": None,
            "attempts": 0,
            "progress": {
                "total": len(batch["intents"]),
                "succeeded": self._count(batch, "succeeded"),
                "failed": self._count(batch, "failed"),
                "cancelled": 0,
            },
            "result": None,
            "error": None,
            "results_url": f"/api/tasks/{batch['task_id']}/results",
        }

    def submissions(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == "/api/rules/generate-batch"]
