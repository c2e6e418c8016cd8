"""Batch generation: one `start` task fans out one task per intent on the batch queue.

Fan-out (rather than one long task looping over intents) means a crashed worker loses at most
the items it had in flight — late acks redeliver exactly those — and hundreds of intents run in
parallel across the batch workers. Items are idempotent: each has a deterministic task id
(`{batch_id}:{index}`), and one whose result is already stored is skipped.

A retry (`POST /api/tasks/{id}/retry`) re-opens a finished batch's failed items as run n (the
batch's `retries`) and sends one start message for that run (`{batch_id}:r{n}`); it fans out
`{batch_id}:{index}:r{n}`. Every message carries its run, and one of another run than the
batch's current one does nothing: an old message redelivered after its item was re-opened would
otherwise run it a second time. `ITEM_DONE` checks the run again when it stores the item (the
retry may land between this task's checks and its write), and stores an item at most once.

An item never fails for a transient reason while its batch has time: when its attempt ends in
a retryable error (provider unavailable or rate limited, NestJS unreachable) or its own time
limit (`JobTimeout`), nothing is stored and the same item is sent again with a countdown
(`{item task id}:t{n}`, same run), until the batch's `deadline_at` (BATCH_DEADLINE_SECONDS or the
submission's `deadline`). Past it, the item fails with its last error and
`details.deadline_passed`. Permanent errors fail at once; a cancelled batch drops the re-sent
message (the terminal check below).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from functools import lru_cache
from typing import Any

from eyeflow_worker.celery_app import app
from eyeflow_worker.core.errors import EyeflowError, JobTimeout
from eyeflow_worker.core.records import JobStore, batch_task_id
from eyeflow_worker.core.routing import Tasks
from eyeflow_worker.core.task_view import TERMINAL
from eyeflow_worker.rules.service import generate_rules
from eyeflow_worker.runtime import Runtime
from eyeflow_worker.tasks.base import TASK_OPTIONS, RuntimeTask
from eyeflow_worker.tasks.execution import (
    JobContext,
    durably,
    error_for,
    finished,
    record_usage,
)

logger = logging.getLogger(__name__)

# The wait before an item's n-th re-try: the server's `retry_after`, else 5 s doubling, and never
# more than a minute. A countdown message sits delivered-but-unacked in a worker until it is
# due; one due later than VISIBILITY_TIMEOUT_SECONDS would be redelivered (and run twice), so
# waits stay far below it and a long outage is crossed by many short waits instead.
_WAIT_BASE_SECONDS = 5.0
_WAIT_MAX_SECONDS = 60.0


def _current_run(record: dict[str, str]) -> int:
    return int(record.get("retries", 0))


@app.task(name=Tasks.BATCH_START, **TASK_OPTIONS)
def start_batch(self: RuntimeTask, job_id: str, tenant: str, run: int = 0) -> None:
    jobs = self.rt.jobs
    if _current_run(jobs.get(job_id) or {}) != run or not jobs.start(job_id):
        return  # another run's start message (or the batch ended / was cancelled)
    record = jobs.get(job_id) or {}
    for index in range(int(record.get("total", 0))):
        if not jobs.item_is_done(job_id, index):
            generate_item.apply_async(
                args=[job_id, tenant, index, run], task_id=batch_task_id(job_id, run, index)
            )


@lru_cache(maxsize=64)
def _batch_payload(jobs: JobStore, job_id: str) -> dict[str, Any]:
    """A batch's payload (with its possibly large aggregated context), parsed once per process."""
    return jobs.payload(job_id)


@app.task(name=Tasks.BATCH_ITEM, **TASK_OPTIONS)
def generate_item(
    self: RuntimeTask,
    job_id: str,
    tenant: str,
    index: int,
    run: int = 0,
    transient_retries: int = 0,
) -> None:
    rt = self.rt
    record = rt.jobs.get(job_id)
    if record is None or record.get("status") in TERMINAL:
        rt.webhooks.requeue_if_lost(job_id, record)
        return
    if _current_run(record) != run or rt.jobs.item_is_done(job_id, index):
        return
    intent = rt.jobs.batch_intent(job_id, index) or ""
    item: dict[str, Any] = {"index": index, "intent": intent, "attempt": run + 1}
    job = JobContext(rt, tenant, job_id)
    try:
        result = generate_rules(
            job.llm(),
            intent,
            job.aggregated_context(_batch_payload(rt.jobs, job_id).get("aggregated_context")),
            max_repair_attempts=rt.settings.rules_max_repair_attempts,
        )
    except Exception as exc:
        transient = _is_transient(exc)
        if transient and time.time() < _deadline_at(rt, record):
            _try_later(rt, exc, (job_id, tenant, index, run), transient_retries)
            return  # nothing stored: the item stays open until the re-sent message runs
        error = error_for(exc, batch_task_id(job_id, run, index))
        if transient:
            error["details"] = {**_as_details(error.get("details")), "deadline_passed": True}
        item.update(status="failed", error=error)
    else:
        item.update(status="succeeded", **result)
    # 0: dropped (cancelled meanwhile, already stored, or another run's); 2: the batch is done.
    if durably(lambda: rt.jobs.record_item(job_id, index, item, run)) == 2:
        ended = rt.jobs.get(job_id) or record
        finished(rt, job_id, ended.get("status", "succeeded"), ended)
    rt.metrics.count("eyeflow_batch_items", status=item["status"])
    if item["status"] == "succeeded":
        record_usage(rt, item)


def _is_transient(exc: Exception) -> bool:
    """Could the same attempt succeed later? A retryable error, or the attempt's own time limit
    (the batch's deadline, not the attempt's, bounds an item)."""
    return isinstance(exc, EyeflowError) and (exc.retryable or isinstance(exc, JobTimeout))


def _deadline_at(rt: Runtime, record: dict[str, str]) -> float:
    """The batch's deadline (epoch seconds); a record from before deadlines were stored gets
    BATCH_DEADLINE_SECONDS from its creation."""
    if "deadline_at" in record:
        return float(record["deadline_at"])
    created = record.get("created_at")
    start = datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp() if created else 0
    return start + rt.settings.batch_deadline_seconds


def _wait_seconds(exc: Exception, retries: int) -> float:
    retry_after = exc.retry_after if isinstance(exc, EyeflowError) else None
    wait = (
        retry_after
        if retry_after and retry_after > 0
        else _WAIT_BASE_SECONDS * 2 ** min(retries, 10)
    )
    return min(wait, _WAIT_MAX_SECONDS)


def _try_later(rt: Runtime, exc: Exception, item: tuple[str, str, int, int], retries: int) -> None:
    """Send the item's message again (same run: the staleness checks keep working), due later."""
    job_id, tenant, index, run = item
    delay = _wait_seconds(exc, retries)
    code = exc.code if isinstance(exc, EyeflowError) else type(exc).__name__
    logger.info("batch %s item %d: %s, trying again in %.0fs", job_id, index, code, delay)
    generate_item.apply_async(
        args=[job_id, tenant, index, run],
        kwargs={"transient_retries": retries + 1},
        countdown=delay,
        task_id=f"{batch_task_id(job_id, run, index)}:t{retries + 1}",
    )
    rt.metrics.count("eyeflow_batch_item_waits", code=code)


def _as_details(details: Any) -> dict[str, Any]:
    if isinstance(details, dict):
        return details
    return {} if details is None else {"details": details}
