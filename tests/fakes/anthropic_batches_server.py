"""A loopback fake of Anthropic's Message Batches API, speaking its real wire format.

`POST /v1/messages/batches`, `GET /v1/messages/batches/{id}`, `POST .../{id}/cancel`,
`GET .../{id}/results` (JSONL, in reverse order) and `GET /v1/messages/batches` (newest first,
with `has_more`/`first_id`/`last_id` and `after_id`/`limit`, as the SDK's `SyncPage` expects).
Scripting knobs: see `batches_base.py`.

    with AnthropicBatchesServer() as fake:
        fake.outcomes["item-2"] = "expired"
        ...  # anthropic.Anthropic(base_url=fake.url)
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes.batches_base import ANSWER, BatchesServer, FakeBatch, Item, Response

_BATCHES = "/v1/messages/batches"


def _iso(instant: float | None) -> str | None:
    if instant is None:
        return None
    return datetime.fromtimestamp(instant, UTC).isoformat().replace("+00:00", "Z")


def _error(status: int, error_type: str, message: str) -> Response:
    body = {"type": "error", "error": {"type": error_type, "message": message}}
    return Response(status, body)


class AnthropicBatchesServer(BatchesServer):
    prefix = "msgbatch"

    def route(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> Response:
        if path == _BATCHES and method == "POST":
            return self._create(json.loads(body))
        if path == _BATCHES and method == "GET":
            return self._list(query)
        rest = path.removeprefix(_BATCHES + "/").split("/")
        batch = self.batches.get(rest[0])
        if not path.startswith(_BATCHES + "/") or batch is None or self.early_404(batch):
            return _error(404, "not_found_error", f"batch {rest[0]!r} not found")
        action = rest[1] if len(rest) > 1 else ""
        if action == "" and method == "GET":
            self.poll(batch)
            return Response(200, self.wire_batch(batch))
        if action == "cancel" and method == "POST":
            self.cancel(batch)
            return Response(200, self.wire_batch(batch))
        if action == "results" and method == "GET":
            if self.hides_results(batch):
                return _error(404, "not_found_error", "results are not available yet")
            return Response(200, self._results(batch), "application/binary")
        return _error(404, "not_found_error", f"no route {method} {path}")

    # --- endpoints ------------------------------------------------------------------------------

    def _create(self, body: dict[str, Any]) -> Response:
        items = [Item(r["custom_id"], r["params"]) for r in body["requests"]]
        return Response(200, self.wire_batch(self.add_batch(items)))

    def _list(self, query: dict[str, str]) -> Response:
        chunk, more = self.page(query.get("after_id"), int(query.get("limit", "20")))
        return Response(
            200,
            {
                "data": [self.wire_batch(b) for b in chunk],
                "has_more": more,
                "first_id": chunk[0].id if chunk else None,
                "last_id": chunk[-1].id if chunk else None,
            },
        )

    def _results(self, batch: FakeBatch) -> bytes:
        lines = [
            json.dumps({"custom_id": item.custom_id, "result": self._result(batch, index)})
            for index, item in reversed(list(enumerate(batch.items)))
        ]
        return ("\n".join(lines) + "\n").encode()

    def _result(self, batch: FakeBatch, index: int) -> dict[str, Any]:
        kind = batch.kind_of(index, self.outcomes)
        if kind == "succeeded":
            return {"type": "succeeded", "message": self._message(batch.items[index])}
        if kind in ("errored", "invalid_request"):
            error_type = "invalid_request_error" if kind == "invalid_request" else "api_error"
            message = "max_tokens: too large" if kind == "invalid_request" else "Internal error"
            detail = {"type": error_type, "message": message}
            return {"type": "errored", "error": {"type": "error", "error": detail}}
        return {"type": "canceled" if kind == "cancelled" else "expired"}

    def _message(self, item: Item) -> dict[str, Any]:
        usage = {
            "input_tokens": 0,
            "output_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 0,
            **self.usage,
        }
        return {
            "id": f"msg_{item.custom_id}",
            "type": "message",
            "role": "assistant",
            "model": item.params["model"],
            "content": [{"type": "text", "text": ANSWER}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }

    # --- the batch object ------------------------------------------------------------------------

    def wire_batch(self, batch: FakeBatch) -> dict[str, Any]:
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if not batch.ended:
            counts["processing"] = len(batch.items)
        else:
            for index in range(len(batch.items)):
                kind = batch.kind_of(index, self.outcomes)
                key = {"invalid_request": "errored", "cancelled": "canceled"}.get(kind, kind)
                counts[key] += 1
        status = "ended" if batch.ended else "canceling" if batch.cancelled else "in_progress"
        hidden = self.hides_results(batch)
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": status,
            "request_counts": counts,
            "created_at": _iso(batch.created_at),
            "expires_at": _iso(batch.created_at + timedelta(hours=24).total_seconds()),
            "ended_at": _iso(batch.ended_at),
            "archived_at": None,
            "cancel_initiated_at": _iso(batch.created_at) if batch.cancelled else None,
            "results_url": None if hidden else f"{self.url}{_BATCHES}/{batch.id}/results",
        }
