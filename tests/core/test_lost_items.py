"""Batch items whose message the Redis broker lost are found and only those: real Redis
(database 7, flushed around each test) holding a real admission state and kombu-shaped
messages on the queue and in the unacked hash, and the items' leases."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from eyeflow_worker.core.admission import Admission
from eyeflow_worker.core.job_leases import LeaseStore, Work, item_lease_key
from eyeflow_worker.core.lost_items import (
    CONFIRM_SECONDS,
    MIN_AGE_SECONDS,
    broker_client,
    find_lost,
    present_task_ids,
)
from eyeflow_worker.core.records import JobStore, NewJob, batch_task_id
from eyeflow_worker.core.redis_client import get_redis
from eyeflow_worker.core.settings import Settings

REDIS_URL = os.environ.get("EYEFLOW_TEST_REDIS", "redis://127.0.0.1:6379") + "/7"
QUEUE = "eyeflow.test.lost"


@pytest.fixture
def db7() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    assert client.connection_pool.connection_kwargs["db"] == 7
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def _message(task_id: str) -> str:
    return json.dumps({"body": "W10=", "headers": {"id": task_id, "task": "x"}, "properties": {}})


def _admitted_batch(db7: redis.Redis, total: int) -> tuple[Admission, str, float]:
    store = JobStore(db7, 3600)
    job_id = str(uuid.uuid4())
    store.create(NewJob(job_id, "t1", "batch", {}, intents=tuple(f"i{n}" for n in range(total))))
    assert store.start(job_id)
    admission = Admission(db7, QUEUE, 3600)
    assert admission.register(job_id, "t1", 0) == total
    admitted_at = time.time()
    claims = admission.claim(100, 100, 100)
    admission.sent(claims)
    assert len(claims) == total
    return admission, job_id, admitted_at


def test_an_item_neither_queued_nor_leased_twice_is_lost_the_others_are_not(
    db7: redis.Redis,
) -> None:
    admission, job_id, at = _admitted_batch(db7, 4)
    db7.lpush(QUEUE, _message(batch_task_id(job_id, 0, 0)))  # 0: waiting on the queue
    for index in (1, 3):  # 1 and 3: taken by a worker (delivered, unacked)
        message = json.loads(_message(batch_task_id(job_id, 0, index)))
        db7.hset("unacked", f"tag-{index}", json.dumps([message, "", QUEUE]))
    # 1 runs (a worker holds its lease); 3 was taken by a worker that died before starting it:
    # no lease, and its unacked entry would only come back after the visibility timeout.
    leases = LeaseStore(db7, 3600)
    work = Work("eyeflow.batch.item", [job_id, "t1", 1, 0], {}, QUEUE, batch_task_id(job_id, 0, 1))
    leases.acquire(item_lease_key(job_id, 0, 1), work, "live-worker", time.time(), 30)
    assert present_task_ids(db7, QUEUE) == {
        batch_task_id(job_id, 0, 0),
        batch_task_id(job_id, 0, 1),
        batch_task_id(job_id, 0, 3),
    }

    # Too young to be looked for; then missing once (a suspect), then confirmed lost.
    assert find_lost(admission, db7, QUEUE, db7, now=at + 1) == []
    first = at + MIN_AGE_SECONDS + 1
    assert find_lost(admission, db7, QUEUE, db7, now=first) == []
    lost = find_lost(admission, db7, QUEUE, db7, now=first + CONFIRM_SECONDS)
    assert sorted((c.job_id, c.index) for c in lost) == [(job_id, 2), (job_id, 3)]
    # Re-sent now: it counts as admitted again, so it is not re-sent again at the next check.
    assert find_lost(admission, db7, QUEUE, db7, now=first + CONFIRM_SECONDS + 1) == []


def test_a_message_that_reappears_clears_the_suspicion(db7: redis.Redis) -> None:
    admission, job_id, at = _admitted_batch(db7, 1)
    first = at + MIN_AGE_SECONDS + 1
    assert find_lost(admission, db7, QUEUE, db7, now=first) == []
    # Meanwhile it was re-sent to wait out a transient error (`{id}:t1`), and that message
    # re-sent by the reaper (`:rp7`): queued, so not lost.
    db7.lpush(QUEUE, _message(batch_task_id(job_id, 0, 0) + ":t1:rp7"))
    assert find_lost(admission, db7, QUEUE, db7, now=first + CONFIRM_SECONDS) == []
    db7.delete(QUEUE)
    # Missing again: a new suspicion starts; lost only after another confirmation interval.
    assert find_lost(admission, db7, QUEUE, db7, now=first + CONFIRM_SECONDS + 1) == []
    assert len(find_lost(admission, db7, QUEUE, db7, now=first + 2 * CONFIRM_SECONDS + 1)) == 1


def test_an_item_stored_and_released_is_never_looked_for(db7: redis.Redis) -> None:
    admission, job_id, at = _admitted_batch(db7, 1)
    assert admission.release(job_id, "t1", 0, 0)
    first = at + MIN_AGE_SECONDS + 1
    assert find_lost(admission, db7, QUEUE, db7, now=first) == []
    assert find_lost(admission, db7, QUEUE, db7, now=first + CONFIRM_SECONDS) == []


def test_malformed_broker_entries_are_ignored(db7: redis.Redis) -> None:
    db7.lpush(QUEUE, "not json", json.dumps({"headers": {}}), json.dumps([1, 2]))
    db7.hset("unacked", mapping={"a": "{}", "b": "[]", "c": json.dumps([{"headers": {"id": "x"}}])})
    assert present_task_ids(db7, QUEUE) == {"x"}


def test_only_a_redis_broker_is_scanned() -> None:
    records_url, other_url = REDIS_URL, REDIS_URL.rsplit("/", 1)[0] + "/8"

    def settings(broker_url: str | None) -> Settings:
        return Settings(_env_file=None, redis_url=records_url, broker_url=broker_url)  # type: ignore[call-arg]

    assert broker_client(settings("amqp://guest:guest@127.0.0.1:5672//")) is None
    records = get_redis(settings(None))
    assert broker_client(settings(None)) is records
    assert broker_client(settings(records_url)) is records
    other = broker_client(settings(other_url))
    assert other is not None
    assert other is not records
