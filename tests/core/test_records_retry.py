"""Retrying a batch's failed items in the job store (real Redis, database 10 only, flushed around
each test): what is re-opened, what a concurrent retry, an old message and an undo can and
cannot do, and the `?status=` item filter. The task bodies run in-process against the same
Redis so a redelivered message of an earlier run is shown to do nothing."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from eyeflow_worker.celery_app import app
from eyeflow_worker.core.records import WEBHOOK_OUTBOX, JobStore, NewJob, NotRetryable, job_key
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.runtime import Runtime, install_runtime
from eyeflow_worker.tasks import batch
from tests.fleet.worker_process import fleet_environment
from tests.reliability.conftest import settings_from

REDIS_URL = os.environ.get("EYEFLOW_TEST_REDIS", "redis://127.0.0.1:6379") + "/10"
FAILING = {1, 4, 5, 9}  # of 12 items


@pytest.fixture
def db10() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    assert client.connection_pool.connection_kwargs["db"] == 10
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def store(db10: redis.Redis) -> JobStore:
    return JobStore(db10, 3600)


def _item(index: int, status: str) -> dict[str, Any]:
    return {"index": index, "intent": f"intent {index}", "status": status}


def _batch(store: JobStore, total: int = 12, *, webhook: bool = False) -> str:
    job_id = str(uuid.uuid4())
    store.create(
        NewJob(
            job_id=job_id,
            tenant="system",
            kind="batch",
            payload={},
            webhook_url="http://127.0.0.1:9/hook" if webhook else None,
            intents=tuple(f"intent {i}" for i in range(total)),
        )
    )
    return job_id


def _finished_batch(store: JobStore, *, failing: set[int] = FAILING, webhook: bool = False) -> str:
    job_id = _batch(store, webhook=webhook)
    assert store.start(job_id)
    outcomes = [store.record_item(job_id, i, _item(i, _outcome(i, failing))) for i in range(12)]
    assert outcomes == [1] * 11 + [2]
    return job_id


def _outcome(index: int, failing: set[int]) -> str:
    return "failed" if index in failing else "succeeded"


def _snapshot(db: redis.Redis, job_id: str) -> dict[str, Any]:
    key = job_key(job_id)
    return {
        "record": db.hgetall(key),
        "items": db.hgetall(f"{key}:items"),
        "failed": db.zrange(f"{key}:failed", 0, -1),
        "succeeded": db.zrange(f"{key}:succeeded", 0, -1),
        "outbox": db.zrange(WEBHOOK_OUTBOX, 0, -1),
    }


def test_a_retry_reopens_only_the_failed_items_and_the_batch_runs_again(store: JobStore) -> None:
    job_id = _finished_batch(store)
    before = store.get(job_id) or {}
    assert (before["status"], before["failed"], before["succeeded"]) == ("succeeded", "4", "8")
    assert "finished_at" in before

    assert store.retry_failed(job_id) == sorted(FAILING)

    after = store.get(job_id) or {}
    assert after["status"] == "running"
    assert (after["failed"], after["succeeded"], after["retries"]) == ("0", "8", "1")
    assert "finished_at" not in after
    assert [store.item_is_done(job_id, i) for i in range(12)] == [
        i not in FAILING for i in range(12)
    ]
    reopened, matched = store.batch_items_where(job_id, "queued", 0, 100)
    assert matched == 4
    assert reopened == [
        {"index": i, "intent": f"intent {i}", "status": "queued"} for i in [1, 4, 5, 9]
    ]


def test_the_rerun_items_landing_end_the_batch_again_with_exact_counts(store: JobStore) -> None:
    job_id = _finished_batch(store, webhook=True)
    store.mark_webhook_queued(job_id)
    store.retry_failed(job_id)

    landed = [
        store.record_item(job_id, i, _item(i, "succeeded" if i < 5 else "failed"), run=1)
        for i in sorted(FAILING)
    ]

    assert landed == [1, 1, 1, 2]
    ended = store.get(job_id) or {}
    assert ended["status"] == "succeeded"
    assert (ended["succeeded"], ended["failed"]) == ("10", "2")
    assert "finished_at" in ended
    # A new end is a new event: the outbox has it again, its earlier delivery no longer counts.
    assert "webhook_queued_at" not in ended
    assert job_id in store.pending_webhooks(older_than_seconds=-1)
    failed, matched = store.batch_items_where(job_id, "failed", 0, 100)
    assert ([item["index"] for item in failed], matched) == ([5, 9], 2)


def test_a_batch_where_nothing_failed_is_left_as_it_was(store: JobStore, db10: redis.Redis) -> None:
    job_id = _finished_batch(store, failing=set())
    before = _snapshot(db10, job_id)

    assert store.retry_failed(job_id) == []

    assert _snapshot(db10, job_id) == before


@pytest.mark.parametrize("state", ["queued", "running", "retrying", "cancelled"])
def test_only_a_finished_batch_can_be_retried(
    store: JobStore, db10: redis.Redis, state: str
) -> None:
    job_id = _batch(store)
    store.record_item(job_id, 0, _item(0, "failed"))
    if state == "cancelled":
        assert store.cancel(job_id)
    else:
        db10.hset(job_key(job_id), "status", state)
    before = _snapshot(db10, job_id)

    with pytest.raises(NotRetryable) as refused:
        store.retry_failed(job_id)

    assert refused.value.status == state
    assert _snapshot(db10, job_id) == before


def test_a_batch_that_does_not_exist_is_not_retryable(store: JobStore) -> None:
    with pytest.raises(NotRetryable) as refused:
        store.retry_failed(str(uuid.uuid4()))
    assert refused.value.status is None


def _race_retries(
    store: JobStore, job_id: str, callers: int
) -> tuple[list[list[int]], list[str | None]]:
    """`callers` threads call `retry_failed` at the same instant: what each got."""
    start = threading.Barrier(callers)
    reopened: list[list[int]] = []
    refused: list[str | None] = []

    def retry() -> None:
        start.wait()
        try:
            reopened.append(store.retry_failed(job_id))
        except NotRetryable as exc:
            refused.append(exc.status)

    threads = [threading.Thread(target=retry) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return reopened, refused


def test_concurrent_retries_reopen_each_item_once(store: JobStore) -> None:
    for _ in range(10):
        job_id = _finished_batch(store)

        reopened, refused = _race_retries(store, job_id, 8)

        assert reopened == [sorted(FAILING)]
        assert refused == ["running"] * 7
        record = store.get(job_id) or {}
        assert (record["failed"], record["retries"]) == ("0", "1")


def test_a_message_of_another_run_never_stores_a_result(store: JobStore) -> None:
    job_id = _finished_batch(store)
    store.retry_failed(job_id)

    # The first run's message for a re-opened item, redelivered: dropped, counts unchanged.
    assert store.record_item(job_id, 1, _item(1, "succeeded"), run=0) == 0
    assert store.record_item(job_id, 1, _item(1, "succeeded"), run=2) == 0
    assert not store.item_is_done(job_id, 1)
    assert (store.get(job_id) or {})["succeeded"] == "8"

    assert store.record_item(job_id, 1, _item(1, "succeeded"), run=1) == 1
    assert store.record_item(job_id, 1, _item(1, "failed"), run=1) == 0  # a duplicate of run 1
    record = store.get(job_id) or {}
    assert (record["succeeded"], record["failed"]) == ("9", "0")


def test_an_undone_retry_puts_everything_back(store: JobStore, db10: redis.Redis) -> None:
    job_id = _finished_batch(store, webhook=True)
    store.mark_webhook_queued(job_id)
    store.record_webhook(job_id, {"status": "delivered", "attempts": 1})
    before = _snapshot(db10, job_id)

    store.retry_failed(job_id)
    assert store.undo_retry(job_id, 1)

    after = _snapshot(db10, job_id)
    assert after["record"].pop("retries") == "1"  # the run stays used: its messages are stale
    assert after == before
    assert not db10.exists(f"{job_key(job_id)}:reopened")
    # Any message of the undone run that reached the broker anyway does nothing.
    assert store.record_item(job_id, 1, _item(1, "succeeded"), run=1) == 0
    # And the batch can be retried again, as run 2.
    assert store.retry_failed(job_id) == sorted(FAILING)
    assert (store.get(job_id) or {})["retries"] == "2"


def test_an_undo_puts_a_webhook_never_queued_back_in_the_outbox(
    store: JobStore, db10: redis.Redis
) -> None:
    job_id = _finished_batch(store, webhook=True)
    store.retry_failed(job_id)
    store.drop_from_outbox(job_id)  # beat's sweep saw a running batch meanwhile

    assert store.undo_retry(job_id, 1)

    assert db10.zscore(WEBHOOK_OUTBOX, job_id) is not None


def test_an_undo_is_refused_once_the_batch_moved_on(store: JobStore) -> None:
    job_id = _finished_batch(store)
    store.retry_failed(job_id)
    assert not store.undo_retry(job_id, 2)  # not the current run
    assert store.cancel(job_id)

    assert not store.undo_retry(job_id, 1)

    record = store.get(job_id) or {}
    assert (record["status"], record["failed"]) == ("cancelled", "0")


def test_status_filter_pages_over_the_matching_items_in_order(store: JobStore) -> None:
    job_id = _batch(store)
    assert store.start(job_id)
    for i in range(10):  # items 10 and 11 stay queued
        store.record_item(job_id, i, _item(i, _outcome(i, FAILING)))

    pages = [store.batch_items_where(job_id, "succeeded", offset, 2) for offset in (0, 2, 4)]
    assert [[item["index"] for item in items] for items, _ in pages] == [[0, 2], [3, 6], [7, 8]]
    assert {matched for _, matched in pages} == {6}
    failed, matched = store.batch_items_where(job_id, "failed", 3, 10)
    assert ([item["index"] for item in failed], matched) == ([9], 4)
    queued, matched = store.batch_items_where(job_id, "queued", 0, 10)
    assert (queued, matched) == (
        [{"index": i, "intent": f"intent {i}", "status": "queued"} for i in (10, 11)],
        2,
    )
    assert store.batch_items_where(job_id, "cancelled", 0, 10) == ([], 0)

    assert store.cancel(job_id)
    assert store.batch_items_where(job_id, "queued", 0, 10) == ([], 0)
    cancelled, matched = store.batch_items_where(job_id, "cancelled", 1, 10)
    assert ([item["index"] for item in cancelled], matched) == ([11], 2)
    assert cancelled[0]["status"] == "cancelled"


# --- the task bodies, in-process ------------------------------------------------------------


class NoBroker:
    """Stands in for the broker webhooks are sent to: these batches have none."""

    def send_task(self, name: str, args: list[Any], **_: Any) -> None:
        raise AssertionError(f"unexpected send of {name}{args}")


@pytest.fixture
def rt(db10: redis.Redis) -> Iterator[Runtime]:
    settings = settings_from(fleet_environment(REDIS_URL))  # the offline provider
    assert settings.redis_url == REDIS_URL
    assert db10.ping()
    runtime = Runtime.build(settings, NoBroker())  # type: ignore[arg-type]
    previous = getattr(app, "eyeflow_runtime", None)
    install_runtime(app, runtime)
    yield runtime
    app.eyeflow_runtime = previous


@pytest.fixture
def fanned_out(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[Any], str]]:
    sent: list[tuple[list[Any], str]] = []

    def apply_async(args: list[Any], task_id: str, **_: Any) -> None:
        sent.append((args, task_id))

    monkeypatch.setattr(batch.generate_item, "apply_async", apply_async)
    return sent


def test_the_rerun_start_fans_out_the_reopened_items_under_new_task_ids(
    rt: Runtime, fanned_out: list[tuple[list[Any], str]]
) -> None:
    job_id = _finished_batch(rt.jobs)
    rt.jobs.retry_failed(job_id)

    batch.start_batch.run(job_id, "system", 0)  # the submission's start message, redelivered
    assert fanned_out == []
    attempts = (rt.jobs.get(job_id) or {})["attempts"]

    batch.start_batch.run(job_id, "system", 1)

    assert fanned_out == [([job_id, "system", i, 1], f"{job_id}:{i}:r1") for i in sorted(FAILING)]
    assert int((rt.jobs.get(job_id) or {})["attempts"]) == int(attempts) + 1


def test_an_old_item_message_redelivered_after_the_retry_does_nothing(rt: Runtime) -> None:
    job_id = _finished_batch(rt.jobs)
    rt.jobs.retry_failed(job_id)

    batch.generate_item.run(job_id, "system", 1)  # run 0's message for item 1

    assert not rt.jobs.item_is_done(job_id, 1)
    assert (rt.jobs.get(job_id) or {})["succeeded"] == "8"

    for index in sorted(FAILING):
        batch.generate_item.run(job_id, "system", index, 1)

    record = rt.jobs.get(job_id) or {}
    assert (record["status"], record["succeeded"], record["failed"]) == ("succeeded", "12", "0")
    items, _ = rt.jobs.batch_items_where(job_id, "succeeded", 0, 100)
    assert {item["index"]: item["attempt"] for item in items if item["index"] in FAILING} == {
        i: 2 for i in FAILING
    }
    batch.generate_item.run(job_id, "system", 1)  # and once the batch ended again: still nothing
    assert rt.jobs.get(job_id) == record


def test_an_undone_retry_wakes_a_wait_on_the_batch(store: JobStore, db10: redis.Redis) -> None:
    """Ended again by the undo: the done channel says so, or a `?wait` that arrived between the
    retry and its undo would sleep out its whole wait on a batch that had ended."""
    from api_gateway.waiting import DoneListener, await_terminal
    from eyeflow_worker.core.job_accept import Acceptor
    from eyeflow_worker.core.records_async import AsyncRecords

    job_id = _finished_batch(store, webhook=False)
    listener = DoneListener(db10)
    url = db10.connection_pool.connection_kwargs
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, redis_url=f"redis://{url['host']}:{url['port']}/{url['db']}"
    )

    async def wait_through_the_undo() -> dict[str, str] | None:
        with listener.watch("warm-up") as first:
            assert await first.wait(5)  # subscribed
        store.retry_failed(job_id)
        records = AsyncRecords(settings, Acceptor(db10, 60))
        await records.open()
        try:
            with listener.watch(job_id) as watch:
                undo = threading.Timer(0.2, lambda: store.undo_retry(job_id, 1))
                undo.start()
                record = await await_terminal(records, listener, watch, job_id, 5, read_first=True)
                undo.join()
        finally:
            await records.aclose()
        return record

    try:
        record = asyncio.run(wait_through_the_undo())
        assert record is not None
        assert record["status"] in ("succeeded", "failed")
    finally:
        listener.stop()
