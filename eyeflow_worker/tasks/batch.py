"""Batch generation: one `start` task registers a batch's items for admission; each admitted item
is one task on the batch queue.

Fan-out (rather than one long task looping over intents) means a crashed worker loses at most
the items it had in flight — late acks redeliver exactly those — and hundreds of intents run in
parallel across the batch workers. Items are idempotent: each has a deterministic task id
(`{batch_id}:{index}`), and one whose result is already stored is skipped.

Items are not all put on the (FIFO) batch queue at once: the start task registers them with the
admission scheduler (`core/admission.py`), which admits them round-robin across tenants and
their batches, at most BATCH_TENANT_MAX_IN_FLIGHT of a tenant's and BATCH_MAX_IN_FLIGHT of all
in flight. Admission runs when a batch starts, each time an item frees its slot (the worker that
finished it admits the next ones), and on beat's tick (`maintenance.admit_batch_items`), which
also re-sends items a dead claimer left unsent and prunes batches that ended. An item frees its
slot when it is stored, or when its message finds it stale, done or its batch over; waiting out a
transient error (below) keeps it.

A retry (`POST /api/tasks/{id}/retry`) re-opens a finished batch's failed items as run n (the
batch's `retries`) and sends one start message for that run (`{batch_id}:r{n}`); it registers
the open items of that run, admitted as `{batch_id}:{index}:r{n}`. Every message carries its
run, and one of another run than the batch's current one does nothing: an old message
redelivered after its item was re-opened would otherwise run it a second time. `ITEM_DONE`
checks the run again when it stores the item (the retry may land between this task's checks
and its write), and stores an item at most once.

An item never fails for a transient reason while its batch has time: when its attempt ends in
a retryable error (provider unavailable or rate limited, NestJS unreachable) or its own time
limit (`JobTimeout`), nothing is stored and the same item is sent again with a countdown
(`{item task id}:t{n}`, same run, same slot), until the batch's `deadline_at`
(BATCH_DEADLINE_SECONDS or the submission's `deadline`). Past it, the item fails with its last
error and `details.deadline_passed`. Permanent errors fail at once; a cancelled batch drops the
re-sent message (the terminal check below).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import replace
from datetime import datetime
from functools import lru_cache
from typing import Any

from celery.signals import worker_ready
from redis import Redis

from eyeflow_worker.celery_app import app, settings
from eyeflow_worker.core.admission import STALE_SENDING_SECONDS, Admission, Claim, admission_prefix
from eyeflow_worker.core.errors import EyeflowError, JobTimeout
from eyeflow_worker.core.job_leases import item_lease_key, job_lease_key
from eyeflow_worker.core.lost_items import broker_client, find_lost, has_message, present_task_ids
from eyeflow_worker.core.records import JobStore, batch_task_id
from eyeflow_worker.core.routing import Tasks
from eyeflow_worker.core.task_view import TERMINAL
from eyeflow_worker.rules.service import generate_rules
from eyeflow_worker.runtime import Runtime, runtime_of
from eyeflow_worker.tasks import economy
from eyeflow_worker.tasks.base import TASK_OPTIONS, RuntimeTask
from eyeflow_worker.tasks.execution import (
    INFRA_ERRORS,
    JobContext,
    durably,
    error_for,
    finished,
    record_usage,
)
from eyeflow_worker.tasks.leasing import HANDOFF_SECONDS, Held, leased, message, redelivered

logger = logging.getLogger(__name__)

# The wait before an item's n-th re-try: the server's `retry_after`, else 5 s doubling, and never
# more than a minute. A countdown message sits delivered-but-unacked in a worker until it is
# due; one due later than VISIBILITY_TIMEOUT_SECONDS would be redelivered (and run twice), so
# waits stay far below it and a long outage is crossed by many short waits instead.
_WAIT_BASE_SECONDS = 5.0
_WAIT_MAX_SECONDS = 60.0

# Items claimed per admission round trip; an admitter loops until the caps or the items run out.
_CLAIM_CHUNK = 64
# A claim left unconfirmed this long when a worker starts was made by a worker that is gone.
_STARTUP_STALE_SECONDS = 2.0
_TICK_SECONDS = 5.0
# A tick takes milliseconds; the lock outlives a slow one (it is deleted when the tick ends).
_TICK_LOCK_MS = 30_000


def _current_run(record: dict[str, str]) -> int:
    return int(record.get("retries", 0))


@app.task(name=Tasks.BATCH_START, **TASK_OPTIONS)
def start_batch(self: RuntimeTask, job_id: str, tenant: str, run: int = 0) -> None:
    sent = message(self.name, [job_id, tenant, run], {}, self.request.id, job_id)
    with leased(self.rt, job_lease_key(job_id), sent, redelivery=redelivered(self.request)) as held:
        if held is not None:  # else another delivery of a start runs it now
            _start(self.rt, job_id, held.tenant_for(tenant), run)


def _start(rt: Runtime, job_id: str, tenant: str, run: int) -> None:
    if _current_run(rt.jobs.get(job_id) or {}) != run or not rt.jobs.start(job_id):
        return  # another run's start message (or the batch ended / was cancelled)
    if economy.begin(rt, job_id, tenant, run):
        return  # economy mode: the provider's batch API runs the items (`economy.py`)
    # Idempotent: a redelivered start registers nothing twice (stored and in-flight items are
    # left out), and a broker error while admitting retries this task, which admits again.
    admission(rt).register(job_id, tenant, run)
    admit(rt)


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
    retries = {"transient_retries": transient_retries}
    # Called without a message (in-process): the id the message would have (`_try_later`'s).
    own_id = batch_task_id(job_id, run, index)
    own_id += f":t{transient_retries}" if transient_retries else ""
    sent = message(self.name, [job_id, tenant, index, run], retries, self.request.id, own_id)
    again = redelivered(self.request)
    with leased(rt, item_lease_key(job_id, run, index), sent, redelivery=again) as held:
        if held is None:
            return  # another delivery runs this item now (or its re-try is on its way)
        tenant = held.tenant_for(tenant)
        if _run_item(rt, (job_id, tenant, index, run), transient_retries, held):
            # Stored, or nothing left to do: the slot goes to the next admitted item. Released
            # only after the store, so a redelivery of this message (a crash between) frees it.
            admission(rt).release(job_id, tenant, run, index)
            admit(rt)


def _run_item(
    rt: Runtime, item_of: tuple[str, str, int, int], transient_retries: int, held: Held
) -> bool:
    """Run one item; False while it waits out a transient error (it keeps its slot, and hands
    its lease to the re-try)."""
    job_id, tenant, index, run = item_of
    record = rt.jobs.get(job_id)
    if record is None or record.get("status") in TERMINAL:
        rt.webhooks.requeue_if_lost(job_id, record)
        return True
    if _current_run(record) != run or rt.jobs.item_is_done(job_id, index):
        return True
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
    except INFRA_ERRORS:
        raise  # Celery's infrastructure retry runs the item again; it is not the item's failure
    except Exception as exc:
        transient = _is_transient(exc)
        if transient and time.time() < _deadline_at(rt, record):
            _try_later(rt, exc, item_of, transient_retries, held)
            admission(rt).waiting(job_id, tenant, run, index)
            return False  # nothing stored: the item stays open until the re-sent message runs
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
        record_usage(rt, item, tenant)
    return True


# --- admission ------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _scheduler(client: Redis, batch_queue: str, ttl_seconds: int) -> Admission:
    return Admission(client, batch_queue, ttl_seconds)


def admission(rt: Runtime) -> Admission:
    """The scheduler of this fleet's batch queue (built once per process)."""
    return _scheduler(rt.redis, rt.settings.queue_batch, rt.settings.task_record_ttl_seconds)


