"""The lease rules as Lua functions, shared by the lease scripts (`job_leases.py`) and by the
job scripts that take and end a job's lease in the same step as its start and finish
(`transitions.BEGIN`, `transitions.FINISH`), so a job costs no round trip for its lease and the
rules live in one place. The fields and the index are described in `job_leases.py`.

Also the arguments those scripts take (`Work`, `LeaseAsk`) and what a leased begin answers
(`Begun`): here, not in `job_leases.py`, because `records.py` needs them and `job_leases.py`
needs `records.py`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

LEASES: Final = "eyeflow:leases"
FENCE: Final = "eyeflow:lease-fence"
FIELDS: Final = (
    "lease_state", "lease_worker", "lease_token", "lease_expires_at", "lease_task_id",
    "lease_task", "lease_args", "lease_kwargs", "lease_queue",
)  # fmt: skip

# lease_refused(key, task id, now, redelivered): the holder's worker id ('' if none) when the
# lease on `key` is live and not this message's to take, else false. Free, expired, handed to
# this message, or held by it and delivered again by the broker ('1') → false (may be taken).
# lease_take(key, index, fence, task id, worker, now, ttl, task, args, kwargs, queue): a new
# fencing token, the lease held by it until now + ttl, indexed by expiry. Returns the token.
# lease_end(key, index, token, on_record): the lease held by `token` ('' = whatever holds it)
# ends: its fields go (a job record) or the hash does (an item's); 1 when it ended.
FUNCTIONS: Final = (
    """
local function lease_refused(key, task_id, now, redelivered)
  local state = redis.call('HGET', key, 'lease_state')
  local expires = tonumber(redis.call('HGET', key, 'lease_expires_at') or '0')
  if state and expires > now then
    local next_id = redis.call('HGET', key, 'lease_task_id')
    local handed_to_me = state == 'handed' and next_id == task_id
    local mine_redelivered = state == 'held' and next_id == task_id and redelivered == '1'
    if not (handed_to_me or mine_redelivered) then
      return redis.call('HGET', key, 'lease_worker') or ''
    end
  end
  return false
end

local function lease_take(key, index, fence, task_id, worker, now, ttl, task, args, kwargs, queue)
  local token = redis.call('INCR', fence)
  local expiry = now + ttl
  redis.call('HSET', key, 'lease_state', 'held', 'lease_worker', worker,
    'lease_token', token, 'lease_expires_at', expiry, 'lease_task_id', task_id,
    'lease_task', task, 'lease_args', args, 'lease_kwargs', kwargs, 'lease_queue', queue)
  redis.call('ZADD', index, expiry, key)
  return token
end

local function lease_end(key, index, token, on_record)
  if token ~= '' and redis.call('HGET', key, 'lease_token') ~= token then return 0 end
  if on_record then
    redis.call('HDEL', key, """
    + ", ".join(f"'{name}'" for name in FIELDS)
    + """)
  else
    redis.call('DEL', key)
  end
  redis.call('ZREM', index, key)
  return 1
end
"""
)


@dataclass(frozen=True)
class Work:
    """What a lease is for: the message to send again if its worker dies."""

    task: str
    args: Sequence[Any]
    kwargs: Mapping[str, Any]
    queue: str
    task_id: str


@dataclass(frozen=True)
class LeaseAsk:
    """A worker asking for a job's lease for `work`, now, for `ttl_seconds`; `redelivered`: the
    broker gave this message back (its consumer died), so it takes over its own lease."""

    work: Work
    worker: str
    now: float
    ttl_seconds: float
    redelivered: bool = False

    def args(self) -> list[str]:
        """As `lease_refused` and `lease_take` take them (after the key, index and fence)."""
        work = self.work
        return [
            work.task_id, self.worker, repr(self.now), repr(self.ttl_seconds), work.task,
            json.dumps(list(work.args)), json.dumps(dict(work.kwargs)), work.queue,
            "1" if self.redelivered else "0",
        ]  # fmt: skip


@dataclass(frozen=True)
class Begun:
    """A leased begin: `code` 1 started (`token` the fencing token, `record`/`payload` the job
    as started), 0 refused (`holder` the worker holding the lease: do nothing), 2 the job has
    already ended (no lease is held), -1 there is no such job."""

    code: int
    token: str = ""
    holder: str = ""
    record: Mapping[str, str] | None = None
    payload: Mapping[str, Any] | None = None
