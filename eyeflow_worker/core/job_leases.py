"""Job leases in Redis: which worker runs a job (or a batch item) right now, until when, and
which message may take it next — so a job whose worker died goes back to a queue within about a
minute, and a duplicate delivery of a job that is running does nothing.

A lease lives in a hash of `lease_*` fields: the job record itself for a job (`generate`,
`refine`, `evaluate`, a batch's start), or `eyeflow:job:{id}:lease:{run}:{index}` for a batch
item. Fields:
  lease_state       `held` (a worker runs it) or `handed` (its next message is on its way: a
                    re-try's countdown, a reaper's re-send)
  lease_worker      the holder's worker id (held)
  lease_token       fencing token (`eyeflow:lease-fence`, INCR): one per holding; a holder whose
                    token is no longer there lost the lease and renews or releases nothing
  lease_expires_at  epoch seconds; a held lease is renewed every third of `LEASE_SECONDS`
  lease_task_id     the message that holds it / may take it next
  lease_task, lease_args, lease_kwargs, lease_queue   how to send the job again (the reaper)
Index: `eyeflow:leases`, a sorted set of lease hash keys by expiry — the reaper's work list.
Presence: `eyeflow:worker:{id}`, an expiring key each worker process renews; a held lease whose
worker's presence is gone is taken back as soon as it expires.

Taking a lease (`acquire`): free, expired, or handed to this very message → taken (new token);
held by this very message and delivered again by the broker (RabbitMQ gives a dead consumer's
messages back the moment its connection drops; kombu's Redis restore only after the
visibility timeout, past any job's time limit) → taken over at once; held by another message,
or held by this one and not a redelivery (a duplicate sent by hand) or handed to another
message → refused, and the message does nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import redis

from eyeflow_worker.core.records import job_key

LEASES: Final = "eyeflow:leases"
_FENCE: Final = "eyeflow:lease-fence"
_WORKER_PREFIX: Final = "eyeflow:worker:"
_FIELDS: Final = (
    "lease_state", "lease_worker", "lease_token", "lease_expires_at", "lease_task_id",
    "lease_task", "lease_args", "lease_kwargs", "lease_queue",
)  # fmt: skip

# KEYS: lease hash, index, fence, job record. ARGV: task id, worker, now, ttl, task, args,
# kwargs, queue, on_record ('1': the hash is the job record), hash ttl, redelivered ('1': the
# broker delivers this message again because its consumer is gone — it takes over the lease
# that very message held).
# Returns {1, token, tenant} taken, {0, holder} refused, {-1, ''} no such job. The tenant is
# the record's: workers act for the tenant the job belongs to, never one a message names.
_ACQUIRE = """
local tenant = redis.call('HGET', KEYS[4], 'tenant')
if not tenant then return {-1, ''} end
local state = redis.call('HGET', KEYS[1], 'lease_state')
local expires = tonumber(redis.call('HGET', KEYS[1], 'lease_expires_at') or '0')
local now = tonumber(ARGV[3])
if state and expires > now then
  local next_id = redis.call('HGET', KEYS[1], 'lease_task_id')
  local handed_to_me = state == 'handed' and next_id == ARGV[1]
  local mine_redelivered = state == 'held' and next_id == ARGV[1] and ARGV[11] == '1'
  if not (handed_to_me or mine_redelivered) then
    return {0, redis.call('HGET', KEYS[1], 'lease_worker') or ''}
  end
end
local token = redis.call('INCR', KEYS[3])
local expiry = now + tonumber(ARGV[4])
redis.call('HSET', KEYS[1], 'lease_state', 'held', 'lease_worker', ARGV[2],
  'lease_token', token, 'lease_expires_at', expiry, 'lease_task_id', ARGV[1],
  'lease_task', ARGV[5], 'lease_args', ARGV[6], 'lease_kwargs', ARGV[7], 'lease_queue', ARGV[8])
if ARGV[9] ~= '1' then redis.call('EXPIRE', KEYS[1], ARGV[10]) end
redis.call('ZADD', KEYS[2], expiry, KEYS[1])
return {1, token, tenant}
"""

# KEYS: lease hash, index. ARGV: token, new expiry. Renews a held lease this token holds.
_RENEW = """
if redis.call('HGET', KEYS[1], 'lease_token') ~= ARGV[1] then return 0 end
if redis.call('HGET', KEYS[1], 'lease_state') ~= 'held' then return 0 end
redis.call('HSET', KEYS[1], 'lease_expires_at', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[2], KEYS[1])
return 1
"""

# KEYS: lease hash, index. ARGV: token, next task id, until, args, kwargs, require_expired
# ('1': the reaper — only a lease that expired by ARGV[7]), now.
# Hands the lease to the message that runs the job next; returns 1 when handed.
_HAND_OVER = """
if redis.call('HGET', KEYS[1], 'lease_token') ~= ARGV[1] then return 0 end
if ARGV[6] == '1' then
  local expires = tonumber(redis.call('HGET', KEYS[1], 'lease_expires_at') or '0')
  if expires > tonumber(ARGV[7]) then return 0 end
end
redis.call('HSET', KEYS[1], 'lease_state', 'handed', 'lease_task_id', ARGV[2],
  'lease_expires_at', ARGV[3], 'lease_args', ARGV[4], 'lease_kwargs', ARGV[5])
redis.call('HDEL', KEYS[1], 'lease_worker')
redis.call('ZADD', KEYS[2], ARGV[3], KEYS[1])
return 1
"""

# KEYS: lease hash, index. ARGV: token ('' = whatever holds it), on_record ('1': clear the
# fields, else delete the hash). Ends the lease; returns 1 when it ended.
_RELEASE = """
if ARGV[1] ~= '' and redis.call('HGET', KEYS[1], 'lease_token') ~= ARGV[1] then return 0 end
if ARGV[2] == '1' then
  redis.call('HDEL', KEYS[1], """ + ", ".join(f"'{name}'" for name in _FIELDS) + """)
