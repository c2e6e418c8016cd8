"""Fair admission of batch items to the batch queue: round-robin across tenants, and across one
tenant's batches, under a per-tenant and a fleet-wide cap on items in flight.

A batch does not put all its items on the (FIFO) batch queue at once: that would hold every
other tenant's batch behind one tenant's 5,000 items. It registers its open items here; they are
*admitted* — sent to the batch queue — a few at a time, whenever a slot frees up: when a batch
starts, each time a worker finishes an item (it admits the next ones), and on beat's tick. Every
step is one Lua script (`admission_scripts.py`), so concurrent admitters never race.

Layout (prefix `eyeflow:admission:{batch queue}:`, so two fleets on one Redis stay apart):
  turn                  counter: the round-robin clock (a ring position is the turn it was
                        last served at; lowest goes next)
  tenants               sorted set: tenant -> turn; the tenants with pending items
  batches:{tenant}      sorted set: job id -> turn; that tenant's batches with pending items
  batch:{job}           hash: tenant, run (the run whose items are pending); TTL = record TTL
  pending:{job}         sorted set: index -> index; the items not admitted yet; TTL = record TTL
  inflight              sorted set: member -> admit time; every item in flight (queued, running,
                        or waiting out a transient error), all tenants
  inflight:{tenant}     sorted set: the same, that tenant's
  sending               sorted set: member -> claim time; claimed, not yet confirmed on the broker
  suspects              sorted set: member -> when its message was first found missing from
                        the broker (`core/lost_items.py`)

A member is `{job}|{run}|{index}|{tenant}`. In flight is a *set* of members, never a counter:
releasing removes a member, so a message run twice (a redelivery, a duplicate) frees one slot.

Crash windows: a claimed item is in `sending` until its message is confirmed sent; a claimer
that dies in between leaves it there, and the tick sends it again once it is older than
`STALE_SENDING_SECONDS` and not on the broker. A duplicate message stores the item once, but
if both copies run at the same moment the provider is called twice: per-job leases (not yet
built) are what would close that. A broker
that refuses the send gets the items put back (`unclaim`). A worker that dies after storing an
item but before releasing it has its message redelivered (late acks), which finds the item done
and releases it. A batch that ends some other way (cancel, record expired) is pruned by the tick.
A message the Redis broker itself lost (a worker killed between taking it and recording it as
unacked) is found by `core/lost_items.py` and sent again.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, cast

import redis

from eyeflow_worker.core import admission_scripts as scripts
from eyeflow_worker.core.records import job_key

# A claimer sends its items milliseconds after claiming them; items still unconfirmed after this
# long lost their claimer (or its broker connection) in between.
STALE_SENDING_SECONDS = 30.0

_JOB_PREFIX = job_key("")  # the scripts read the batches' records (status, run, stored items)


@dataclass(frozen=True)
class Claim:
    """An item admitted to the batch queue: what its message carries."""

    job_id: str
    tenant: str
    index: int
    run: int

    @property
    def member(self) -> str:
        return item_member(self.job_id, self.run, self.index, self.tenant)


def item_member(job_id: str, run: int, index: int, tenant: str) -> str:
    return f"{job_id}|{run}|{index}|{tenant}"


def parse_member(member: str) -> Claim:
    job_id, run, index, tenant = member.split("|", 3)
    return Claim(job_id, tenant, int(index), int(run))


def admission_prefix(batch_queue: str) -> str:
    return f"eyeflow:admission:{batch_queue}:"


class Admission:
    """The scheduler of one batch queue. Caps are passed per call (they are settings)."""

    def __init__(self, client: redis.Redis, batch_queue: str, ttl_seconds: int) -> None:
        self._redis = client
        self._prefix = admission_prefix(batch_queue)
        self._ttl = ttl_seconds
        self._register = client.register_script(scripts.REGISTER)
        self._claim = client.register_script(scripts.CLAIM)
        self._unclaim = client.register_script(scripts.UNCLAIM)
        self._release = client.register_script(scripts.RELEASE)
        self._reclaim = client.register_script(scripts.RECLAIM)
        self._prune = client.register_script(scripts.PRUNE)

    def register(self, job_id: str, tenant: str, run: int) -> int:
        """Register the open items of the batch's run `run` (idempotent); how many were new, -1
        when the batch is over or `run` is not its current run."""
        added = self._register(args=[self._prefix, _JOB_PREFIX, job_id, tenant, run, self._ttl])
        return int(added)

    def claim(self, tenant_cap: int, fleet_cap: int, limit: int) -> list[Claim]:
        """Claim up to `limit` items, round-robin, within the caps. Each must then be sent and
        confirmed with `sent`, or put back with `unclaim`."""
        rows = self._claim(
            args=[self._prefix, _JOB_PREFIX, tenant_cap, fleet_cap, time.time(), limit, self._ttl]
        )
        return [Claim(str(job), str(who), int(index), int(run)) for job, who, index, run in rows]

    def sent(self, claims: list[Claim]) -> None:
        """Their messages are on the broker: they are no longer at risk of being lost."""
        if claims:
            self._redis.zrem(self._key("sending"), *(claim.member for claim in claims))

    def unclaim(self, claims: list[Claim]) -> int:
        """Put back items whose message could not be sent; how many went back to pending."""
        if not claims:
            return 0
        members = [claim.member for claim in claims]
        return int(self._unclaim(args=[self._prefix, self._ttl, *members]))

    def release(self, job_id: str, tenant: str, run: int, index: int) -> bool:
        """Free the item's slot (it was stored, or its message found it over or stale); True when
        this call freed it, False when it was free already."""
        member = item_member(job_id, run, index, tenant)
        return bool(self._release(args=[self._prefix, member, tenant]))

    def reclaim_stale(
        self, older_than_seconds: float = STALE_SENDING_SECONDS, limit: int = 500
    ) -> list[Claim]:
        """Claimed items never confirmed sent within `older_than_seconds`: to send again."""
        now = time.time()
        members = self._reclaim(args=[self._prefix, now - older_than_seconds, now, limit])
        return [parse_member(str(member)) for member in members]

    def waiting(self, job_id: str, tenant: str, run: int, index: int) -> None:
        """The item waits out a transient error (a countdown message): it keeps its tenant's
        slot — its own tenant's outage holds only that tenant back — but no longer counts
        against the fleet cap, so other tenants' items are admitted meanwhile. It is no longer
        looked for by the lost-message check either (its countdown message sits unacked in a
        worker, which the broker's visibility timeout covers)."""
        self._redis.zrem(self._key("inflight"), item_member(job_id, run, index, tenant))

    def in_flight_since(self, cutoff: float, limit: int = 1000) -> list[Claim]:
        """Items in flight since `cutoff` (epoch seconds) or earlier, oldest first."""
        members = self._redis.zrangebyscore(self._key("inflight"), "-inf", cutoff, 0, limit)
        return [parse_member(str(member)) for member in members]

    def confirm_missing(
        self, missing: list[Claim], now: float, confirm_seconds: float
    ) -> list[Claim]:
        """Of `missing` (items in flight whose message the broker does not hold), those missing
        since a check at least `confirm_seconds` ago: lost. The rest become the suspects the next
        check confirms; a lost one counts as admitted `now` again (its message is re-sent)."""
        key = self._key("suspects")
        scored = cast(list[tuple[str, float]], self._redis.zrange(key, 0, -1, withscores=True))
        seen_since = {str(member): float(at) for member, at in scored}
        lost = [c for c in missing if seen_since.get(c.member, now) <= now - confirm_seconds]
        suspects = {c.member: seen_since.get(c.member, now) for c in missing if c not in lost}
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(key)
        if suspects:
            pipe.zadd(key, suspects)
            pipe.expire(key, self._ttl)
        for claim in lost:
            pipe.zadd(self._key("inflight"), {claim.member: now}, xx=True)
            pipe.zadd(self._key(f"inflight:{claim.tenant}"), {claim.member: now}, xx=True)
        pipe.execute()
        return lost

    def prune(self) -> tuple[int, int]:
        """Drop the batches that are over and free their items' slots: (batches, slots)."""
        dropped, freed = self._prune(args=[self._prefix, _JOB_PREFIX])
        return int(dropped), int(freed)

    def status(self) -> dict[str, Any]:
        """See `admission_status`."""
        return _status(self._redis, self._prefix)

    def _key(self, name: str) -> str:
        return self._prefix + name


def admission_status(client: redis.Redis, batch_queue: str) -> dict[str, Any]:
    """What operators see of a batch queue's scheduler: per tenant, the items pending (not
    admitted yet), in flight and the batches registered; and the fleet's totals. Two pipelined
    round trips, whatever the batches' sizes."""
    return _status(client, admission_prefix(batch_queue))


def _status(client: redis.Redis, prefix: str) -> dict[str, Any]:
    tenants = [str(t) for t in client.zrange(prefix + "tenants", 0, -1)]
    pipe = client.pipeline(transaction=False)
    for tenant in tenants:
        pipe.zrange(f"{prefix}batches:{tenant}", 0, -1)
    pipe.zrange(prefix + "inflight", 0, -1)
    pipe.zcard(prefix + "sending")
    *batch_lists, in_flight, sending = pipe.execute()
    per_tenant: dict[str, dict[str, int]] = defaultdict(
        lambda: {"pending": 0, "in_flight": 0, "batches": 0}
    )
    for member in in_flight:
        per_tenant[parse_member(str(member)).tenant]["in_flight"] += 1
    pipe = client.pipeline(transaction=False)
    for batches in batch_lists:
        for job in batches:
            pipe.zcard(f"{prefix}pending:{job}")
    counts = iter(pipe.execute())
    for tenant, batches in zip(tenants, batch_lists, strict=True):
        per_tenant[tenant]["batches"] = len(batches)
        per_tenant[tenant]["pending"] = sum(int(next(counts)) for _ in batches)
    return {
        "in_flight": len(in_flight),
        "sending": int(sending),
        "pending": sum(entry["pending"] for entry in per_tenant.values()),
        "tenants": dict(sorted(per_tenant.items())),
    }