def admit(rt: Runtime) -> int:
    """Send as many registered items to the batch queue as the caps allow; how many."""
    scheduler = admission(rt)
    admitted = 0
    while True:
        claims = scheduler.claim(
            rt.settings.batch_tenant_max_in_flight, rt.settings.batch_max_in_flight, _CLAIM_CHUNK
        )
        _send(scheduler, claims)
        admitted += len(claims)
        if len(claims) < _CLAIM_CHUNK:
            return admitted


def admission_tick(rt: Runtime) -> dict[str, int]:
    """The safety net, run by beat and by every worker's ticker (one tick at a time fleet-wide):
    drop ended batches (freeing their slots), re-send items whose claimer died before sending
    them and items whose message the broker lost, then admit what the caps allow."""
    lock, token = f"{admission_prefix(rt.settings.queue_batch)}tick", uuid.uuid4().hex
    if not rt.redis.set(lock, token, nx=True, px=_TICK_LOCK_MS):
        return {"dropped": 0, "freed": 0, "resent": 0, "lost": 0, "admitted": 0}
    try:
        scheduler = admission(rt)
        dropped, freed = scheduler.prune()
        stale = _resend_unsent(rt, scheduler, STALE_SENDING_SECONDS)
        lost = _lost_items(rt, scheduler)
        if lost:
            logger.warning("re-sending %d batch items whose message the broker lost", len(lost))
        _send(scheduler, lost, claimed=False)
        admitted = admit(rt)
    finally:
        if rt.redis.get(lock) == token:  # a tick that outlived its lock leaves the next one's
            rt.redis.delete(lock)
    return {
        "dropped": dropped,
        "freed": freed,
        "resent": stale,
        "lost": len(lost),
        "admitted": admitted,
    }


