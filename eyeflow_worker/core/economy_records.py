"""Economy batches in Redis: each round's plan, the intent written before a provider batch is
created, the provider batch id recorded right after, what was collected, and the task object's
view (mode, provider batches, costs) on the job record.

Layout (expiring with the job record, `task_record_ttl_seconds` after the last write):
  eyeflow:job:{id}:economy  hash, per run r (the batch's `retries`) and round n (0, then the
                            follow-up rounds), per part p (one provider batch each):
      plan:{r}:{n}          JSON list of parts, each the list of its item indexes (written once)
      intent:{r}:{n}:{p}    JSON intent: job id, provider, created_after (epoch s), count,
                            metadata key and value — written BEFORE `create` (HSETNX)
      batch:{r}:{n}:{p}     JSON `ProviderBatch` (id, created time, count, aliases), right after
      collected:{r}:{n}:{p} "1" once its outcomes were all handled
      cost:{r}:{index}      an item's cost, once counted in the job's totals
      poll                  JSON `PollState` of the poll chain: run, round, polls, last_poll_at,
                            next_poll_due (epoch s)
      submit                JSON `SubmitState` of the round being submitted: run, round, attempt,
                            due (epoch s); removed once its provider batches are recorded
  eyeflow:job:{id}:economy:poll-lock    a running poll's lease (`core.lease`, renewed while it
                                        runs): one poll of a batch at a time
  eyeflow:job:{id}:economy:submit-lock  a running submit's lease, likewise
  eyeflow:job:{id}          (the job record) mode, mode_reason, provider_batches (JSON list),
                            economy_cost_usd, economy_realtime_cost_usd
  eyeflow:economy:adopted   set of `provider:batch id` some job recorded: reconciliation never
                            adopts another job's batch (Anthropic matches by time and count only)
  eyeflow:economy:polling   sorted set: job id -> its next poll's due time; the sweep's index of
                            the batches whose poll chain may have broken (a lost countdown message)
  eyeflow:economy:submitting  sorted set: job id -> when its submit is due; the sweep's index of
                            the batches whose submit message may have been lost
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from typing import Any

import redis

from eyeflow_worker.core.batch_api import ProviderBatch, ProviderBatchState
from eyeflow_worker.core.lease import leased
from eyeflow_worker.core.records import job_key

_ADOPTED = "eyeflow:economy:adopted"
_POLLING = "eyeflow:economy:polling"
_SUBMITTING = "eyeflow:economy:submitting"

# KEYS[1] job, KEYS[2] economy hash. ARGV: cost, realtime cost, item field. Adds an item's
# costs to a record that still exists, once per item (a re-collection never counts it twice).
_ADD_COSTS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HSETNX', KEYS[2], ARGV[3], ARGV[1]) == 0 then return 0 end
redis.call('HINCRBYFLOAT', KEYS[1], 'economy_cost_usd', ARGV[1])
redis.call('HINCRBYFLOAT', KEYS[1], 'economy_realtime_cost_usd', ARGV[2])
return 1
"""

# KEYS[1] job. ARGV: the view JSON of one provider batch. Replaces the entry with the same
# batch id in `provider_batches` (or appends it), atomically.
_MERGE_VIEW = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local view = cjson.decode(ARGV[1])
local raw = redis.call('HGET', KEYS[1], 'provider_batches')
local list = {}
if raw then list = cjson.decode(raw) end
local replaced = false
for i, entry in ipairs(list) do
  if entry['batch_id'] == view['batch_id'] then list[i] = view; replaced = true end
end
if not replaced then table.insert(list, view) end
redis.call('HSET', KEYS[1], 'provider_batches', cjson.encode(list))
return 1
"""

# KEYS[1] job. ARGV: mode, reason. Sets the resolved mode on a record that still exists.
_SET_MODE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'mode', ARGV[1], 'mode_reason', ARGV[2])
return 1
"""


def _part(run: int, round_no: int, part: int) -> str:
    return f"{run}:{round_no}:{part}"


@dataclass(frozen=True)
class PollState:
    """Where a batch's poll chain stands: the poll due next (run, round, polls) and when."""

    tenant: str
    run: int
    round_no: int
    polls: int
    next_poll_due: float
    last_poll_at: float | None = None

    @property
    def position(self) -> tuple[int, int, int]:
        """Orders the polls of a batch: a poll behind the recorded position is a stale copy."""
        return (self.run, self.round_no, self.polls)


@dataclass(frozen=True)
class SubmitState:
    """The submit of a round a batch waits for (run, round, its retry attempt) and when it is
    due: when scheduled, its countdown's end; while running, its lock's lease's end."""

    tenant: str
    run: int
    round_no: int
    attempt: int
    due: float

    @property
    def position(self) -> tuple[int, int]:
        """Orders the submits of a batch: one behind the recorded position is a stale copy."""
        return (self.run, self.round_no)


