"""Economy batches: a batch's items sent through the provider's own batch API (Anthropic Message
Batches, OpenAI Batch) at half the realtime price, instead of one call per item.

`begin` (called by the batch start task) resolves the mode; economy sends one `submit` message
per round (`economy_submit.py`: one provider batch per part, exactly once, even when a submit
is received twice or its message is lost).

Polling is a chain of countdown messages (at most 60 s, far below the visibility timeout),
never a sleeping thread: each poll reads every uncollected part's state; retryable answers (a
404 just after create, "ended but no results yet") poll again later; an ended part is collected
(`economy_collect.py`). When a round's parts are all collected, the items left open (expired,
errored retryably) go into a follow-up round, at most `MAX_FOLLOW_UP_ROUNDS` times. A poll that
finds the batch cancelled cancels its provider batches (the gateway never calls a provider).
Each poll scheduled or started records when the next is due, so beat's sweep
(`economy_sweep.py`) re-sends a poll whose message was lost; one poll of a batch runs at a time
(a lease renewed while it runs, `core.lease`: a poll whose worker died frees the batch within
`LEASE_SECONDS`) and a stale copy drops out, so a poll received twice collects and follows up once.

The submitting names are re-exported here (`submit_round`, `submit_parts`, `economy_store`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from eyeflow_worker.celery_app import app
from eyeflow_worker.core.batch_api import BatchAPI, ProviderBatch
from eyeflow_worker.core.economy_plan import MAX_FOLLOW_UP_ROUNDS, resolve_mode
from eyeflow_worker.core.economy_records import PollState
from eyeflow_worker.core.errors import EyeflowError, ProviderError
from eyeflow_worker.core.routing import Tasks
from eyeflow_worker.core.task_view import TERMINAL
from eyeflow_worker.providers.registry import BATCH_APIS
from eyeflow_worker.runtime import Runtime
from eyeflow_worker.tasks.base import TASK_OPTIONS, RuntimeTask
from eyeflow_worker.tasks.economy_collect import Round, collect, fail_items
from eyeflow_worker.tasks.economy_submit import (
    POLL_MAX_SECONDS,
    api_for,
    current_run,
    economy_store,
    submit_later,
    submit_parts,
    submit_round,
)
from eyeflow_worker.tasks.execution import JobContext

logger = logging.getLogger(__name__)

__all__ = ["POLL_MAX_SECONDS", "begin", "economy_store", "poll_later", "poll_round",
           "submit_parts", "submit_round"]  # fmt: skip

_POLL_FIRST_SECONDS = 2.0
# A provider batch ends within 24 h; polls past ~26 h mean something is stuck: give up.
_MAX_POLLS = 26 * 60 + 10


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
    submit_later(rt, job_id, tenant, (run, 0, 0))
    return True


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
    with economy_store(rt).poll_lock(job_id, rt.settings.lease_seconds) as held:
        if held:  # else another poll of this batch runs now, and keeps the chain going
            poll_once(rt, job_id, tenant, (run, round_no, polls))


def poll_once(rt: Runtime, job_id: str, tenant: str, where: tuple[int, int, int]) -> None:
    """The poll `where` = (run, round, polls), under the batch's poll lock."""
    run, round_no, polls = where
    store = economy_store(rt)
    record = rt.jobs.get(job_id)
    state = store.poll_state(job_id)
    if record is None or current_run(record) != run or (state and state.position > where):
        return
    tenant = record.get("tenant", tenant)  # the job's own, never one a message names
    job = JobContext(rt, tenant, job_id)
    if record.get("status") in TERMINAL or polls >= _MAX_POLLS:
        store.stop_polling(job_id)
        _end_chain(job, record.get("status", ""), run, round_no)
        return
    # While it runs, the next poll is due when its lease ends (pushed on at every renewal).
    now = time.time()
    lease = rt.settings.lease_seconds
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
    api = api_for(job)
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
    api.release(batch)  # after: a crash before it leaves files behind, never a lost result
    return True


def _next_round(job: JobContext, run: int, round_no: int) -> None:
    """Every part collected: follow up on the items left open, or fail them after the last."""
    store = economy_store(job.rt)
    plan = store.plan(job.job_id, run, round_no) or []
    left = [i for part in plan for i in part if not job.rt.jobs.item_is_done(job.job_id, i)]
    if not left:
        return
    if round_no < MAX_FOLLOW_UP_ROUNDS:
        submit_later(job.rt, job.job_id, job.tenant, (run, round_no + 1, 0))
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
    api = api_for(job)
    for part, _ in enumerate(store.plan(job.job_id, run, round_no) or []):
        batch = store.batch(job.job_id, run, round_no, part)
        if batch is None or store.collected(job.job_id, run, round_no, part):
            continue
        try:
            store.show(job.job_id, round_no, api.cancel(batch))
        except ProviderError as exc:
            logger.warning("economy %s: cancelling %s failed: %s", job.job_id, batch.batch_id, exc)
