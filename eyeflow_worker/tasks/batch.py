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
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from eyeflow_worker.celery_app import app
from eyeflow_worker.core.records import JobStore, batch_task_id
from eyeflow_worker.core.routing import Tasks
from eyeflow_worker.core.task_view import TERMINAL
from eyeflow_worker.rules.service import generate_rules
from eyeflow_worker.tasks.base import TASK_OPTIONS, RuntimeTask
from eyeflow_worker.tasks.execution import (
    JobContext,
    durably,
    error_for,
    finished,
    record_usage,
)


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
def generate_item(self: RuntimeTask, job_id: str, tenant: str, index: int, run: int = 0) -> None:
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
        item.update(status="failed", error=error_for(exc, batch_task_id(job_id, run, index)))
    else:
        item.update(status="succeeded", **result)
    # 0: dropped (cancelled meanwhile, already stored, or another run's); 2: the batch is done.
    if durably(lambda: rt.jobs.record_item(job_id, index, item, run)) == 2:
        ended = rt.jobs.get(job_id) or record
        finished(rt, job_id, ended.get("status", "succeeded"), ended)
    rt.metrics.count("eyeflow_batch_items", status=item["status"])
    if item["status"] == "succeeded":
        record_usage(rt, item)
