"""Each route of the gateway's public API as a `Call`: what to send and how to read the answer.

Shared by the sync and the async client, which only carry a `Call` over their own httpx client
(`sync.py`, `aio.py`): request building and response parsing exist once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx

from eyeflow_worker.client.boundary import parse
from eyeflow_worker.client.models import (
    Accepted,
    BatchMode,
    BatchPage,
    ItemStatus,
    RetriedTask,
    Task,
)

T = TypeVar("T")

MAX_WAIT_SECONDS = 60.0  # the gateway's bound on `?wait=`
MAX_PAGE_SIZE = 500  # the gateway's bound on `limit`


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    what: str  # for messages: "task 1b2c…", "the batch"
    read: Callable[[httpx.Response], T]
    params: Mapping[str, Any] = field(default_factory=dict)
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    hold: float = 0.0  # seconds the gateway may hold the request (`?wait=`): added to the timeout


def _accepted(response: httpx.Response) -> Accepted:
    accepted = parse(response, Accepted)
    accepted.created = response.status_code == 202
    return accepted


def _task(response: httpx.Response) -> Task:
    return parse(response, Task)


def _submission(
    path: str,
    what: str,
    body: dict[str, Any],
    *,
    aggregated_context: Mapping[str, Any] | None,
    webhook_url: str | None,
    idempotency_key: str | None,
) -> Call[Accepted]:
    # Optional fields are sent only when given: the gateway's defaults apply otherwise, and an
    # older gateway that does not know a field is not sent it.
    if aggregated_context is not None:
        body["aggregated_context"] = dict(aggregated_context)
    if webhook_url is not None:
        body["webhook_url"] = webhook_url
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    return Call("POST", path, what, _accepted, json=body, headers=headers)


def submit_generate(
    intent: str,
    *,
    aggregated_context: Mapping[str, Any] | None = None,
    webhook_url: str | None = None,
    idempotency_key: str | None = None,
) -> Call[Accepted]:
    return _submission(
        "/api/rules/generate",
        "the intent",
        {"user_intent": intent},
        aggregated_context=aggregated_context,
        webhook_url=webhook_url,
        idempotency_key=idempotency_key,
    )


def submit_batch(
    intents: list[str],
    *,
    mode: BatchMode | None = None,
    deadline: float | None = None,
    aggregated_context: Mapping[str, Any] | None = None,
    webhook_url: str | None = None,
    idempotency_key: str | None = None,
) -> Call[Accepted]:
    body: dict[str, Any] = {"intents": list(intents)}
    if mode is not None:
        body["mode"] = mode
    if deadline is not None:
        body["deadline"] = deadline
    return _submission(
        "/api/rules/generate-batch",
        "the batch",
        body,
        aggregated_context=aggregated_context,
        webhook_url=webhook_url,
        idempotency_key=idempotency_key,
    )


def submit_refine(
    current_rules: Mapping[str, Any],
    feedback: str,
    *,
    aggregated_context: Mapping[str, Any] | None = None,
    webhook_url: str | None = None,
    idempotency_key: str | None = None,
) -> Call[Accepted]:
    return _submission(
        "/api/rules/refine",
        "the refinement",
        {"current_rules": dict(current_rules), "feedback": feedback},
        aggregated_context=aggregated_context,
        webhook_url=webhook_url,
        idempotency_key=idempotency_key,
    )


def submit_evaluate(
    condition: str,
    context: Mapping[str, Any],
    *,
    webhook_url: str | None = None,
    idempotency_key: str | None = None,
) -> Call[Accepted]:
    return _submission(
        "/api/conditions/evaluate",
        "the condition",
        {"condition": condition, "context": dict(context)},
        aggregated_context=None,
        webhook_url=webhook_url,
        idempotency_key=idempotency_key,
    )


def get_task(task_id: str, *, wait: float | None = None) -> Call[Task]:
    """`wait`: let the gateway hold the answer up to that many seconds (≤ 60) for the end."""
    if wait is None or wait <= 0:
        return Call("GET", f"/api/tasks/{task_id}", f"task {task_id}", _task)
    hold = min(wait, MAX_WAIT_SECONDS)
    return Call(
        "GET", f"/api/tasks/{task_id}", f"task {task_id}", _task, params={"wait": hold}, hold=hold
    )


def results_page(
    task_id: str, *, offset: int = 0, limit: int = MAX_PAGE_SIZE, status: ItemStatus | None = None
) -> Call[BatchPage]:
    params: dict[str, Any] = {"offset": offset, "limit": min(max(limit, 1), MAX_PAGE_SIZE)}
    if status is not None:
        params["status"] = status
    return Call(
        "GET",
        f"/api/tasks/{task_id}/results",
        f"batch {task_id}",
        lambda response: parse(response, BatchPage),
        params=params,
    )


def cancel(task_id: str) -> Call[Task]:
    return Call("DELETE", f"/api/tasks/{task_id}", f"task {task_id}", _task)


def retry(task_id: str) -> Call[RetriedTask]:
    return Call(
        "POST",
        f"/api/tasks/{task_id}/retry",
        f"batch {task_id}",
        lambda response: parse(response, RetriedTask),
    )