class EconomyStore:
    def __init__(self, client: redis.Redis, ttl_seconds: int) -> None:
        self._redis = client
        self._ttl = ttl_seconds
        self._add_costs = client.register_script(_ADD_COSTS)
        self._merge_view = client.register_script(_MERGE_VIEW)
        self._set_mode = client.register_script(_SET_MODE)

    def _key(self, job_id: str) -> str:
        return f"{job_key(job_id)}:economy"

    def _set_once(self, job_id: str, field: str, value: str) -> bool:
        key = self._key(job_id)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hsetnx(key, field, value)
        pipe.expire(key, self._ttl)
        written, _ = pipe.execute()
        return bool(written)

    def _get_json(self, job_id: str, field: str) -> Any:
        raw = self._redis.hget(self._key(job_id), field)
        return json.loads(str(raw)) if raw else None

    # --- the job record's view ------------------------------------------------------------------

    def set_mode(self, job_id: str, mode: str, reason: str) -> None:
        self._set_mode(keys=[job_key(job_id)], args=[mode, reason])

    def add_costs(
        self, job_id: str, item: tuple[int, int], cost: float, realtime_cost: float
    ) -> None:
        """Count item `(run, index)`'s costs in the job's totals, at most once. Called before
        the item is stored, so the totals are complete when the batch is seen ending."""
        run, index = item
        self._add_costs(
            keys=[job_key(job_id), self._key(job_id)],
            args=[repr(cost), repr(realtime_cost), f"cost:{run}:{index}"],
        )

    def show(self, job_id: str, round_no: int, state: ProviderBatchState) -> None:
        counts = asdict(state.counts)
        view = {
            "provider": state.batch.provider,
            "batch_id": state.batch.batch_id,
            "round": round_no,
            "status": state.status,
            "provider_status": state.provider_status,
            "request_counts": counts,
        }
        self._merge_view(keys=[job_key(job_id)], args=[json.dumps(view)])

    def show_submitted(self, job_id: str, round_no: int, batch: ProviderBatch) -> None:
        view = {
            "provider": batch.provider,
            "batch_id": batch.batch_id,
            "round": round_no,
            "status": "in_progress",
            "provider_status": "submitted",
            "request_counts": {"processing": batch.request_count},
        }
        self._merge_view(keys=[job_key(job_id)], args=[json.dumps(view)])

    # --- rounds ---------------------------------------------------------------------------------

    def plan(self, job_id: str, run: int, round_no: int) -> list[list[int]] | None:
        plan = self._get_json(job_id, f"plan:{run}:{round_no}")
        return None if plan is None else [[int(i) for i in part] for part in plan]

    def save_plan(self, job_id: str, run: int, round_no: int, parts: list[list[int]]) -> None:
        """The round's parts, written once: a redelivery reads the first plan back."""
        self._set_once(job_id, f"plan:{run}:{round_no}", json.dumps(parts, separators=(",", ":")))

    def write_intent(
        self, job_id: str, run: int, round_no: int, part: int, intent: Mapping[str, Any]
    ) -> bool:
        """Record the intent to create a provider batch; False when one was already recorded
        (an earlier delivery may have created the batch: reconcile before creating)."""
        return self._set_once(job_id, f"intent:{_part(run, round_no, part)}", json.dumps(intent))

    def intent(self, job_id: str, run: int, round_no: int, part: int) -> dict[str, Any] | None:
        found = self._get_json(job_id, f"intent:{_part(run, round_no, part)}")
        return found if isinstance(found, dict) else None

    def record_batch(
        self, job_id: str, run: int, round_no: int, part: int, batch: ProviderBatch
    ) -> None:
        raw = json.dumps(asdict(batch), separators=(",", ":"))
        self._set_once(job_id, f"batch:{_part(run, round_no, part)}", raw)
        self._redis.sadd(_ADOPTED, f"{batch.provider}:{batch.batch_id}")
        self._redis.expire(_ADOPTED, self._ttl)

    def forget_batch(self, job_id: str, run: int, round_no: int, part: int) -> None:
        """Tests: the crash between `create` and recording its id."""
        batch = self.batch(job_id, run, round_no, part)
        self._redis.hdel(self._key(job_id), f"batch:{_part(run, round_no, part)}")
        if batch is not None:
            self._redis.srem(_ADOPTED, f"{batch.provider}:{batch.batch_id}")

    def batch(self, job_id: str, run: int, round_no: int, part: int) -> ProviderBatch | None:
        found = self._get_json(job_id, f"batch:{_part(run, round_no, part)}")
        if not isinstance(found, dict):
            return None
        return ProviderBatch(
            provider=str(found["provider"]),
            batch_id=str(found["batch_id"]),
            created_at=float(found["created_at"]),
            request_count=int(found["request_count"]),
            metadata=dict(found.get("metadata") or {}),
            aliases=dict(found.get("aliases") or {}),
        )

    def adopted(self, batch: ProviderBatch) -> bool:
        return bool(self._redis.sismember(_ADOPTED, f"{batch.provider}:{batch.batch_id}"))

    def mark_collected(self, job_id: str, run: int, round_no: int, part: int) -> None:
        self._set_once(job_id, f"collected:{_part(run, round_no, part)}", "1")

    def collected(self, job_id: str, run: int, round_no: int, part: int) -> bool:
        return bool(
            self._redis.hexists(self._key(job_id), f"collected:{_part(run, round_no, part)}")
        )

    # --- items ----------------------------------------------------------------------------------

    def open_indexes(self, job_id: str, total: int) -> list[int]:
        """The items not stored yet, in order (field names only, never the results)."""
        done = {int(index) for index in self._redis.hkeys(f"{job_key(job_id)}:items")}
        return [index for index in range(total) if index not in done]

    def intents(self, job_id: str) -> list[str]:
        """Every intent of the batch, in order (one round trip)."""
        return [str(intent) for intent in self._redis.lrange(f"{job_key(job_id)}:intents", 0, -1)]

    # --- the poll chain -------------------------------------------------------------------------

    def record_poll(self, job_id: str, state: PollState, *, polling: bool = True) -> None:
        """Record the poll due next (when one is scheduled, and when one starts running) and
        index the batch by its due time for the sweep; `polling=False` records where a chain
        ended on purpose and takes the batch out of the sweep's index."""
        key = self._key(job_id)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(key, "poll", json.dumps(asdict(state)))
        pipe.expire(key, self._ttl)
        if polling:
            pipe.zadd(_POLLING, {job_id: state.next_poll_due})
            pipe.expire(_POLLING, self._ttl)
        else:
            pipe.zrem(_POLLING, job_id)
        pipe.execute()

    def poll_state(self, job_id: str) -> PollState | None:
        found = self._get_json(job_id, "poll")
        return PollState(**found) if isinstance(found, dict) else None

    def stop_polling(self, job_id: str) -> None:
        """The chain ended on purpose (the round is over, the batch ended): nothing to sweep."""
        self._redis.zrem(_POLLING, job_id)

    def overdue_polls(self, due_before: float, limit: int = 500) -> list[str]:
        """The jobs whose next poll was due before `due_before`, oldest first."""
        found = self._redis.zrangebyscore(_POLLING, "-inf", due_before, start=0, num=limit)
        return [str(job_id) for job_id in found]

    # --- submitting ----------------------------------------------------------------------------

    def record_submit(self, job_id: str, state: SubmitState) -> None:
        """Record the submit due (when one is scheduled, and when one starts running) and index
        the batch by its due time for the sweep."""
        key = self._key(job_id)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(key, "submit", json.dumps(asdict(state)))
        pipe.expire(key, self._ttl)
        pipe.zadd(_SUBMITTING, {job_id: state.due})
        pipe.expire(_SUBMITTING, self._ttl)
        pipe.execute()

    def submit_state(self, job_id: str) -> SubmitState | None:
        found = self._get_json(job_id, "submit")
        return SubmitState(**found) if isinstance(found, dict) else None

    def stop_submitting(self, job_id: str) -> None:
        """No submit is awaited any more (its batches are recorded, or the batch ended)."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.hdel(self._key(job_id), "submit")
        pipe.zrem(_SUBMITTING, job_id)
        pipe.execute()

    def overdue_submits(self, due_before: float, limit: int = 500) -> list[str]:
        """The jobs whose submit was due before `due_before`, oldest first."""
        found = self._redis.zrangebyscore(_SUBMITTING, "-inf", due_before, start=0, num=limit)
        return [str(job_id) for job_id in found]

    # --- locks ----------------------------------------------------------------------------------

    def poll_lock(self, job_id: str, lease_seconds: float) -> AbstractContextManager[bool]:
        """Yields True when this poll holds the batch's poll lease (False: another poll runs).
        The lease is renewed while the poll runs, and so is its due time in the sweep's index:
        a poll whose worker died frees the batch, and is overdue, within one lease."""
        return leased(self._redis, f"{self._key(job_id)}:poll-lock", lease_seconds,
                      on_renew=lambda ttl: self._push_due(_POLLING, job_id, ttl))  # fmt: skip

    def submit_lock(self, job_id: str, lease_seconds: float) -> AbstractContextManager[bool]:
        """Yields True when this submit holds the batch's submit lease (False: another submit
        runs, and sees its round through); renewed like the poll's."""
        return leased(self._redis, f"{self._key(job_id)}:submit-lock", lease_seconds,
                      on_renew=lambda ttl: self._push_due(_SUBMITTING, job_id, ttl))  # fmt: skip

    def _push_due(self, index: str, job_id: str, ttl_seconds: float) -> None:
        """A running poll or submit is due again one lease from now at the earliest: only a
        member still indexed (XX) and only later (GT), so a chain that moved on or ended is
        never pulled back into the sweep."""
        self._redis.zadd(index, {job_id: time.time() + ttl_seconds}, xx=True, gt=True)
