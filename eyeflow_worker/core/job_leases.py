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
message → refused, and the message does nothing. Generate, refine and evaluate take theirs in
the script that starts the job (`transitions.BEGIN`) and end it in the one that stores its
outcome (`transitions.FINISH`): the same rules (`record_lease.FUNCTIONS`), fence and index.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import redis

from eyeflow_worker.core.record_lease import FENCE, FIELDS, FUNCTIONS, LEASES, LeaseAsk, Work
from eyeflow_worker.core.records import job_key

__all__ = ["LEASES", "Acquired", "Expired", "LeaseStore", "Work"]

_WORKER_PREFIX: Final = "eyeflow:worker:"
_FIELDS: Final = FIELDS

# KEYS: lease hash, index, fence, job record. ARGV: as `LeaseAsk.args` (task id, worker, now,
# ttl, task, args, kwargs, queue, redelivered), then on_record ('1': the hash is the job
# record), hash ttl. The rules are `record_lease.FUNCTIONS`' (shared with `transitions.BEGIN`).
# Returns {1, token, tenant} taken, {0, holder} refused, {-1, ''} no such job. The tenant is
# the record's: workers act for the tenant the job belongs to, never one a message names.
_ACQUIRE = (
    FUNCTIONS
    + """
local tenant = redis.call('HGET', KEYS[4], 'tenant')
if not tenant then return {-1, ''} end
local now = tonumber(ARGV[3])
local holder = lease_refused(KEYS[1], ARGV[1], now, ARGV[9])
if holder then return {0, holder} end
local token = lease_take(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], now, tonumber(ARGV[4]),
  ARGV[5], ARGV[6], ARGV[7], ARGV[8])
if ARGV[10] ~= '1' then redis.call('EXPIRE', KEYS[1], ARGV[11]) end
return {1, token, tenant}
"""
)

# KEYS: lease hash, index. ARGV: token, new expiry. Renews a held lease this token holds.
_RENEW = """
if redis.call('HGET', KEYS[1], 'lease_token') ~= ARGV[1] then return 0 end
if redis.call('HGET', KEYS[1], 'lease_state') ~= 'held' then return 0 end
redis.call('HSET', KEYS[1], 'lease_expires_at', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[2], KEYS[1])
return 1
"""

# KEYS: index, then n lease hashes. ARGV: new expiry, then their n tokens. `_RENEW` for every
# lease a worker process holds, in one step (`tasks.leasing`'s renewer); returns the keys no
# longer held by their token (lost: taken over, handed, or ended).
_RENEW_MANY = """
local lost = {}
for i = 2, #KEYS do
  local key, token = KEYS[i], ARGV[i]
  if redis.call('HGET', key, 'lease_token') == token
      and redis.call('HGET', key, 'lease_state') == 'held' then
    redis.call('HSET', key, 'lease_expires_at', ARGV[1])
    redis.call('ZADD', KEYS[1], ARGV[1], key)
  else
    lost[#lost + 1] = key
  end
end
return lost
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

# KEYS: lease hash, index. ARGV: token ('' : whatever holds it), on_record ('1': clear the
# fields, else delete the hash). Ends the lease; returns 1 when it ended.
_RELEASE = FUNCTIONS + "return lease_end(KEYS[1], KEYS[2], ARGV[1], ARGV[2] == '1')\n"


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
        self._renew_many = client.register_script(_RENEW_MANY)
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
        ask = LeaseAsk(work, worker, now, ttl_seconds, redelivered)
        found = self._acquire(
            keys=[key, LEASES, FENCE, job_of(key)],
            args=[*ask.args(), "1" if on_record(key) else "0", self._ttl],
        )
        code, value = int(found[0]), str(found[1])
        return Acquired(code, value, str(found[2]) if code == 1 else None)

    def renew(self, key: str, token: str, until: float) -> bool:
        return bool(self._renew(keys=[key, LEASES], args=[token, repr(until)]))

    def renew_many(self, held: Mapping[str, str], until: float) -> set[str]:
        """Renew every lease in `held` (key → token) until `until` in one step; the keys whose
        lease is no longer held by that token (lost)."""
        if not held:
            return set()
        keys = list(held)
        lost = self._renew_many(keys=[LEASES, *keys], args=[repr(until), *held.values()])
        return {str(key) for key in lost}

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
                    token,
                    work.task_id,
                    repr(until),
                    json.dumps(list(work.args)),
                    json.dumps(dict(work.kwargs)),
                    "0" if expired_by is None else "1",
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
