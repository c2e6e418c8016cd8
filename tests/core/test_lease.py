"""Leases against a real Redis (database 7, keys of each test's own prefix): one holder at a
time, renewed while held, freed at release or — for a holder killed with SIGKILL — within one
lease; a holder that lost its lease never extends or frees the next holder's. Then the economy
poll/submit leases: their renewals push the batch's due time in the sweep's index, never
bringing back a chain that ended."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from eyeflow_worker.core.economy_records import EconomyStore
from eyeflow_worker.core.lease import Heartbeat, RedisLease, leased

REDIS_URL = os.environ.get("EYEFLOW_TEST_REDIS", "redis://127.0.0.1:6379") + "/7"


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield connection
    connection.close()


@pytest.fixture
def key(client: redis.Redis) -> Iterator[str]:
    name = f"test:lease:{uuid.uuid4().hex}"
    yield name
    client.delete(name)


def wait_for(condition: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.02)
    return False


def test_one_holder_at_a_time_and_free_after_release(client: redis.Redis, key: str) -> None:
    first = RedisLease(client, key, 5.0)
    assert first.acquire()
    assert not RedisLease(client, key, 5.0).acquire()
    first.release()
    second = RedisLease(client, key, 5.0)
    assert second.acquire()
    second.release()
    assert client.exists(key) == 0


def test_a_lease_is_renewed_for_as_long_as_it_is_held(client: redis.Redis, key: str) -> None:
    renewals: list[float] = []
    lease = RedisLease(client, key, 0.6, on_renew=renewals.append)
    assert lease.acquire()
    time.sleep(2.0)  # more than three leases: only renewals keep it
    assert not RedisLease(client, key, 0.6).acquire()
    assert len(renewals) >= 4
    assert renewals[0] == 0.6
    lease.release()
    assert client.exists(key) == 0


def test_a_killed_holder_frees_the_lease_within_one_ttl(client: redis.Redis, key: str) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time, redis\n"
                "from eyeflow_worker.core.lease import RedisLease\n"
                f"lease = RedisLease(redis.Redis.from_url({REDIS_URL!r}), {key!r}, 1.0)\n"
                "assert lease.acquire()\n"
                "print('held', flush=True)\n"
                "time.sleep(60)\n"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        time.sleep(1.5)  # renewed past its first ttl while the holder lives
        assert client.exists(key) == 1
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=5)
        killed_at = time.monotonic()
        taker = RedisLease(client, key, 5.0)
        assert wait_for(taker.acquire, timeout=3.0)
        assert time.monotonic() - killed_at <= 1.0 + 0.5
        taker.release()
    finally:
        holder.kill()
        holder.wait(timeout=5)
        if holder.stdout is not None:
            holder.stdout.close()


def test_a_holder_that_lost_its_lease_neither_extends_nor_frees_the_next(
    client: redis.Redis, key: str
) -> None:
    stale = RedisLease(client, key, 0.6)
    assert stale.acquire()
    client.set(key, "someone-else", px=10_000)  # its lease lapsed and another holder took it

    assert wait_for(lambda: stale.lost, timeout=2.0)
    stale.release()

    assert client.get(key) == "someone-else"
    assert client.pttl(key) > 8_000  # not re-extended to 0.6 s either


def test_a_failing_beat_is_tried_again_not_fatal() -> None:
    calls: list[int] = []

    def beat() -> bool:
        calls.append(1)
        if len(calls) < 3:
            raise redis.ConnectionError("Redis restarting")
        return True

    heartbeat = Heartbeat(beat, 0.05, "test")
    heartbeat.start()
    assert wait_for(lambda: len(calls) >= 4, timeout=2.0)
    heartbeat.stop()
    assert not heartbeat.lost


def test_leased_yields_false_while_another_holds_it(client: redis.Redis, key: str) -> None:
    with leased(client, key, 5.0) as first:
        assert first
        with leased(client, key, 5.0) as second:
            assert not second
        assert client.exists(key) == 1  # the one refused released nothing
    assert client.exists(key) == 0


def test_a_running_polls_renewals_push_its_due_time_and_spare_ended_chains(
    client: redis.Redis,
) -> None:
    store = EconomyStore(client, 3600)
    job_id = f"test-lease-{uuid.uuid4().hex}"
    ended_job = f"test-lease-{uuid.uuid4().hex}"
    index = "eyeflow:economy:polling"
    now = time.time()
    client.zadd(index, {job_id: now + 0.1})
    try:
        with store.poll_lock(ended_job, 3.0) as held:
            assert held
        with store.poll_lock(job_id, 3.0) as held:
            assert held
            assert not RedisLease(client, f"eyeflow:job:{job_id}:economy:poll-lock", 3.0).acquire()
            time.sleep(1.3)  # one renewal (every ttl / 3)
            due = client.zscore(index, job_id)
            assert due is not None
            assert due >= now + 2.5
        assert client.zscore(index, ended_job) is None  # a chain not indexed stays out
    finally:
        client.zrem(index, job_id, ended_job)
        client.delete(f"eyeflow:job:{job_id}:economy", f"eyeflow:job:{ended_job}:economy")
