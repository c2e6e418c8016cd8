"""Finding batch items whose message the Redis broker lost, so they can be sent again.

Kombu's Redis transport takes a message off the queue (`BRPOP`) and only then records it as
delivered-but-unacked (a second round trip). A worker killed between the two loses the message:
it is neither queued nor unacked, so no visibility-timeout restore brings it back, and its batch
would never end. Admission knows every item in flight (`core/admission.py`); an item that has
been in flight a while and whose message is on neither the batch queue nor the unacked hash —
twice, `CONFIRM_SECONDS` apart, since a message moves from one to the other in between — was
lost, and is sent again under its deterministic task id (a duplicate stores the item once).

The batch queue is short by construction (admission caps the items in flight at
`BATCH_MAX_IN_FLIGHT`); the unacked hash holds every queue's delivered messages, which the
workers' concurrency bounds. One pipelined round trip reads both. Only the Redis broker loses
messages this way; on RabbitMQ a dead consumer's messages return by themselves, and nothing is
scanned (`broker_client` is None).
"""

from __future__ import annotations

import json
import re
import time

import redis

from eyeflow_worker.core.admission import Admission, Claim
from eyeflow_worker.core.records import batch_task_id
from eyeflow_worker.core.redis_client import get_redis
from eyeflow_worker.core.settings import Settings

# How long an item must have been admitted before it is looked for, and how long it must stay
# missing before it counts as lost.
MIN_AGE_SECONDS = 10.0
CONFIRM_SECONDS = 5.0
_UNACKED_HASH = "unacked"
_RESEND_SUFFIX = re.compile(r":t\d+$")  # kombu's Redis transport default (`unacked_key`)


def broker_client(settings: Settings) -> redis.Redis | None:
    """The process's client for the broker's Redis (`get_redis`: the records' own client when
    they share a URL, short timeouts so a half-open connection cannot hang the ticker); None
    when the broker is not Redis."""
    url = settings.effective_broker_url
    if url.startswith(("redis://", "rediss://", "unix://")):
        return get_redis(settings, url)
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
    admission: Admission, broker: redis.Redis, queue: str, now: float | None = None
) -> list[Claim]:
    """Items in flight for `MIN_AGE_SECONDS` whose message has been missing from the broker for
    `CONFIRM_SECONDS`: to send again. Marks the newly missing ones as suspects."""
    now = time.time() if now is None else now
    candidates = admission.in_flight_since(now - MIN_AGE_SECONDS)
    if not candidates:
        return []
    present = present_task_ids(broker, queue)
    missing = [claim for claim in candidates if not has_message(claim, present)]
    return admission.confirm_missing(missing, now, CONFIRM_SECONDS)


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
