"""Submitting an economy round: plan its open items into provider batches within the provider's
limits (`core/economy_plan.py`), then for each part write an intent record (job, provider,
created after, count, metadata) BEFORE `create`, create the batch, record its id right after. A
redelivery that finds an intent without an id reconciles with `find` (OpenAI: by metadata;
Anthropic: by creation window and count, never a batch another job recorded) instead of
creating a second batch.

Each submit scheduled, and each that starts, records when it is due (`EconomyStore.
record_submit`), so beat's sweep (`economy_sweep.py`) re-sends a submit whose message was lost;
the record is dropped once the round's provider batches are recorded and its poll chain starts.
One submit of a batch runs at a time (a lock): a second copy received meanwhile leaves the
round to the holder, so two submits at once never create two provider batches.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from eyeflow_worker.celery_app import app
from eyeflow_worker.core.batch_api import BatchAPI, BatchRequest, ProviderBatch
from eyeflow_worker.core.economy_plan import limits_for, split
from eyeflow_worker.core.economy_records import EconomyStore, SubmitState
from eyeflow_worker.core.errors import ConfigInvalid, EyeflowError, ProviderError
from eyeflow_worker.core.llm import LLMRequest
from eyeflow_worker.core.records import batch_task_id
from eyeflow_worker.core.routing import Tasks
from eyeflow_worker.core.task_view import TERMINAL
from eyeflow_worker.providers.registry import batch_api_for
from eyeflow_worker.rules.catalogue import catalogue_for, require_grounded
from eyeflow_worker.rules.prompt import build_generate_request
from eyeflow_worker.runtime import Runtime
from eyeflow_worker.tasks import economy
from eyeflow_worker.tasks.base import TASK_OPTIONS, RuntimeTask
from eyeflow_worker.tasks.economy_collect import fail_items
from eyeflow_worker.tasks.execution import JobContext, error_for

logger = logging.getLogger(__name__)

METADATA_KEY: Final = "eyeflow_batch"
POLL_MAX_SECONDS: Final = 60.0
_MAX_SUBMIT_ATTEMPTS = 30
# Provider clocks differ from ours: the reconciliation window starts this much earlier.
_CLOCK_SLACK_SECONDS = 60.0


def economy_store(rt: Runtime) -> EconomyStore:
    return EconomyStore(rt.redis, rt.settings.task_record_ttl_seconds)


def current_run(record: dict[str, str]) -> int:
    return int(record.get("retries", 0))


def api_for(job: JobContext) -> BatchAPI:
    api = batch_api_for(job.config, job.rt.settings)
    if api is None:
        raise ConfigInvalid(f"provider {job.config.provider!r} has no batch API (economy mode)")
    return api


def submit_later(
    rt: Runtime, job_id: str, tenant: str, where: tuple[int, int, int], delay: float = 0.0
) -> None:
    """Send the submit `where` = (run, round, attempt) after `delay` seconds, its due time
    recorded first: if the message is lost, the sweep finds it overdue."""
    run, round_no, attempt = where
    state = SubmitState(tenant, run, round_no, attempt, due=time.time() + delay)
    economy_store(rt).record_submit(job_id, state)
    suffix = f":s{attempt}" if attempt else ""
    submit_round.apply_async(
        args=[job_id, tenant, run, round_no],
        kwargs={"attempt": attempt} if attempt else {},
        countdown=delay or None,
        task_id=f"{job_id}:economy:{run}:{round_no}{suffix}",
    )


@app.task(name=Tasks.ECONOMY_SUBMIT, **TASK_OPTIONS)
def submit_round(
    self: RuntimeTask, job_id: str, tenant: str, run: int, round_no: int, attempt: int = 0
) -> None:
    submit_locked(self.rt, job_id, tenant, (run, round_no, attempt))


def submit_locked(rt: Runtime, job_id: str, tenant: str, where: tuple[int, int, int]) -> None:
    """The submit `where` = (run, round, attempt), under the batch's submit lock: a copy that
    finds the lock held leaves the round to the holder."""
    with economy_store(rt).submit_lock(job_id, rt.settings.lease_seconds) as held:
        if held:
            _submit_once(rt, job_id, tenant, where)


def _submit_once(rt: Runtime, job_id: str, tenant: str, where: tuple[int, int, int]) -> None:
    run, round_no, attempt = where
    store = economy_store(rt)
    record = rt.jobs.get(job_id)
    if record is None or record.get("status") in TERMINAL or current_run(record) != run:
        return  # the sweep takes such a batch out of its index
    tenant = record.get("tenant", tenant)  # the job's own, never one a message names
    recorded = store.submit_state(job_id)
    if recorded is None or recorded.position <= (run, round_no):
        # While it runs, it is due again when its lease ends (pushed on at every renewal).
        due = time.time() + rt.settings.lease_seconds
        store.record_submit(job_id, SubmitState(tenant, run, round_no, attempt, due))
    job = JobContext(rt, tenant, job_id)
    try:
        submit_parts(job, run, round_no)
    except Exception as exc:
        if isinstance(exc, EyeflowError) and exc.retryable and attempt < _MAX_SUBMIT_ATTEMPTS:
            delay = min(POLL_MAX_SECONDS, exc.retry_after or 5.0 * 2 ** min(attempt, 4))
            logger.info("economy %s round %d: %s, submitting again in %.0fs", job_id, round_no,
                        exc.code, delay)  # fmt: skip
            submit_later(rt, job_id, tenant, (run, round_no, attempt + 1), delay)
            return
        _fail_round(job, run, round_no, error_for(exc, job_id))
    else:
        economy.poll_later(rt, job_id, tenant, run, round_no, 0)
    _submitted(store, job_id, (run, round_no))


def _submitted(store: EconomyStore, job_id: str, position: tuple[int, int]) -> None:
    """This round's submit is over: drop its due record (not a later round's)."""
    recorded = store.submit_state(job_id)
    if recorded is None or recorded.position == position:
        store.stop_submitting(job_id)


def submit_parts(job: JobContext, run: int, round_no: int) -> None:
    """Plan the round (once) and make sure each part has exactly one provider batch. Raises a
    retryable error to be tried again; a part refused for good fails its items."""
    rt, job_id = job.rt, job.job_id
    store = economy_store(rt)
    api = api_for(job)
    intents = store.intents(job_id)
    reading = catalogue_for(
        job.aggregated_context(rt.jobs.payload(job_id).get("aggregated_context"))
    )
    require_grounded(reading)

    def build(index: int) -> LLMRequest:
        return build_generate_request(intents[index], reading.catalogue)

    plan = store.plan(job_id, run, round_no)
    if plan is None:
        open_items = store.open_indexes(job_id, len(intents))
        system_bytes = len(build(open_items[0]).system.encode()) if open_items else 0
        sizes = [(i, system_bytes + len(intents[i].encode()) + 2048) for i in open_items]
        store.save_plan(job_id, run, round_no, split(sizes, limits_for(api.provider)))
        plan = store.plan(job_id, run, round_no) or []
    for part, indexes in enumerate(plan):
        if store.batch(job_id, run, round_no, part) is not None:
            continue
        if store.collected(job_id, run, round_no, part):
            continue  # refused for good earlier: its items failed
        try:
            _submit_part(job, api, (run, round_no, part), indexes, build)
        except ProviderError as exc:
            if exc.retryable:
                raise
            fail_items(rt, store, (job_id, run, intents), indexes, exc.to_dict())
            store.mark_collected(job_id, run, round_no, part)


def _submit_part(
    job: JobContext,
    api: BatchAPI,
    where: tuple[int, int, int],
    indexes: Sequence[int],
    build: Callable[[int], LLMRequest],
) -> None:
    rt, job_id = job.rt, job.job_id
    run, round_no, part = where
    store = economy_store(rt)
    value = f"{job_id}:{run}:{round_no}:{part}"
    now = time.time()
    intent = {
        "job_id": job_id,
        "provider": api.provider,
        "written_at": now,
        "created_after": now - _CLOCK_SLACK_SECONDS,
        "count": len(indexes),
        "metadata_key": METADATA_KEY,
        "metadata_value": value,
    }
    if not store.write_intent(job_id, run, round_no, part, intent):
        # An earlier delivery wrote this intent: it may have created the batch and died before
        # recording its id. Adopt that batch rather than create (and pay for) a second one.
        intent = store.intent(job_id, run, round_no, part) or intent
        found = _reconcile(api, store, intent, rt.settings.task_time_limit_seconds)
        if found is not None:
            store.record_batch(job_id, run, round_no, part, found)
            store.show_submitted(job_id, round_no, found)
            return
    record = rt.jobs.get(job_id) or {}
    if record.get("status") in TERMINAL:
        return  # cancelled meanwhile: create nothing
    requests = [BatchRequest(batch_task_id(job_id, run, i), build(i)) for i in indexes]
    created = api.submit(requests, {METADATA_KEY: value})
    store.record_batch(job_id, run, round_no, part, created)  # right after: see `_reconcile`
    store.show_submitted(job_id, round_no, created)
    logger.info("economy %s: %s batch %s, %d items", job_id, api.provider, created.batch_id,
                len(requests))  # fmt: skip


def _reconcile(
    api: BatchAPI, store: EconomyStore, intent: dict[str, Any], time_limit: float
) -> ProviderBatch | None:
    """The batch an earlier delivery created for `intent`, if any. Created at most a task's
    time limit after the intent; one another job recorded is never adopted."""
    created_after = float(intent["created_after"])
    matches = api.find(
        str(intent["metadata_key"]),
        str(intent["metadata_value"]),
        created_after,
        request_count=int(intent["count"]),
        created_before=created_after + time_limit + 2 * _CLOCK_SLACK_SECONDS,
    )
    # `create` was called right after the intent was written: of several candidates (Anthropic
    # matches by time and count only: another crashed job's batch of the same size, or a batch
    # made outside the fleet with the same key), the one created nearest that moment is ours.
    written_at = float(intent.get("written_at", created_after + _CLOCK_SLACK_SECONDS))
    candidates = sorted(
        (m for m in matches if not store.adopted(m)),
        key=lambda m: (abs(m.created_at - written_at), m.created_at),
    )
    if len(candidates) > 1:
        logger.warning("economy %s: %d batches match its intent; adopting %s, created %.0fs "
                       "after the intent", intent["job_id"], len(candidates),
                       candidates[0].batch_id, candidates[0].created_at - written_at)  # fmt: skip
    return candidates[0] if candidates else None


def _fail_round(job: JobContext, run: int, round_no: int, error: dict[str, Any]) -> None:
    """Fail this round's items that have no provider batch (submitting was refused for good)."""
    store = economy_store(job.rt)
    intents = store.intents(job.job_id)
    plan = store.plan(job.job_id, run, round_no)
    if plan is None:
        plan = [store.open_indexes(job.job_id, len(intents))]
    for part, indexes in enumerate(plan):
        if store.batch(job.job_id, run, round_no, part) is None:
            fail_items(job.rt, store, (job.job_id, run, intents), indexes, error)
            store.mark_collected(job.job_id, run, round_no, part)
    if any(store.batch(job.job_id, run, round_no, p) for p in range(len(plan))):
        economy.poll_later(job.rt, job.job_id, job.tenant, run, round_no, 0)
