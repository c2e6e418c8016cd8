"""`?wait`'s one listener per gateway process (real Redis, database 15; only the keys made here
are deleted): a watch taken before the job exists is woken by the job's end and reads the record
once; the listener's (re)subscription wakes every watch to read again. Watches are taken and
awaited on an event loop, as the gateway's routes do."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import redis

from api_gateway.waiting import DoneListener, await_terminal, done_listener
from eyeflow_worker.core.job_accept import Acceptor
from eyeflow_worker.core.records import JobStore, NewJob, job_key
from eyeflow_worker.core.records_async import AsyncRecords
from eyeflow_worker.core.settings import Settings
from tests.api_gateway.submit_helpers import gateway

REDIS_URL = os.environ.get("EYEFLOW_TEST_REDIS", "redis://127.0.0.1:6379") + "/15"


@asynccontextmanager
async def counted_records(client: redis.Redis) -> AsyncIterator[tuple[AsyncRecords, list[str]]]:
    """The gateway's asyncio records on this loop, and the job ids each `get` read."""
    settings = Settings(_env_file=None, redis_url=REDIS_URL)  # type: ignore[call-arg]
    records = AsyncRecords(settings, Acceptor(client, 60))
    await records.open()
    reads: list[str] = []
    real_get = records.get

    async def counted_get(job_id: str) -> dict[str, str] | None:
        reads.append(job_id)
        return await real_get(job_id)

    records.get = counted_get  # type: ignore[method-assign]
    try:
        yield records, reads
    finally:
        await records.aclose()


def on_a_loop(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    def run() -> None:
        asyncio.run(test())

    run.__name__, run.__doc__ = test.__name__, test.__doc__
    return run


@on_a_loop
async def test_a_watch_taken_before_the_job_exists_is_woken_by_its_end() -> None:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    store = JobStore(client, 60)
    listener = DoneListener(client)
    job = NewJob(f"wait-test-{uuid.uuid4()}", "t-wait", "evaluate", {"condition": "1"})
    try:
        with listener.watch("warm-up") as first:
            # Not subscribed yet when it was taken: the subscription wakes it (read again).
            assert not listener.reliable(first)
            assert await first.wait(5)
        async with counted_records(client) as (records, reads):
            with listener.watch(job.job_id) as watch:
                assert listener.reliable(watch)
                store.create(job)
                finisher = threading.Timer(0.2, lambda: store.succeed(job.job_id, {"result": 1}))
                finisher.start()
                record = await await_terminal(
                    records, listener, watch, job.job_id, 10, read_first=False
                )
                finisher.join()
            assert record is not None
            assert record["status"] == "succeeded"
            assert reads == [job.job_id]  # no read before the wake-up, one after
            # Nobody watches it any more; a watch on a job that does not end times out quietly.
            with listener.watch(f"wait-test-{uuid.uuid4()}") as idle:
                ended = await await_terminal(records, listener, idle, "none", 0.3, read_first=False)
                assert ended is None
    finally:
        listener.stop()
        client.delete(job_key(job.job_id))
        client.close()


@on_a_loop
async def test_a_waited_jobs_done_message_carries_its_record() -> None:
    """Submitted with `?wait` (`waited`): its end wakes the watch with the record itself, as
    `JobStore.get` reads it — no read at all; a job nobody waited on is announced by status."""
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    store = JobStore(client, 60)
    listener = DoneListener(client)
    waited = NewJob(f"wait-test-{uuid.uuid4()}", "t-wait", "evaluate", {"c": "1"}, waited=True)
    plain = NewJob(f"wait-test-{uuid.uuid4()}", "t-wait", "evaluate", {"c": "1"})
    try:
        with listener.watch("warm-up") as first:
            assert await first.wait(5)
        async with counted_records(client) as (records, reads):
            with listener.watch(waited.job_id) as watch, listener.watch(plain.job_id) as other:
                store.create(waited)
                store.create(plain)
                store.succeed(waited.job_id, {"result": {"value": True, "why": "1 > 0"}})
                store.fail(plain.job_id, {"message": "no"})
                record = await await_terminal(
                    records, listener, watch, waited.job_id, 10, read_first=False
                )
                assert reads == []
                assert await other.wait(5)
                assert other.record is None  # announced by its status
        assert record is not None
        assert record["status"] == "succeeded"
        assert "payload" not in record
        assert record == store.get(waited.job_id)
    finally:
        listener.stop()
        client.delete(job_key(waited.job_id), job_key(plain.job_id))
        client.close()


@on_a_loop
async def test_a_waited_job_with_a_large_result_is_announced_by_its_status() -> None:
    """Over 64 KiB the record stays out of the message (every gateway receives every done
    message): the one request waiting reads it."""
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    store = JobStore(client, 60)
    listener = DoneListener(client)
    job = NewJob(f"wait-test-{uuid.uuid4()}", "t-wait", "evaluate", {"c": "1"}, waited=True)
    try:
        async with counted_records(client) as (records, reads):
            with listener.watch(job.job_id) as watch:
                assert await watch.wait(5)  # subscribed
                store.create(job)
                store.succeed(job.job_id, {"result": "x" * 70_000})
                assert await watch.wait(5)
                assert watch.record is None
                record = await await_terminal(
                    records, listener, watch, job.job_id, 5, read_first=False
                )
            assert reads == [job.job_id]
        assert record is not None
        assert len(record["result"]) > 70_000
    finally:
        listener.stop()
        client.delete(job_key(job.job_id))
        client.close()


def _listener_threads() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == "job-done-listener")


@on_a_loop
async def test_stop_ends_the_thread_and_its_subscription_and_a_new_watch_restarts_it() -> None:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    listener = DoneListener(client)
    before = _listener_threads()
    try:
        with listener.watch("warm-up") as first:
            assert await first.wait(5)  # subscribed
        assert _listener_threads() == before + 1
        listener.stop()
        assert _listener_threads() == before
        with listener.watch("again") as again:
            assert await again.wait(5)  # a new thread subscribed: the watch is woken to read
        with listener.watch("then") as then:
            assert listener.reliable(then)  # taken while subscribed
        assert _listener_threads() == before + 1
    finally:
        listener.stop()
        client.close()
    assert _listener_threads() == before


def test_a_gateways_shutdown_stops_its_listener() -> None:
    with gateway() as gw:
        assert gw.http.post(
            "/api/conditions/evaluate?wait=0.2", json={"condition": "1 < 2", "context": {}}
        ).status_code in (200, 202)
        assert any(t.name == "job-done-listener" for t in threading.enumerate())
        listener = done_listener(gw.app.state.gateway.redis)
    assert listener._thread is None  # the shutdown's effect
