"""The safety net of economy batches: re-send the poll of a batch whose poll chain broke, and
the submit of a batch whose submit message was lost.

Polling is a chain of countdown messages (`economy.poll_later`); one lost (a worker killed
after taking it, before the broker recorded it unacked; a broker restart without persistence)
would leave the batch running forever. Every poll scheduled, and every poll that starts, records
when the next is due (`EconomyStore.record_poll`); beat runs this sweep every minute, and a batch
whose next poll is more than `OVERDUE_AFTER_SECONDS` past due gets that poll sent again. A poll
is safe to receive twice (`economy.poll_round`: one runs at a time, a stale copy drops out).

A `submit` message (the first round or a follow-up) lost likewise would leave the batch waiting
forever: each submit scheduled or started records when it is due (`EconomyStore.record_submit`,
dropped once its provider batches are recorded and its poll chain starts), and one overdue by
the same threshold is sent again (safe twice: `economy_submit.submit_locked`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Final

from celery import Celery

from eyeflow_worker.core.routing import Tasks, queue_for
from eyeflow_worker.core.task_view import TERMINAL
from eyeflow_worker.runtime import Runtime
from eyeflow_worker.tasks.economy_submit import POLL_MAX_SECONDS, economy_store

logger = logging.getLogger(__name__)

# Two of the longest poll intervals: a poll merely late (a busy batch queue, a slow worker
# start) is rarely re-sent, and one re-sent needlessly costs one `retrieve` (the late copy drops
# out); one this late was lost. A running poll's due time moves on with its lease, so a poll
# whose worker died is overdue one lease after the death, and re-sent within this plus one sweep.
OVERDUE_AFTER_SECONDS: Final = 2 * POLL_MAX_SECONDS

# Ended batches need no poll; a cancelled one still needs its poll, which cancels its provider
# batches.
_ENDED = ("succeeded", "failed")


def sweep_overdue_polls(rt: Runtime, celery: Celery, now: float | None = None) -> int:
    """Send the poll of every economy batch still running whose next poll is overdue, and the
    submit of every one whose submit is overdue; how many were sent. Batches that ended (or
    moved on to a retry's run) leave the indexes."""
    now = time.time() if now is None else now
    return _sweep_polls(rt, celery, now) + sweep_overdue_submits(rt, celery, now)


def sweep_overdue_submits(rt: Runtime, celery: Celery, now: float) -> int:
    """Send the submit of every economy batch still running whose submit is overdue."""
    store = economy_store(rt)
    sent = 0
    for job_id in store.overdue_submits(now - OVERDUE_AFTER_SECONDS):
        record = rt.jobs.get(job_id)
        state = store.submit_state(job_id)
        if (
            record is None
            or state is None
            or record.get("status") in TERMINAL  # a submit of an ended batch creates nothing
            or int(record.get("retries", 0)) != state.run
        ):
            store.stop_submitting(job_id)
            continue
        logger.warning("economy %s: submit of round %d overdue since %.0fs; sending it again",
                       job_id, state.round_no, now - state.due)  # fmt: skip
        celery.send_task(
            Tasks.ECONOMY_SUBMIT,
            args=[job_id, state.tenant, state.run, state.round_no],
            kwargs={"attempt": state.attempt},
            task_id=f"{job_id}:economy:{state.run}:{state.round_no}:s{state.attempt}:w{int(now)}",
            queue=queue_for(Tasks.ECONOMY_SUBMIT, rt.settings),
        )
        # Due again one interval from now: the next sweeps leave the re-sent submit time to run.
        store.record_submit(job_id, replace(state, due=now + POLL_MAX_SECONDS))
        sent += 1
    return sent


def _sweep_polls(rt: Runtime, celery: Celery, now: float) -> int:
    store = economy_store(rt)
    sent = 0
    for job_id in store.overdue_polls(now - OVERDUE_AFTER_SECONDS):
        record = rt.jobs.get(job_id)
        state = store.poll_state(job_id)
        if (
            record is None
            or state is None
            or record.get("status") in _ENDED
            or int(record.get("retries", 0)) != state.run
        ):
            store.stop_polling(job_id)  # a retry's run records its own polls
            continue
        logger.warning("economy %s: poll %d of round %d overdue since %.0fs; sending it again",
                       job_id, state.polls, state.round_no, now - state.next_poll_due)  # fmt: skip
        celery.send_task(
            Tasks.ECONOMY_POLL,
            args=[job_id, state.tenant, state.run, state.round_no, state.polls],
            task_id=f"{job_id}:economy:{state.run}:{state.round_no}:p{state.polls}:s{int(now)}",
            queue=queue_for(Tasks.ECONOMY_POLL, rt.settings),
        )
        # Due again one interval from now: the next sweeps leave the re-sent poll time to run.
        store.record_poll(job_id, replace(state, next_poll_due=now + POLL_MAX_SECONDS))
        sent += 1
    return sent
