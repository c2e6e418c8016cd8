"""Finding batch items whose message the Redis broker lost, so they can be sent again.

Kombu's Redis transport takes a message off the queue (`BRPOP`) and only then records it as
delivered-but-unacked (a second round trip). A worker killed between the two loses the message:
it is neither queued nor unacked, so no visibility-timeout restore brings it back, and its batch
would never end. A worker killed after recording it but before starting it leaves it unacked
until the visibility timeout (an hour), with no lease for the reaper to take back. Admission
knows every item in flight (`core/admission.py`); an item that has been in flight a while whose
message is not on the batch queue and that has no lease (`core/job_leases.py`: every item a
worker started holds one until stored, and one waiting out a transient error has one handed to
its re-try) — twice, `CONFIRM_SECONDS` apart, since a taken message is leased within
milliseconds — was lost, and is sent again under its deterministic task id (a duplicate stores
the item once: the lease and `ITEM_DONE`).

The batch queue is short by construction (admission caps the items in flight at
`BATCH_MAX_IN_FLIGHT`). Only the Redis broker loses messages this way; on RabbitMQ a dead
consumer's messages return by themselves, and nothing is scanned (`broker_client` is None).
"""

from __future__ import annotations

import json
import re
import time

import redis

from eyeflow_worker.core.admission import Admission, Claim
from eyeflow_worker.core.broker import fleet_broker_kind
from eyeflow_worker.core.job_leases import item_lease_key
from eyeflow_worker.core.records import batch_task_id
from eyeflow_worker.core.redis_client import get_redis
from eyeflow_worker.core.settings import Settings

# How long an item must have been admitted before it is looked for, and how long it must stay
# missing before it counts as lost.
MIN_AGE_SECONDS = 10.0
CONFIRM_SECONDS = 5.0
_UNACKED_HASH = "unacked"
_RESEND_SUFFIX = re.compile(r"(:(t|rp)\d+)+$")  # kombu's Redis transport default (`unacked_key`)


def broker_client(settings: Settings) -> redis.Redis | None:
    """The process's client for the broker's Redis (`get_redis`: the records' own client when
    they share a URL, short timeouts so a half-open connection cannot hang the ticker); None
    when the broker is not Redis — RabbitMQ loses no message between delivery and its
    unacked bookkeeping (the broker does both), and returns a dead consumer's by itself."""
    if fleet_broker_kind(settings) == "redis":
        return get_redis(settings, settings.effective_broker_url)
    return None


def present_task_ids(broker: redis.Redis, queue: str) -> set[str]:
    """The task ids of every message queued on `queue` or delivered and not yet acked, each
    without the `:t{n}` suffix of an item's re-send."""
    pipe = broker.pipeline(transaction=False)
    pipe.lrange(queue, 0, -1)
    pipe.hvals(_UNACKED_HASH)
    queued, unacked = pipe.execute()
    ids = {_task_id(raw) for raw in queued}
    ids.update(_task_id(raw, wrapped=True) for raw in unacked)
    ids.discard("")
    return {_RESEND_SUFFIX.sub("", task_id) for task_id in ids}


def find_lost(
    admission: Admission,
    broker: redis.Redis,
    queue: str,
    records: redis.Redis,
    now: float | None = None,
) -> list[Claim]:
    """Items in flight for `MIN_AGE_SECONDS` whose message has been missing from the broker for
    `CONFIRM_SECONDS`: to send again. Marks the newly missing ones as suspects."""
    now = time.time() if now is None else now
    candidates = admission.in_flight_since(now - MIN_AGE_SECONDS)
    if not candidates:
        return []
    queued = queued_task_ids(broker, queue)
    unqueued = [claim for claim in candidates if not has_message(claim, queued)]
    leased = _leased(records, unqueued)
    missing = [claim for claim, has_lease in zip(unqueued, leased, strict=True) if not has_lease]
    return admission.confirm_missing(missing, now, CONFIRM_SECONDS)


def queued_task_ids(broker: redis.Redis, queue: str) -> set[str]:
    """The task ids of the messages waiting on `queue`, re-send suffixes stripped."""
    ids = {_task_id(raw) for raw in broker.lrange(queue, 0, -1)}
    ids.discard("")
    return {_RESEND_SUFFIX.sub("", task_id) for task_id in ids}


def _leased(records: redis.Redis, claims: list[Claim]) -> list[bool]:
    """Does each item have a lease (a worker runs it, or its re-try's message is on its way)?
    A message a worker took is leased within milliseconds; one that is neither queued nor
    leased is lost — also one a dead worker had taken and never started, which sits in the
    unacked hash until the visibility timeout."""
    if not claims:
        return []
    pipe = records.pipeline(transaction=False)
    for claim in claims:
        pipe.exists(item_lease_key(claim.job_id, claim.run, claim.index))
    return [bool(found) for found in pipe.execute()]


def has_message(claim: Claim, present: set[str]) -> bool:
    """Is the item's message among `present` (task ids with the `:t{n}` of a re-send — one it
    sent to wait out a transient error — stripped)?"""
    return batch_task_id(claim.job_id, claim.run, claim.index) in present


def _task_id(raw: str | bytes, wrapped: bool = False) -> str:
    """A kombu message's task id; unacked entries are `[message, exchange, routing_key]`."""
    try:
        message = json.loads(raw)
        if wrapped:
            message = message[0]
        return str(message["headers"]["id"])
    except (ValueError, KeyError, IndexError, TypeError):
        return ""
