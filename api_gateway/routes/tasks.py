"""Reading, waiting on, cancelling, paging and retrying a task. Another tenant's task is a plain
404."""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any

import redis
from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import JSONResponse
from kombu.exceptions import OperationalError

from api_gateway.deps import TenantDep
from api_gateway.enqueue import BrokerUnavailable
from api_gateway.openapi_models import STORE_DOWN, ConflictBody, RetriedTask, TypedTaskView, error
from api_gateway.state import GatewayState, StateDep
from api_gateway.waiting import wait_until_terminal
from eyeflow_worker.core.records import ItemStatus, NotRetryable, batch_task_id
from eyeflow_worker.core.routing import job_route
from eyeflow_worker.core.task_view import TERMINAL, BatchResultsPage, task_view

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/tasks", tags=["tasks"])

_TASK_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: error("No such task for this tenant (or, for batch routes, not a batch)"),
    **STORE_DOWN,
}


def _record_or_404(state: GatewayState, task_id: str, tenant: str) -> dict[str, str]:
    return _found(state.jobs.get_for_tenant(_task_id(task_id), tenant))


def _task_id(task_id: str) -> str:
    # Task ids are UUIDs; anything else names no task (and must never reach other Redis keys).
    if not _TASK_ID.fullmatch(task_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Task not found")
    return task_id


def _found(record: dict[str, str] | None) -> dict[str, str]:
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Task not found")
    return record


def _batch_or_404(state: GatewayState, task_id: str, tenant: str) -> dict[str, str]:
    record = _record_or_404(state, task_id, tenant)
    if record.get("kind") != "batch":
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Task is not a batch")
    return record


def _conflict(task_id: str, record: dict[str, str], detail: str) -> JSONResponse:
    return JSONResponse(
        {"detail": detail, "task": task_view(task_id, record).to_json()},
        status.HTTP_409_CONFLICT,
    )


@router.get(
    "/{task_id}",
    operation_id="getTask",
    summary="Read a task (optionally wait for it to end)",
    response_model=TypedTaskView,
    responses={**_NOT_FOUND, 202: {"model": TypedTaskView, "description": "`wait` ran out first"}},
)
async def read_task(
    task_id: str,
    state: StateDep,
    tenant: TenantDep,
    wait: Annotated[
        float | None,
        Query(gt=0, le=60, description="Hold up to this many seconds for the job to end."),
    ] = None,
) -> JSONResponse:
    """The task's status, timestamps, attempts, progress, and result or error."""
    # On the event loop (`records_async`), as the submissions: polling costs no thread hop.
    record = _found(await state.records.get_for_tenant(_task_id(task_id), tenant))
    if wait is not None and record.get("status") not in TERMINAL:
        waited = await wait_until_terminal(
            state.redis, state.records, task_id, wait, state.wait_slots
        )
        record = waited or record
        code = status.HTTP_200_OK if record.get("status") in TERMINAL else status.HTTP_202_ACCEPTED
        return JSONResponse(task_view(task_id, record).to_json(), code)
    return JSONResponse(task_view(task_id, record).to_json())


@router.delete(
    "/{task_id}",
    operation_id="cancelTask",
    summary="Cancel a task",
    response_model=TypedTaskView,
    responses={**_NOT_FOUND, 409: error("The task had already finished", ConflictBody)},
)
def cancel_task(task_id: str, state: StateDep, tenant: TenantDep) -> JSONResponse:
    """Cancel a queued or running job. For a batch, every item not yet finished is cancelled and
    finished items are kept. An economy batch's provider batches are cancelled too, by its next
    poll (within a minute: the gateway never calls a provider). A job that already ended
    answers 409 with its current state."""
    record = _record_or_404(state, task_id, tenant)
    if not state.jobs.cancel(task_id):
        current = state.jobs.get(task_id) or record
        return _conflict(task_id, current, f"Task already {current.get('status')}")
    current = state.jobs.get(task_id) or record
    state.metrics.count("eyeflow_jobs", kind=current.get("kind", "generate"), status="cancelled")
    if current.get("webhook_url"):
        try:
            state.webhooks.queue(task_id)
        except OperationalError:
            # The cancel stands; the job sits in the webhook outbox and beat's sweep queues the
            # delivery once the broker is back.
            logger.warning("cancelled %s; its webhook waits for the broker", task_id)
    return JSONResponse(task_view(task_id, current).to_json())


@router.get(
    "/{task_id}/results",
    operation_id="listBatchResults",
    summary="Page through a batch's per-item results",
    response_model=BatchResultsPage,
    responses=_NOT_FOUND,
)
def batch_results(
    task_id: str,
    state: StateDep,
    tenant: TenantDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    item_status: Annotated[
        ItemStatus | None,
        Query(alias="status", description="Only the items with this status."),
    ] = None,
) -> BatchResultsPage:
    """One page of a batch's per-item results, in submission order. With `status`, only the
    items that have it: `offset`, `limit` and `next_offset` then count over those (`total` stays
    the batch's)."""
    record = _batch_or_404(state, task_id, tenant)
    total = int(record.get("total", 0))
    if item_status is None:
        items, matched = state.jobs.batch_items(task_id, offset, limit), total
    else:
        items, matched = state.jobs.batch_items_where(task_id, item_status, offset, limit)
    next_offset = offset + limit if offset + limit < matched else None
    return BatchResultsPage.model_validate(
        {
            "task_id": task_id,
            "offset": offset,
            "limit": limit,
            "total": total,
            "items": items,
            "next_offset": next_offset,
        }
    )


@router.post(
    "/{task_id}/retry",
    operation_id="retryBatch",
    summary="Re-queue the failed items of a finished batch",
    response_model=RetriedTask,
    responses={
        **_NOT_FOUND,
        409: error("The batch is still running, or was cancelled", ConflictBody),
        503: error("Redis or the broker is unreachable; nothing was changed"),
    },
)
def retry_batch(task_id: str, state: StateDep, tenant: TenantDep) -> JSONResponse:
    """Re-queue only the failed items of a finished batch, under the same task id: they leave
    `failed`, the batch reads `running` again and ends again (with a new webhook event) when they
    land. `requeued` says how many; 0 when none had failed, and then nothing changes."""
    record = _batch_or_404(state, task_id, tenant)
    try:
        reopened = state.jobs.retry_failed(task_id)
    except NotRetryable as refused:
        current = state.jobs.get(task_id) or record
        detail = "Batch was cancelled" if refused.status == "cancelled" else "Batch still running"
        return _conflict(task_id, current, f"{detail}; only a finished batch can be retried")
    # Read before the re-run is queued: the batch cannot end again until its message runs.
    current = state.jobs.get(task_id) or record
    if reopened:
        _queue_rerun(state, task_id, tenant, int(current.get("retries", 0)))
    body = {**task_view(task_id, current).to_json(), "requeued": len(reopened)}
    return JSONResponse(body)


def _queue_rerun(state: GatewayState, task_id: str, tenant: str, run: int) -> None:
    """One start message for the run (it fans out the re-opened items, as at submission): a
    single send either reaches the broker or not, so a refusal can be undone completely."""
    task, queue = job_route("batch", state.settings)
    try:
        state.celery.send_task(
            task,
            args=[task_id, tenant, run],
            task_id=batch_task_id(task_id, run),
            queue=queue,
            retry=False,
        )
    except OperationalError as exc:
        if not state.jobs.undo_retry(task_id, run):
            logger.warning("retry of %s could not be queued nor undone (it moved on)", task_id)
        raise BrokerUnavailable(str(exc)) from None
    try:
        state.jobs.retry_queued(task_id)
    except redis.exceptions.RedisError:
        # The re-run is queued and will run: say so. The stash expires with the record.
        logger.warning(
            "retry of %s queued; its stash of re-opened results was not dropped", task_id
        )
