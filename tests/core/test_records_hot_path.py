"""The submission's and the worker's single round trips (real Redis, database 15; only the keys
made here are deleted): accepting a job takes the rate token, claims the Idempotency-Key and
writes the record all or nothing; a worker leases, starts and reads a job in one script; the
script that ends a job ends its lease and counts it, once."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from eyeflow_worker.core.metrics import METRICS_KEY, job_ended_increments
from eyeflow_worker.core.record_lease import LEASES, LeaseAsk, Work
from eyeflow_worker.core.records import Claim, JobStore, NewJob, job_key
from eyeflow_worker.core.submit_rate import SubmitRate, bucket_key

REDIS_URL = os.environ.get("EYEFLOW_TEST_REDIS", "redis://127.0.0.1:6379") + "/15"


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield connection
    for pattern in ("eyeflow:job:hot-path-*", "eyeflow:submit-rate:t-hot-*", "hot-path-test:*"):
        for key in connection.scan_iter(match=pattern):
            connection.delete(key)
    connection.close()


def _job(kind: str = "evaluate", intents: tuple[str, ...] = ()) -> NewJob:
    tenant = f"t-hot-{uuid.uuid4().hex[:8]}"
    return NewJob(f"hot-path-{uuid.uuid4()}", tenant, kind, {"condition": "1"}, intents=intents)  # type: ignore[arg-type]


def test_over_the_rate_nothing_is_written_and_a_held_claim_takes_no_token(
    client: redis.Redis,
) -> None:
    store = JobStore(client, 60)
    rate = SubmitRate(client, per_minute=60, burst=1)
    first = _job()
    claim = Claim(f"hot-path-test:{uuid.uuid4()}", '{"job_id": "x", "ready": false}', 60)
    assert store.accept(first, rate=rate, claim=claim).outcome == "created"
    assert client.hget(job_key(first.job_id), "status") == "queued"
    assert client.get(claim.key) == claim.value
    assert 0 < client.ttl(claim.key) <= 60
    # The same claim again: answered with what holds it, no token taken, nothing written.
    tokens = client.hget(bucket_key(first.tenant), "tokens")
    repeat = _job()
    held = store.accept(repeat, rate=rate, claim=claim)
    assert (held.outcome, held.held_value) == ("held", claim.value)
    assert client.hget(bucket_key(first.tenant), "tokens") == tokens
    assert not client.exists(job_key(repeat.job_id))
    # Over the rate: how long to wait, and neither the record nor the claim.
    second = NewJob(f"hot-path-{uuid.uuid4()}", first.tenant, "evaluate", {"condition": "1"})
    other_claim = Claim(f"hot-path-test:{uuid.uuid4()}", "{}", 60)
    refused = store.accept(second, rate=rate, claim=other_claim)
    assert refused.outcome == "rate"
    assert refused.retry_after is not None
    assert 0 < refused.retry_after <= 1.0
    assert not client.exists(job_key(second.job_id), other_claim.key)


def test_a_batch_of_thousands_of_intents_is_written_in_order(client: redis.Redis) -> None:
    intents = tuple(f"intent {i}" for i in range(2500))  # more than one unpack() chunk
    job = _job("batch", intents)
    assert JobStore(client, 60).accept(job).outcome == "created"
    key = job_key(job.job_id)
    assert client.lrange(f"{key}:intents", 0, -1) == list(intents)
    assert client.hget(key, "total") == "2500"
    assert 0 < client.ttl(f"{key}:intents") <= 60
    client.delete(f"{key}:intents")


def test_begin_leases_starts_and_reads_in_one_step_and_refuses_an_ended_job(
    client: redis.Redis,
) -> None:
    store = JobStore(client, 60)
    job = _job()
    store.create(job)
    work = Work("eyeflow.evaluate", [job.job_id, job.tenant], {}, "q", job.job_id)
    begun = store.begin(job.job_id, LeaseAsk(work, "w1", time.time(), 30.0))
    try:
        assert begun.code == 1
        assert begun.record is not None
        assert (begun.record["status"], begun.record["attempts"]) == ("running", "1")
        assert begun.payload == {"condition": "1"}
        assert begun.record["started_at"]
        assert client.hget(job_key(job.job_id), "lease_token") == begun.token
        assert store.succeed(job.job_id, {"result": True}, lease=begun.token)
        assert client.hget(job_key(job.job_id), "lease_token") is None
        assert store.begin(job.job_id, LeaseAsk(work, "w1", time.time(), 30.0)).code == 2
        gone = f"hot-path-{uuid.uuid4()}"  # no such job
        assert store.begin(gone, LeaseAsk(work, "w1", time.time(), 30.0)).code == -1
    finally:
        client.zrem(LEASES, job_key(job.job_id))


def test_the_script_that_ends_a_job_counts_it_once(client: redis.Redis) -> None:
    store = JobStore(client, 60)
    job = _job()
    store.create(job)
    kind = f"hot-{uuid.uuid4().hex[:6]}"  # a label of this test's own in the shared hash
    counted = job_ended_increments(kind, "succeeded", queue_wait=0.01, run=0.2)
    field = f"eyeflow_jobs|kind={kind},status=succeeded"
    try:
        assert store.succeed(job.job_id, {"result": True}, counted)
        assert not store.succeed(job.job_id, {"result": True}, counted)  # ended already
        assert not store.fail(job.job_id, {"code": "x"}, counted)
        assert client.hget(METRICS_KEY, field) == "1"
        run_sum = f"eyeflow_job_run_seconds:sum|l={kind}"
        assert float(client.hget(METRICS_KEY, run_sum) or 0) == pytest.approx(0.2)
        assert client.hget(METRICS_KEY, f"eyeflow_job_run_seconds:bucket|l={kind},le=0.25") == "1"
    finally:
        client.hdel(METRICS_KEY, *[name for _, name, _ in counted])