def _resend_unsent(rt: Runtime, scheduler: Admission, older_than: float) -> int:
    """Send again the items claimed more than `older_than` seconds ago and never confirmed — all
    but those whose message is on the broker after all (the claimer died after sending them, or
    only its confirmation failed): those are confirmed instead. How many were re-sent."""
    stale = scheduler.reclaim_stale(older_than_seconds=older_than)
    if not stale:
        return 0
    broker = broker_client(rt.settings)
    present = present_task_ids(broker, rt.settings.queue_batch) if broker is not None else set()
    on_broker = [claim for claim in stale if has_message(claim, present)]
    unsent = [claim for claim in stale if not has_message(claim, present)]
    scheduler.sent(on_broker)
    if unsent:
        logger.warning("re-sending %d batch items claimed but never sent", len(unsent))
    _send(scheduler, unsent)
    return len(unsent)


def _lost_items(rt: Runtime, scheduler: Admission) -> list[Claim]:
    broker = broker_client(rt.settings)
    if broker is None:
        return []
    return find_lost(scheduler, broker, rt.settings.queue_batch, rt.redis)


@worker_ready.connect
def _admit_on_start(sender: Any = None, **_: Any) -> None:
    """A starting worker re-sends items a dead claimer left unsent (a sender that is alive
    confirms within milliseconds; beat's tick waits `STALE_SENDING_SECONDS` instead), so a
    replacement worker recovers them without waiting for beat — or when no beat runs — and
    starts its ticker: the admission tick every few seconds, in a daemon thread."""
    del sender
    rt = runtime_of(app, settings)
    try:
        _resend_unsent(rt, admission(rt), _STARTUP_STALE_SECONDS)
        admit(rt)
    except Exception as error:  # never stop a worker from starting: the ticker retries
        logger.warning("admission at start-up failed: %s", error)
    threading.Thread(target=_tick_forever, args=(rt,), name="admission-tick", daemon=True).start()


def _tick_forever(rt: Runtime) -> None:
    while True:
        time.sleep(_TICK_SECONDS)
        try:
            admission_tick(rt)
        except Exception as error:  # Redis or the broker away: the next tick tries again
            logger.warning("admission tick failed: %s", error)


def _send(scheduler: Admission, claims: list[Claim], *, claimed: bool = True) -> None:
    """Put claimed items on the batch queue under their deterministic task ids, then confirm
    them. A refused send puts it and the rest back (pending again) and raises: the task's
    retry, a release or beat's tick admits them later. Dying in here leaves them claimed, and
    beat's tick re-sends them."""
    for position, claim in enumerate(claims):
        try:
            generate_item.apply_async(
                args=[claim.job_id, claim.tenant, claim.index, claim.run],
                task_id=batch_task_id(claim.job_id, claim.run, claim.index),
            )
        except Exception:
            if claimed:
                scheduler.sent(claims[:position])
                scheduler.unclaim(claims[position:])
            raise
    if claimed:
        scheduler.sent(claims)


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


def _try_later(
    rt: Runtime, exc: Exception, item: tuple[str, str, int, int], retries: int, held: Held
) -> None:
    """Send the item's message again (same run: the staleness checks keep working), due later;
    its lease goes to that message first (the reaper re-sends it if the message is lost)."""
    job_id, tenant, index, run = item
    delay = _wait_seconds(exc, retries)
    code = exc.code if isinstance(exc, EyeflowError) else type(exc).__name__
    logger.info("batch %s item %d: %s, trying again in %.0fs", job_id, index, code, delay)
    args, kwargs = [job_id, tenant, index, run], {"transient_retries": retries + 1}
    task_id = f"{batch_task_id(job_id, run, index)}:t{retries + 1}"
    held.hand_over(replace(held.work, args=args, kwargs=kwargs, task_id=task_id),
                   time.time() + delay + HANDOFF_SECONDS)  # fmt: skip
    generate_item.apply_async(args=args, kwargs=kwargs, countdown=delay, task_id=task_id)
    rt.metrics.count("eyeflow_batch_item_waits", code=code)


def _as_details(details: Any) -> dict[str, Any]:
    if isinstance(details, dict):
        return details
    return {} if details is None else {"details": details}
