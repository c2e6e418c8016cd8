"""Job records in Redis: the one source of truth for a job's status, result and batch progress.

The gateway creates records and reads them; workers move them through their states. Every
state change that must not race is one Lua script (`transitions.py`); `task_view.py` turns a
record into the task object callers see.

Layout (all keys expire `task_record_ttl_seconds` after the last write):
  eyeflow:job:{id}            hash: tenant, kind, status, timestamps, attempts, payload, result,
                              error, webhook_url, and for batches total/succeeded/failed and
                              retries (the current run: 0, then 1 after the first retry…),
                              deadline_at (epoch seconds: items re-try transient failures
                              until then), mode (realtime|economy|auto as requested, then as
                              resolved) and, for economy batches, mode_reason,
                              provider_batches, economy_cost_usd, economy_realtime_cost_usd;
                              `payload` is dropped when the job ends (`transitions.ENDED`),
                              except for a batch with failed items, which a retry re-runs
  eyeflow:job:{id}:economy    hash: economy rounds' plans, intents and provider batch ids
                              (`economy_records.py`)
  eyeflow:job:{id}:intents    list: a batch's intents, in order (dropped when the batch ends with
                              every item stored and none failed: each item holds its intent)
  eyeflow:job:{id}:items      hash: item index -> item result JSON
  eyeflow:job:{id}:succeeded  sorted set: indexes of the items stored as succeeded (score = index)
  eyeflow:job:{id}:failed     sorted set: indexes of the items stored as failed (score = index);
                              what a retry re-opens and `?status=` pages through
  eyeflow:job:{id}:reopened   hash: the results a retry re-opened (and the fields it cleared, as
                              `_name`), kept until its re-run is queued so a broker error undoes it
  eyeflow:job-done:{id}       pub/sub channel: a message when the job reaches a terminal state
Batch admission keeps its own keys (`eyeflow:admission:…`), described in `admission.py`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import redis

from eyeflow_worker.core import transitions
from eyeflow_worker.core.collected_send import BrokerCommand
from eyeflow_worker.core.job_accept import Acceptance, Acceptor, Claim, NewJob, utc_now
from eyeflow_worker.core.metrics import METRICS_KEY, Increment
from eyeflow_worker.core.record_lease import FENCE, LEASES, Begun, LeaseAsk
from eyeflow_worker.core.submit_rate import SubmitRate
from eyeflow_worker.core.task_view import Status

# Re-exported: what creating a job takes and answers (`job_accept.py`), and the clock.
__all__ = ["Acceptance", "Claim", "JobStore", "NewJob", "utc_now"]

_PREFIX = "eyeflow:job:"


def job_key(job_id: str) -> str:
    return f"{_PREFIX}{job_id}"


def done_channel(job_id: str) -> str:
    return f"eyeflow:job-done:{job_id}"


def batch_task_id(job_id: str, run: int, index: int | None = None) -> str:
    """The Celery task id of a batch's start message (`index` None) or of one item, in run `run`
    (0: the submission; n: the n-th retry). Distinct per run, so a re-run never reuses the id of
    an earlier message (results backend, Flower, redeliveries)."""
    base = job_id if index is None else f"{job_id}:{index}"
    return base if run == 0 else f"{base}:r{run}"


WEBHOOK_OUTBOX = "eyeflow:webhook-outbox"

# Every record field except `payload` (which may hold a large aggregated context and is read
# only once per job): what status reads, waits and webhooks need.
RECORD_FIELDS = (
    "tenant", "kind", "status", "created_at", "started_at", "finished_at", "attempts",
    "result", "error", "webhook_url", "webhook", "webhook_queued_at",
    "total", "succeeded", "failed", "retries", "deadline_at",
    # Batches: the mode (`economy_records.py` writes the rest once a worker resolved it).
    "mode", "mode_reason", "provider_batches", "economy_cost_usd", "economy_realtime_cost_usd",
)  # fmt: skip


def record_from(values: Sequence[Any]) -> dict[str, str] | None:
    """A record as read by `HMGET key RECORD_FIELDS` (None: no such record)."""
    record = {
        field: str(value)
        for field, value in zip(RECORD_FIELDS, values, strict=True)
        if value is not None
    }
    return record or None


def tenants_own(record: dict[str, str] | None, tenant: str) -> dict[str, str] | None:
    """`record` if it is `tenant`'s; None for another tenant's (to that caller, no such job)."""
    if record is None or record.get("tenant") != tenant:
        return None
    return record


ItemStatus = Literal["queued", "succeeded", "failed", "cancelled"]


class NotRetryable(Exception):
    """The batch has not finished (or was cancelled): its failed items cannot be re-opened."""

    def __init__(self, status: str | None) -> None:
        super().__init__(f"batch is {status or 'gone'}")
        self.status = status


class JobStore:
    def __init__(self, client: redis.Redis, ttl_seconds: int) -> None:
        self._redis = client
        self._ttl = ttl_seconds
        self._acceptor = Acceptor(client, ttl_seconds)
        self._start = client.register_script(transitions.START)
        self._begin = client.register_script(transitions.BEGIN)
        self._set_running_status = client.register_script(transitions.SET_RUNNING_STATUS)
        self._set_if_exists = client.register_script(transitions.SET_IF_EXISTS)
        self._finish = client.register_script(transitions.FINISH)
        self._item_done = client.register_script(transitions.ITEM_DONE)
        self._retry_failed = client.register_script(transitions.RETRY_FAILED)
        self._undo_retry = client.register_script(transitions.UNDO_RETRY)

    # --- creation and removal (gateway) -------------------------------------------------------

    def create(self, job: NewJob) -> None:
        self._acceptor.accept(job)

    def accept(
        self, job: NewJob, *, rate: SubmitRate | None = None, claim: Claim | None = None,
        message: Sequence[BrokerCommand] = (),
    ) -> Acceptance:  # fmt: skip
        """A new job's record, rate token, Idempotency-Key claim and message: `job_accept.py`."""
        return self._acceptor.accept(job, rate=rate, claim=claim, message=message)

    def discard(self, job_id: str) -> None:
        """Forget a job that was never enqueued (the broker refused it)."""
        batch_keys = [k for k in self._ending_keys(job_id) if k != WEBHOOK_OUTBOX]
        self._redis.delete(*batch_keys, f"{job_key(job_id)}:reopened")

    # --- reads ----------------------------------------------------------------------------------

    def get(self, job_id: str) -> dict[str, str] | None:
        """The record without its payload, or None when there is none."""
        return record_from(self._redis.hmget(job_key(job_id), RECORD_FIELDS))

    def get_with_payload(self, job_id: str) -> tuple[dict[str, str], dict[str, Any]]:
        """The record and the parsed payload, in one round trip (a worker starting a job)."""
        *values, raw = self._redis.hmget(job_key(job_id), (*RECORD_FIELDS, "payload"))
        return record_from(values) or {}, (json.loads(str(raw)) if raw else {})

    def payload(self, job_id: str) -> dict[str, Any]:
        raw = self._redis.hget(job_key(job_id), "payload")
        payload: dict[str, Any] = json.loads(str(raw)) if raw else {}
        return payload

    def get_for_tenant(self, job_id: str, tenant: str) -> dict[str, str] | None:
        """The record, or None when it does not exist *or belongs to another tenant*."""
        return tenants_own(self.get(job_id), tenant)

    def batch_intent(self, job_id: str, index: int) -> str | None:
        intent = self._redis.lindex(f"{job_key(job_id)}:intents", index)
        return str(intent) if intent is not None else None

    def batch_items(self, job_id: str, offset: int, limit: int) -> list[dict[str, Any]]:
        """Items `offset..offset+limit` in order; items not finished yet come back as such."""
        record = self.get(job_id) or {}
        total = int(record.get("total", 0))
        indexes = list(range(offset, min(offset + limit, total)))
        if not indexes:
            return []
        key = job_key(job_id)
        stored = self._redis.hmget(f"{key}:items", [str(i) for i in indexes])
        intents = self._redis.lrange(f"{key}:intents", indexes[0], indexes[-1])
        pending_status = "cancelled" if record.get("status") == "cancelled" else "queued"
        items: list[dict[str, Any]] = []
        for position, (index, raw) in enumerate(zip(indexes, stored, strict=True)):
            if raw is not None:
                items.append(json.loads(raw))
            else:
                # The intents list may be gone with an expiring record; never fail a read on it.
                intent = intents[position] if position < len(intents) else ""
                items.append({"index": index, "intent": intent, "status": pending_status})
        return items

    def batch_items_where(
        self, job_id: str, status: ItemStatus, offset: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """Page `offset..offset+limit` of the items that have `status`, in submission order, and
        how many items have it. Stored outcomes are paged through their index sets (only the
        page's results are read); open items (queued, or cancelled with their batch) are the
        indexes missing from the items hash (field names only, never the results)."""
        record = self.get(job_id) or {}
        key = job_key(job_id)
        pending = "cancelled" if record.get("status") == "cancelled" else "queued"
        if status in ("succeeded", "failed"):
            pipe = self._redis.pipeline(transaction=True)
            pipe.zcard(f"{key}:{status}")
            pipe.zrange(f"{key}:{status}", offset, offset + limit - 1)
            matched, members = pipe.execute()
            indexes = [int(member) for member in members]
        elif status == pending:
            done = {int(index) for index in self._redis.hkeys(f"{key}:items")}
            open_indexes = [i for i in range(int(record.get("total", 0))) if i not in done]
            matched, indexes = len(open_indexes), open_indexes[offset : offset + limit]
        else:
            return [], 0
        # An item re-opened or landing between the two reads is left out of this page.
        items = [item for item in self._items_at(key, indexes, pending) if item["status"] == status]
        return items, int(matched)

    def _items_at(self, key: str, indexes: list[int], pending: str) -> list[dict[str, Any]]:
        if not indexes:
            return []
        stored = self._redis.hmget(f"{key}:items", [str(i) for i in indexes])
        missing = [index for index, raw in zip(indexes, stored, strict=True) if raw is None]
        pipe = self._redis.pipeline(transaction=False)
        for index in missing:
            pipe.lindex(f"{key}:intents", index)
        intents = dict(zip(missing, pipe.execute() if missing else [], strict=True))
        return [
            json.loads(raw)
            if raw is not None
            else {"index": index, "intent": intents.get(index) or "", "status": pending}
            for index, raw in zip(indexes, stored, strict=True)
        ]

    def item_is_done(self, job_id: str, index: int) -> bool:
        return bool(self._redis.hexists(f"{job_key(job_id)}:items", str(index)))

    # --- transitions (workers and cancel) ------------------------------------------------------

    def start(self, job_id: str) -> bool:
        return bool(self._start(keys=[job_key(job_id)], args=[utc_now()]))

    def begin(self, job_id: str, lease: LeaseAsk) -> Begun:
        """Take the job's lease for `lease` and start the job, and read the record and parsed
        payload as started, in one round trip (`transitions.BEGIN`: a worker taking a job)."""
        found = self._begin(
            keys=[job_key(job_id), LEASES, FENCE],
            args=[utc_now(), *lease.args(), *RECORD_FIELDS, "payload"],
        )
        code = int(found[0])
        if code != 1:
            return Begun(code, holder=str(found[1]) if code == 0 else "")
        values = found[2]
        record = {
            field: str(value)
            for field, value in zip(RECORD_FIELDS, values, strict=False)
            if value is not None
        }
        raw = values[-1]
        return Begun(1, str(found[1]), record=record, payload=json.loads(str(raw)) if raw else {})

    def mark_retrying(self, job_id: str) -> None:
        self._set_running_status(keys=[job_key(job_id)], args=["retrying"])

    def mark_running(self, job_id: str) -> None:
        self._set_running_status(keys=[job_key(job_id)], args=["running"])

    def succeed(
        self,
        job_id: str,
        result: Mapping[str, Any],
        counted: Sequence[Increment] = (),
        lease: str = "",
    ) -> bool:
        """End the job `succeeded`; `counted`: the metrics it adds, written in the same step
        when (and only when) this call ended it (`metrics.job_ended_increments`);
        `lease`: the fencing token of the lease `begin` took, ended in the same step (whether
        or not this call ended the job)."""
        return self._terminal(job_id, "succeeded", "result", result, counted, lease)

    def fail(
        self,
        job_id: str,
        error: Mapping[str, Any],
        counted: Sequence[Increment] = (),
        lease: str = "",
    ) -> bool:
        return self._terminal(job_id, "failed", "error", error, counted, lease)

    def cancel(self, job_id: str) -> bool:
        error = {"code": "cancelled", "message": "Cancelled by the caller", "details": None}
        return self._terminal(job_id, "cancelled", "error", error)

    def record_item(
        self, job_id: str, index: int, item: Mapping[str, Any], run: int = 0
    ) -> Literal[0, 1, 2]:
        """Store an item of run `run` (see `transitions.ITEM_DONE`): 0 dropped, 1 stored, 2 stored
        and the batch complete."""
        outcome = "succeeded" if item.get("status") == "succeeded" else "failed"
        stored = self._item_done(
            keys=self._ending_keys(job_id),
            args=[
                index,
                json.dumps(item, separators=(",", ":")),
                outcome,
                utc_now(),
                self._ttl,
                done_channel(job_id),
                job_id,
                time.time(),
                run,
            ],
        )
        value = int(stored)
        if value == 2:
            return 2
        return 1 if value == 1 else 0

    def retry_failed(self, job_id: str) -> list[int]:
        """Re-open every failed item of a finished batch, atomically (two concurrent calls never
        re-open an item twice); the indexes re-opened, [] when none had failed (then nothing
        changed). The batch's new run is its `retries`. Raises NotRetryable while the batch runs
        or once it was cancelled. The re-opened results stay stashed until `retry_queued`."""
        key = job_key(job_id)
        answer = self._retry_failed(
            keys=[key, f"{key}:items", f"{key}:failed", f"{key}:reopened"], args=[self._ttl]
        )
        outcome = str(answer[0])
        if outcome == "none":
            return []
        if outcome != "ok":
            raise NotRetryable(None if outcome == "missing" else outcome)
        return sorted(int(index) for index in answer[2])

    def retry_queued(self, job_id: str) -> None:
        """The re-run is on the broker: the stash of re-opened results is no longer needed."""
        self._redis.delete(f"{job_key(job_id)}:reopened")

    def undo_retry(self, job_id: str, run: int) -> bool:
        """Put back what `retry_failed` re-opened for `run` (its re-run could not be queued);
        False when the batch moved on meanwhile (cancelled, or that run is not current)."""
        key = job_key(job_id)
        undone = self._undo_retry(
            keys=[key, f"{key}:items", f"{key}:failed", f"{key}:reopened", WEBHOOK_OUTBOX],
            args=[run, job_id, time.time(), done_channel(job_id)],
        )
        return bool(undone)

    def mark_webhook_queued(self, job_id: str) -> None:
        """The delivery task is on the queue: the job leaves the outbox."""
        self._set_if_exists(keys=[job_key(job_id)], args=["webhook_queued_at", utc_now()])
        self._redis.zrem(WEBHOOK_OUTBOX, job_id)

    def pending_webhooks(self, older_than_seconds: float, limit: int = 500) -> list[str]:
        """Jobs that ended over `older_than_seconds` ago whose delivery was never queued."""
        cutoff = time.time() - older_than_seconds
        return [
            str(job_id)
            for job_id in self._redis.zrangebyscore(
                WEBHOOK_OUTBOX, "-inf", cutoff, start=0, num=limit
            )
        ]

    def drop_from_outbox(self, job_id: str) -> None:
        self._redis.zrem(WEBHOOK_OUTBOX, job_id)

    def record_webhook(self, job_id: str, state: Mapping[str, Any]) -> None:
        """Where the job's webhook delivery stands, shown to callers and operators."""
        self._set_if_exists(
            keys=[job_key(job_id)], args=["webhook", json.dumps(state, separators=(",", ":"))]
        )

    def _ending_keys(self, job_id: str) -> list[str]:
        key = job_key(job_id)
        return [
            key, f"{key}:intents", f"{key}:items", WEBHOOK_OUTBOX,
            f"{key}:succeeded", f"{key}:failed",
        ]  # fmt: skip

    def _terminal(
        self,
        job_id: str,
        status: Status,
        field: str,
        value: Mapping[str, Any],
        counted: Sequence[Increment] = (),
        lease: str = "",
    ) -> bool:
        keys = [*self._ending_keys(job_id), LEASES]
        if counted:
            keys.append(METRICS_KEY)
        changed = self._finish(
            keys=keys,
            args=[
                status,
                utc_now(),
                field,
                json.dumps(value, separators=(",", ":")),
                self._ttl,
                done_channel(job_id),
                job_id,
                time.time(),
                lease,
                *(part for increment in counted for part in increment),
            ],
        )
        return bool(changed)
