"""The task object: the one shape callers see in `GET /api/tasks/{id}`, in `?wait` answers and
in webhook bodies, built from a job record. The gateway uses these models as its response models,
so the OpenAPI and what is sent can never drift apart. The URL layout of a task lives here too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from eyeflow_worker.core.routing import Kind

Status = Literal["queued", "running", "retrying", "succeeded", "failed", "cancelled"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


def status_path(task_id: str) -> str:
    return f"/api/tasks/{task_id}"


def results_path(task_id: str) -> str:
    return f"/api/tasks/{task_id}/results"


class Accepted(BaseModel):
    task_id: str
    kind: Kind
    status: Status
    status_url: str
    total: int | None = Field(default=None, description="Batches only: the number of intents.")


class TaskError(BaseModel):
    # An error's `details` carry the structure; anything else a record holds is passed on.
    model_config = ConfigDict(extra="allow")

    code: str = Field(examples=["provider_unavailable", "invalid_llm_output", "config_missing"])
    message: str
    details: Any = None


class Progress(BaseModel):
    total: int
    succeeded: int
    failed: int
    cancelled: int = 0


class WebhookState(BaseModel):
    status: Literal["pending", "retrying", "delivered", "failed"]
    attempts: int
    last_error: str | None = None
    delivered_at: str | None = None


BatchMode = Literal["realtime", "economy", "auto"]


class ProviderBatchView(BaseModel):
    """One provider batch of an economy batch (a round may have several: provider limits)."""

    model_config = ConfigDict(extra="allow")

    provider: str
    batch_id: str
    round: int
    status: str = Field(description="in_progress, ended, cancelling, cancelled, expired, failed")
    provider_status: str | None = None
    request_counts: dict[str, int] = Field(default_factory=dict)


class TaskView(BaseModel):
    task_id: str
    kind: Kind
    status: Status
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    attempts: int
    progress: Progress
    result: dict[str, Any] | None
    error: TaskError | None
    results_url: str | None = None
    webhook: WebhookState | None = Field(
        default=None, description="Delivery state, for jobs submitted with a webhook_url."
    )
    mode: BatchMode | None = Field(
        default=None,
        description="Batches: realtime or economy (the provider's batch API); `auto` until a "
        "worker resolved it.",
    )
    mode_reason: str | None = Field(
        default=None, description="Batches: why the batch runs in its mode (auto, fallbacks)."
    )
    provider_batches: list[ProviderBatchView] | None = Field(
        default=None, description="Economy batches: each provider batch, its status and counts."
    )
    cost_usd: float | None = Field(
        default=None, description="Economy batches: what the stored items cost (batch rate)."
    )
    realtime_cost_usd: float | None = Field(
        default=None, description="Economy batches: what the same work would cost realtime."
    )

    def to_json(self) -> dict[str, Any]:
        """What is sent: optional parts (`results_url`, `webhook`) only when they apply."""
        return self.model_dump(mode="json", exclude_unset=True)


class BatchItem(BaseModel):
    model_config = ConfigDict(extra="allow")

    index: int
    intent: str
    status: Literal["queued", "succeeded", "failed", "cancelled"]
    workflow_rules: dict[str, Any] | None = None
    error: TaskError | None = None
    tokens_used: int | None = None
    usage: dict[str, Any] | None = None
    cost_usd: float | None = Field(
        default=None,
        description="What this item's provider calls cost, in USD (economy items at the batch "
        "rate); absent when the provider's price is unknown (Ollama, llama.cpp, offline).",
    )
    realtime_cost_usd: float | None = Field(
        default=None,
        description="Economy items: what the same calls would have cost realtime.",
    )


class BatchResultsPage(BaseModel):
    task_id: str
    offset: int
    limit: int
    total: int
    items: list[BatchItem]
    next_offset: int | None


def task_view(job_id: str, record: Mapping[str, str]) -> TaskView:
    """The task object for a job record (as `JobStore.get` returns it)."""
    kind = record.get("kind", "generate")
    status = record.get("status", "queued")
    fields: dict[str, Any] = {
        "task_id": job_id,
        "kind": kind,
        "status": status,
        "created_at": record.get("created_at"),
        "started_at": record.get("started_at"),
        "finished_at": record.get("finished_at"),
        "attempts": int(record.get("attempts", 0)),
        "progress": _progress(kind, status, record),
        "result": _json_or_none(record.get("result")),
        "error": _json_or_none(record.get("error")),
    }
    if kind == "batch":
        fields["results_url"] = results_path(job_id)
        fields.update(_mode_fields(record))
    if record.get("webhook_url"):
        fields["webhook"] = _json_or_none(record.get("webhook")) or {
            "status": "pending",
            "attempts": 0,
        }
    return TaskView.model_validate(fields)


def _mode_fields(record: Mapping[str, str]) -> dict[str, Any]:
    """A batch's mode and, once it runs in economy mode, its provider batches and costs (only
    the fields the record has: a batch submitted before modes existed shows none)."""
    fields: dict[str, Any] = {}
    for name in ("mode", "mode_reason"):
        if record.get(name):
            fields[name] = record[name]
    if record.get("mode") == "economy":
        fields["provider_batches"] = _json_or_none(record.get("provider_batches")) or []
        fields["cost_usd"] = float(record.get("economy_cost_usd") or 0)
        fields["realtime_cost_usd"] = float(record.get("economy_realtime_cost_usd") or 0)
    return fields


def _progress(kind: str, status: str, record: Mapping[str, str]) -> dict[str, int]:
    if kind != "batch":
        total = 1
        succeeded = int(status == "succeeded")
        failed = int(status == "failed")
        cancelled = int(status == "cancelled")
    else:
        total = int(record.get("total", 0))
        succeeded = int(record.get("succeeded", 0))
        failed = int(record.get("failed", 0))
        cancelled = total - succeeded - failed if status == "cancelled" else 0
    return {"total": total, "succeeded": succeeded, "failed": failed, "cancelled": cancelled}


def _json_or_none(raw: str | None) -> Any:
    return json.loads(raw) if raw else None
