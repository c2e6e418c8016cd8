"""Batch generation: one `start` task fans out one task per intent on the batch queue.

Fan-out (rather than one long task looping over intents) means a crashed worker loses at most
the items it had in flight — late acks redeliver exactly those — and hundreds of intents run in
parallel across the batch workers. Items are idempotent: each has a deterministic task id
(`{batch_id}:{index}`), and one whose result is already stored is skipped.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from eyeflow_worker.celery_app import app
from eyeflow_worker.core.records import JobStore
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


@app.task(name=Tasks.BATCH_START, **TASK_OPTIONS)
def start_batch(self: RuntimeTask, job_id: str, tenant: str) -> None:
    jobs = self.rt.jobs
    if not jobs.start(job_id):
        return
    record = jobs.get(job_id) or {}
    for index in range(int(record.get("total", 0))):
        if not jobs.item_is_done(job_id, index):
            generate_item.apply_async(args=[job_id, tenant, index], task_id=f"{job_id}:{index}")


@lru_cache(maxsize=64)
def _batch_payload(jobs: JobStore, job_id: str) -> dict[str, Any]:
    """A batch's payload (with its possibly large aggregated context), parsed once per process."""
    return jobs.payload(job_id)


@app.task(name=Tasks.BATCH_ITEM, **TASK_OPTIONS)
def generate_item(self: RuntimeTask, job_id: str, tenant: str, index: int) -> None:
    rt = self.rt
    record = rt.jobs.get(job_id)
    if record is None or record.get("status") in TERMINAL:
        rt.webhooks.requeue_if_lost(job_id, record)
        return
    if rt.jobs.item_is_done(job_id, index):
        return
    intent = rt.jobs.batch_intent(job_id, index) or ""
    item: dict[str, Any] = {"index": index, "intent": intent}
    job = JobContext(rt, tenant, job_id)
    try:
        result = generate_rules(
            job.llm(),
            intent,
            job.aggregated_context(_batch_payload(rt.jobs, job_id).get("aggregated_context")),
            max_repair_attempts=rt.settings.rules_max_repair_attempts,
        )
    except Exception as exc:
        item.update(status="failed", error=error_for(exc, f"{job_id}:{index}"))
    else:
        item.update(status="succeeded", **result)
    if durably(lambda: rt.jobs.record_item(job_id, index, item)) == 2:
        ended = rt.jobs.get(job_id) or record
        finished(rt, job_id, ended.get("status", "succeeded"), ended)
    rt.metrics.count("eyeflow_batch_items", status=item["status"])
    if item["status"] == "succeeded":
        record_usage(rt, item)