else
  redis.call('DEL', KEYS[1])
end
redis.call('ZREM', KEYS[2], KEYS[1])
return 1
"""


def job_lease_key(job_id: str) -> str:
    """A job's lease lives on its record."""
    return job_key(job_id)


def item_lease_key(job_id: str, run: int, index: int) -> str:
    return f"{job_key(job_id)}:lease:{run}:{index}"


def job_of(key: str) -> str:
    """The job record a lease hash belongs to."""
    return key.split(":lease:", 1)[0]


def on_record(key: str) -> bool:
    """Is this lease hash a job record (rather than an item's own lease hash)?"""
    return ":lease:" not in key


@dataclass(frozen=True)
class Work:
    """What a lease is for: the message to send again if its worker dies."""

    task: str
    args: Sequence[Any]
    kwargs: Mapping[str, Any]
    queue: str
    task_id: str


@dataclass(frozen=True)
class Acquired:
    """`code` 1: taken (`value` the fencing token, `tenant` the job's); 0: refused (`value`
    the holder); -1: the job is gone."""

    code: int
    value: str
    tenant: str | None = None


@dataclass(frozen=True)
class Expired:
    """A lease the reaper found past its expiry."""

    key: str
    state: str
    worker: str | None
    token: str
    expires_at: float
    work: Work


class LeaseStore:
    def __init__(self, client: redis.Redis, record_ttl_seconds: int) -> None:
        self._redis = client
        self._ttl = record_ttl_seconds
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._hand_over = client.register_script(_HAND_OVER)
        self._release = client.register_script(_RELEASE)

    def acquire(
        self,
        key: str,
        work: Work,
        worker: str,
        now: float,
        ttl_seconds: float,
        *,
        redelivered: bool = False,
    ) -> Acquired:
        """Take the lease on `key` (of the job `job_of(key)`) for `work`; `redelivered`: the
        broker gave this message back (its consumer died), so it takes over its own lease."""
        found = self._acquire(
            keys=[key, LEASES, _FENCE, job_of(key)],
            args=[
                work.task_id, worker, repr(now), repr(ttl_seconds), work.task,
                json.dumps(list(work.args)), json.dumps(dict(work.kwargs)), work.queue,
                "1" if on_record(key) else "0", self._ttl, "1" if redelivered else "0",
            ],
        )
        code, value = int(found[0]), str(found[1])
        return Acquired(code, value, str(found[2]) if code == 1 else None)

    def renew(self, key: str, token: str, until: float) -> bool:
        return bool(self._renew(keys=[key, LEASES], args=[token, repr(until)]))

    def hand_over(
        self,
        key: str,
        token: str,
        work: Work,
        until: float,
        *,
        expired_by: float | None = None,
    ) -> bool:
        """Hand the lease (held by `token`) to the message `work.task_id`, live until `until`;
        `expired_by` (the reaper): only if the lease expired by then."""
        return bool(
            self._hand_over(
                keys=[key, LEASES],
                args=[
                    token, work.task_id, repr(until), json.dumps(list(work.args)),
                    json.dumps(dict(work.kwargs)), "0" if expired_by is None else "1",
                    repr(expired_by or 0.0),
                ],
            )
        )

    def release(self, key: str, token: str) -> bool:
        """End the lease held by `token` ('' : whoever holds it)."""
        return bool(self._release(keys=[key, LEASES], args=[token, "1" if on_record(key) else "0"]))

    def expired(self, now: float, limit: int = 500) -> list[Expired]:
        """Leases past their expiry, oldest first (index entries whose lease is gone are
        dropped)."""
        keys = [str(k) for k in self._redis.zrangebyscore(LEASES, "-inf", now, start=0, num=limit)]
        if not keys:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(key, list(_FIELDS))
        found: list[Expired] = []
        for key, values in zip(keys, pipe.execute(), strict=True):
            fields = dict(zip(_FIELDS, values, strict=True))
            if not fields["lease_token"] or not fields["lease_task"]:
                self._redis.zrem(LEASES, key)
                continue
            found.append(_expired(key, fields))
        return found

    # --- worker presence ------------------------------------------------------------------------

    def mark_present(self, worker: str, ttl_seconds: float) -> None:
        self._redis.set(f"{_WORKER_PREFIX}{worker}", "1", px=max(1, int(ttl_seconds * 1000)))

    def mark_gone(self, worker: str) -> None:
        self._redis.delete(f"{_WORKER_PREFIX}{worker}")

    def present(self, workers: Sequence[str]) -> set[str]:
        if not workers:
            return set()
        pipe = self._redis.pipeline(transaction=False)
        for worker in workers:
            pipe.exists(f"{_WORKER_PREFIX}{worker}")
        return {w for w, alive in zip(workers, pipe.execute(), strict=True) if alive}


def _expired(key: str, fields: Mapping[str, Any]) -> Expired:
    work = Work(
        task=str(fields["lease_task"]),
        args=json.loads(fields["lease_args"] or "[]"),
        kwargs=json.loads(fields["lease_kwargs"] or "{}"),
        queue=str(fields["lease_queue"] or ""),
        task_id=str(fields["lease_task_id"] or ""),
    )
    return Expired(
        key=key,
        state=str(fields["lease_state"] or "held"),
        worker=fields["lease_worker"],
        token=str(fields["lease_token"]),
        expires_at=float(fields["lease_expires_at"] or 0),
        work=work,
    )
