"""Economy batches: a batch's items sent through the provider's own batch API (Anthropic Message
Batches, OpenAI Batch) at half the realtime price, instead of one call per item.

`begin` (called by the batch start task) resolves the mode; economy sends one `submit` message
per round. A round plans its open items into provider batches within the provider's limits
(`core/economy_plan.py`), then for each part: writes an intent record (job, provider, created
after, count, metadata) BEFORE `create`, creates the batch, records its id right after. A
redelivery that finds an intent without an id reconciles with `find` (OpenAI: by metadata;
Anthropic: by creation window and count, never a batch another job recorded) instead of
creating a second batch.

Polling is a chain of countdown messages (at most 60 s, far below the visibility timeout),
never a sleeping thread: each poll reads every uncollected part's state; retryable answers (a
404 just after create, "ended but no results yet") poll again later; an ended part is collected
(`economy_collect.py`). When a round's parts are all collected, the items left open (expired,
errored retryably) go into a follow-up round, at most `MAX_FOLLOW_UP_ROUNDS` times. A poll that
finds the batch cancelled cancels its provider batches (the gateway never calls a provider).
Each poll scheduled or started records when the next is due, so beat's sweep
(`economy_sweep.py`) re-sends a poll whose message was lost; one poll of a batch runs at a time
(a lock) and a stale copy drops out, so a poll received twice collects and follows up once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from eyeflow_worker.celery_app import app
from eyeflow_worker.core.batch_api import BatchAPI, BatchRequest, ProviderBatch
from eyeflow_worker.core.economy_plan import (
    MAX_FOLLOW_UP_ROUNDS,
    limits_for,
    resolve_mode,
    split,
)
from eyeflow_worker.core.economy_records import EconomyStore, PollState
from eyeflow_worker.core.errors import ConfigInvalid, EyeflowError, ProviderError
from eyeflow_worker.core.llm import LLMRequest
from eyeflow_worker.core.records import batch_task_id
from eyeflow_worker.core.routing import Tasks
from eyeflow_worker.core.task_view import TERMINAL
from eyeflow_worker.providers.registry import BATCH_APIS, batch_api_for
from eyeflow_worker.rules.catalogue import catalogue_for, require_grounded
from eyeflow_worker.rules.prompt import build_generate_request
from eyeflow_worker.runtime import Runtime
from eyeflow_worker.tasks.base import TASK_OPTIONS, RuntimeTask
from eyeflow_worker.tasks.economy_collect import Round, collect, fail_items
from eyeflow_worker.tasks.execution import JobContext, error_for

logger = logging.getLogger(__name__)

METADATA_KEY: Final = "eyeflow_batch"
_POLL_FIRST_SECONDS = 2.0
POLL_MAX_SECONDS = 60.0
# A provider batch ends within 24 h; polls past ~26 h mean something is stuck: give up.
_MAX_POLLS = 26 * 60 + 10
# Provider clocks differ from ours: the reconciliation window starts this much earlier.
_CLOCK_SLACK_SECONDS = 60.0


def economy_store(rt: Runtime) -> EconomyStore:
    return EconomyStore(rt.redis, rt.settings.task_record_ttl_seconds)


def _current_run(record: dict[str, str]) -> int:
    return int(record.get("retries", 0))


def begin(rt: Runtime, job_id: str, tenant: str, run: int) -> bool:
    """Resolve a started batch's mode; True when it runs in economy mode (its first round is
    queued), False to run it realtime. A mode resolved once (a redelivery, a retry's run) is
    kept."""
    record = rt.jobs.get(job_id) or {}
    requested = record.get("mode", "realtime")
    if requested == "realtime":
        return False
    mode = requested
    if not record.get("mode_reason"):
        job = JobContext(rt, tenant, job_id)
        items = len(economy_store(rt).open_indexes(job_id, int(record.get("total", 0))))
        try:
            provider = job.config.provider.lower()
        except EyeflowError as exc:  # the items' own realtime calls report it precisely
            mode, reason = "realtime", f"provider configuration unreadable ({exc.code})"
        else:
            has_api = provider in BATCH_APIS
            mode, reason = resolve_mode(
                requested, provider, has_api, items, rt.settings.batch_api_min_items
            )
        economy_store(rt).set_mode(job_id, mode, reason)
    if mode != "economy":
        return False
    submit_round.apply_async(args=[job_id, tenant, run, 0], task_id=f"{job_id}:economy:{run}:0")
    return True


# --- submitting a round -----------------------------------------------------------------------


@app.task(name=Tasks.ECONOMY_SUBMIT, **TASK_OPTIONS)
def submit_round(
    self: RuntimeTask, job_id: str, tenant: str, run: int, round_no: int, attempt: int = 0
) -> None:
    rt = self.rt
    record = rt.jobs.get(job_id)
    if record is None or record.get("status") in TERMINAL or _current_run(record) != run:
        return
    job = JobContext(rt, tenant, job_id)
    try:
        submit_parts(job, run, round_no)
    except Exception as exc:
        if isinstance(exc, EyeflowError) and exc.retryable and attempt < 30:
            delay = min(POLL_MAX_SECONDS, exc.retry_after or 5.0 * 2 ** min(attempt, 4))
            logger.info("economy %s round %d: %s, submitting again in %.0fs", job_id, round_no,
                        exc.code, delay)  # fmt: skip
            submit_round.apply_async(
                args=[job_id, tenant, run, round_no],
                kwargs={"attempt": attempt + 1},
                countdown=delay,
                task_id=f"{job_id}:economy:{run}:{round_no}:s{attempt + 1}",
            )
            return
        _fail_round(job, run, round_no, error_for(exc, job_id))
        return
    poll_later(rt, job_id, tenant, run, round_no, 0)


def submit_parts(job: JobContext, run: int, round_no: int) -> None:
    """Plan the round (once) and make sure each part has exactly one provider batch. Raises a
    retryable error to be tried again; a part refused for good fails its items."""
    rt, job_id = job.rt, job.job_id
    store = economy_store(rt)
    api = _api(job)
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
    intent = {
        "job_id": job_id,
        "provider": api.provider,
        "created_after": time.time() - _CLOCK_SLACK_SECONDS,
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
    candidates = sorted((m for m in matches if not store.adopted(m)), key=lambda m: m.created_at)
    if len(candidates) > 1:
        logger.warning("economy %s: %d batches match its intent; adopting the oldest",
                       intent["job_id"], len(candidates))  # fmt: skip
    return candidates[0] if candidates else None


def _api(job: JobContext) -> BatchAPI:
    api = batch_api_for(job.config, job.rt.settings)
    if api is None:
        raise ConfigInvalid(f"provider {job.config.provider!r} has no batch API (economy mode)")
    return api


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
        poll_later(job.rt, job.job_id, job.tenant, run, round_no, 0)


# --- polling ------------------------------------------------------------------------------------


def poll_later(rt: Runtime, job_id: str, tenant: str, run: int, round_no: int, polls: int) -> None:
    delay = min(POLL_MAX_SECONDS, _POLL_FIRST_SECONDS * 2 ** min(polls, 5))
    # Recorded before the message is sent: if the message is lost, the sweep finds it overdue.
    state = PollState(tenant, run, round_no, polls, next_poll_due=time.time() + delay)
    store = economy_store(rt)
    current = store.poll_state(job_id)
    if current is not None and current.position > state.position:
        return  # a redelivered submit: the chain is further along already, do not fork it
    store.record_poll(job_id, state)
    poll_round.apply_async(
        args=[job_id, tenant, run, round_no, polls],
        countdown=delay,
        task_id=f"{job_id}:economy:{run}:{round_no}:p{polls}",
    )


@app.task(name=Tasks.ECONOMY_POLL, **TASK_OPTIONS)
def poll_round(
    self: RuntimeTask, job_id: str, tenant: str, run: int, round_no: int, polls: int = 0
) -> None:
    """One poll of a round. Idempotent: one poll of a batch runs at a time (a lock), and a
    stale copy (a message redelivered after the sweep re-sent it) drops out, so the chain never
    doubles and nothing is collected or followed up twice."""
    rt = self.rt
    lease = rt.settings.task_time_limit_seconds
    with economy_store(rt).poll_lock(job_id, lease) as held:
        if held:  # else another poll of this batch runs now, and keeps the chain going
            poll_once(rt, job_id, tenant, (run, round_no, polls))


def poll_once(rt: Runtime, job_id: str, tenant: str, where: tuple[int, int, int]) -> None:
    """The poll `where` = (run, round, polls), under the batch's poll lock."""
    run, round_no, polls = where
    store = economy_store(rt)
    record = rt.jobs.get(job_id)
    state = store.poll_state(job_id)
    if record is None or _current_run(record) != run or (state and state.position > where):
        return
    job = JobContext(rt, tenant, job_id)
    if record.get("status") in TERMINAL or polls >= _MAX_POLLS:
        store.stop_polling(job_id)
        _end_chain(job, record.get("status", ""), run, round_no)
        return
    # While it runs, the next poll is due when its lock's lease ends at the latest.
    now = time.time()
    lease = rt.settings.task_time_limit_seconds
    store.record_poll(job_id, PollState(tenant, run, round_no, polls, now + lease, now))
    try:
        pending = poll_parts(job, run, round_no)
    except Exception as exc:  # a time limit mid-collection, a provider blip: keep the chain
        logger.warning("economy %s: poll failed (%s); polling again", job_id, exc)
        pending = True
    if pending:
        poll_later(rt, job_id, tenant, run, round_no, polls + 1)
        return
    # Past this poll (a late copy of it drops out: no second follow-up round); the next
    # round, if any, records its own polls.
    ended = PollState(tenant, run, round_no, polls + 1, time.time())
    store.record_poll(job_id, ended, polling=False)
    _next_round(job, run, round_no)


def _end_chain(job: JobContext, status: str, run: int, round_no: int) -> None:
    """The last poll of a chain that will not continue: cancel the provider batches of a
    cancelled batch; give up on a round still open after `_MAX_POLLS`."""
    if status == "cancelled":
        cancel_round(job, run, round_no)
    elif status not in TERMINAL:
        error = {"code": "batch_api_expired", "message": "no result within 26 h", "details": None}
        _fail_open(job, run, round_no, error)


def poll_parts(job: JobContext, run: int, round_no: int) -> bool:
    """Poll (and collect) every part of the round not collected yet; True while some are not."""
    rt, job_id = job.rt, job.job_id
    store = economy_store(rt)
    api = _api(job)
    intents = store.intents(job_id)
    context = job.aggregated_context(rt.jobs.payload(job_id).get("aggregated_context"))
    where = Round(job, run, round_no, round_no >= MAX_FOLLOW_UP_ROUNDS, intents, context)
    pending = False
    for part, indexes in enumerate(store.plan(job_id, run, round_no) or []):
        if store.collected(job_id, run, round_no, part):
            continue
        batch = store.batch(job_id, run, round_no, part)
        if batch is None or not _poll_part(api, batch, where, part, indexes):
            pending = True
    return pending


def _poll_part(
    api: BatchAPI, batch: ProviderBatch, where: Round, part: int, indexes: Sequence[int]
) -> bool:
    """One part: True once its outcomes are all stored (or it failed for good)."""
    rt, job_id = where.job.rt, where.job.job_id
    store = economy_store(rt)
    try:
        state = api.state(batch)
        store.show(job_id, where.round_no, state)
        if not state.terminal:
            return False
        if state.status == "failed":
            raise ProviderError(f"{batch.provider} batch {batch.batch_id} failed: "
                                f"{state.error_message or 'no reason given'}")  # fmt: skip
        collect(api, batch, where, store)
    except ProviderError as exc:
        if exc.retryable:
            return False
        error = {**exc.to_dict(), "code": "batch_api_failed"}
        fail_items(rt, store, (job_id, where.run, where.intents), indexes, error)
    store.mark_collected(job_id, where.run, where.round_no, part)
    return True


def _next_round(job: JobContext, run: int, round_no: int) -> None:
    """Every part collected: follow up on the items left open, or fail them after the last."""
    store = economy_store(job.rt)
    plan = store.plan(job.job_id, run, round_no) or []
    left = [i for part in plan for i in part if not job.rt.jobs.item_is_done(job.job_id, i)]
    if not left:
        return
    if round_no < MAX_FOLLOW_UP_ROUNDS:
        submit_round.apply_async(
            args=[job.job_id, job.tenant, run, round_no + 1],
            task_id=f"{job.job_id}:economy:{run}:{round_no + 1}",
        )
        return
    message = f"no result after {round_no + 1} provider batches"
    _fail_open(job, run, round_no, {"code": "batch_api_errored", "message": message})


def _fail_open(job: JobContext, run: int, round_no: int, error: dict[str, Any]) -> None:
    store = economy_store(job.rt)
    intents = store.intents(job.job_id)
    indexes = [i for part in store.plan(job.job_id, run, round_no) or [] for i in part]
    fail_items(job.rt, store, (job.job_id, run, intents), indexes, {"details": None, **error})


def cancel_round(job: JobContext, run: int, round_no: int) -> None:
    """The batch was cancelled: cancel its provider batches not collected yet (best effort:
    one the provider already ended cannot be cancelled, and is simply left)."""
    store = economy_store(job.rt)
    api = _api(job)
    for part, _ in enumerate(store.plan(job.job_id, run, round_no) or []):
        batch = store.batch(job.job_id, run, round_no, part)
        if batch is None or store.collected(job.job_id, run, round_no, part):
            continue
        try:
            store.show(job.job_id, round_no, api.cancel(batch))
        except ProviderError as exc:
            logger.warning("economy %s: cancelling %s failed: %s", job.job_id, batch.batch_id, exc)
