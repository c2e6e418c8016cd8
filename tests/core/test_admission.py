"""Fair admission of batch items against a real Redis (database 7 only, flushed around each test):
round-robin across tenants and across one tenant's batches, the caps, idempotent release, claimed
items that were never sent, batches that ended, retry runs; then the task bodies that drive it
(in-process, their sends captured), and the gauges operators read."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from api_gateway.main import create_app
from eyeflow_worker.celery_app import app
from eyeflow_worker.core.admission import Admission, Claim, admission_status
from eyeflow_worker.core.records import JobStore, NewJob, job_key
from eyeflow_worker.runtime import Runtime, install_runtime
from eyeflow_worker.tasks import batch, maintenance
from tests.fleet.worker_process import fleet_environment
from tests.reliability.conftest import settings_from

REDIS_URL = os.environ.get("EYEFLOW_TEST_REDIS", "redis://127.0.0.1:6379") + "/7"
QUEUE = "eyeflow.test.admission"
OPEN = 1000  # a cap that never binds


@pytest.fixture
def db7() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    assert client.connection_pool.connection_kwargs["db"] == 7
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def store(db7: redis.Redis) -> JobStore:
    return JobStore(db7, 3600)


@pytest.fixture
def admission(db7: redis.Redis) -> Admission:
    return Admission(db7, QUEUE, 3600)


def _batch(store: JobStore, tenant: str, total: int, *, start: bool = True) -> str:
    job_id = str(uuid.uuid4())
    store.create(
        NewJob(job_id, tenant, "batch", {}, intents=tuple(f"intent {i}" for i in range(total)))
    )
    if start:
        assert store.start(job_id)
    return job_id


def _order(claims: list[Claim], names: dict[str, str]) -> list[str]:
    return [f"{names[claim.job_id]}{claim.index}" for claim in claims]


def _item(index: int, status: str) -> dict[str, Any]:
    return {"index": index, "intent": f"intent {index}", "status": status}


def _admission_keys(db7: redis.Redis) -> set[str]:
    return set(db7.keys("eyeflow:admission:*"))


# --- order ------------------------------------------------------------------------------------


def test_items_are_admitted_round_robin_across_tenants(
    store: JobStore, admission: Admission
) -> None:
    big = _batch(store, "tenant-a", 10)
    small = _batch(store, "tenant-b", 3)
    assert admission.register(big, "tenant-a", 0) == 10
    assert admission.register(small, "tenant-b", 0) == 3

    claims = admission.claim(OPEN, OPEN, limit=8)

    names = {big: "A", small: "B"}
    assert _order(claims, names) == ["A0", "B0", "A1", "B1", "A2", "B2", "A3", "A4"]
    assert [claim.tenant for claim in claims[:2]] == ["tenant-a", "tenant-b"]
    assert {claim.run for claim in claims} == {0}


def test_one_tenants_batches_take_turns_too(store: JobStore, admission: Admission) -> None:
    first, second = _batch(store, "tenant-a", 5), _batch(store, "tenant-a", 5)
    other = _batch(store, "tenant-b", 5)
    for job_id, tenant in ((first, "tenant-a"), (second, "tenant-a"), (other, "tenant-b")):
        admission.register(job_id, tenant, 0)

    claims = admission.claim(OPEN, OPEN, limit=8)

    names = {first: "A", second: "a", other: "B"}
    assert _order(claims, names) == ["A0", "B0", "a0", "B1", "A1", "B2", "a1", "B3"]


def test_a_newcomer_is_interleaved_at_once_not_queued_behind_the_rest(
    store: JobStore, admission: Admission
) -> None:
    big = _batch(store, "tenant-a", 20)
    admission.register(big, "tenant-a", 0)
    assert len(admission.claim(OPEN, OPEN, limit=4)) == 4
    late = _batch(store, "tenant-b", 2)
    admission.register(late, "tenant-b", 0)

    claims = admission.claim(OPEN, OPEN, limit=3)

    # A was served before B registered, so A goes first in the pass, then B, then A again:
    # B never waits behind A's remaining 16.
    assert _order(claims, {big: "A", late: "B"}) == ["A4", "B0", "A5"]


# --- caps and release -------------------------------------------------------------------------


def test_the_tenant_cap_bounds_each_tenant_and_a_release_frees_one_slot(
    store: JobStore, admission: Admission
) -> None:
    a, b = _batch(store, "tenant-a", 10), _batch(store, "tenant-b", 10)
    admission.register(a, "tenant-a", 0)
    admission.register(b, "tenant-b", 0)

    first = admission.claim(3, OPEN, limit=100)
    assert sorted(_order(first, {a: "A", b: "B"})) == ["A0", "A1", "A2", "B0", "B1", "B2"]
    assert admission.claim(3, OPEN, limit=100) == []

    assert admission.release(a, "tenant-a", 0, 1) is True
    assert _order(admission.claim(3, OPEN, limit=100), {a: "A", b: "B"}) == ["A3"]


def test_the_fleet_cap_bounds_all_tenants_together(store: JobStore, admission: Admission) -> None:
    a, b = _batch(store, "tenant-a", 10), _batch(store, "tenant-b", 10)
    admission.register(a, "tenant-a", 0)
    admission.register(b, "tenant-b", 0)

    claims = admission.claim(OPEN, 5, limit=100)

    assert _order(claims, {a: "A", b: "B"}) == ["A0", "B0", "A1", "B1", "A2"]
    assert admission.claim(OPEN, 5, limit=100) == []
    assert admission.status()["in_flight"] == 5


def test_a_release_is_idempotent_so_a_message_run_twice_frees_one_slot(
    store: JobStore, admission: Admission
) -> None:
    job_id = _batch(store, "tenant-a", 10)
    admission.register(job_id, "tenant-a", 0)
    claims = admission.claim(2, OPEN, limit=100)
    admission.sent(claims)

    freed = [admission.release(job_id, "tenant-a", 0, 0) for _ in range(3)]

    assert freed == [True, False, False]
    assert [claim.index for claim in admission.claim(2, OPEN, limit=100)] == [2]
    # An item that was never admitted, or of another run, frees nothing.
    assert admission.release(job_id, "tenant-a", 1, 1) is False
    assert admission.claim(2, OPEN, limit=100) == []


def test_a_redelivered_start_registers_nothing_twice(
    store: JobStore, admission: Admission, db7: redis.Redis
) -> None:
    job_id = _batch(store, "tenant-a", 6)
    assert admission.register(job_id, "tenant-a", 0) == 6
    claims = admission.claim(OPEN, OPEN, limit=2)  # items 0 and 1 in flight
    admission.sent(claims)
    store.record_item(job_id, 0, _item(0, "succeeded"))
    admission.release(job_id, "tenant-a", 0, 0)

    assert admission.register(job_id, "tenant-a", 0) == 0

    assert admission.status()["tenants"]["tenant-a"] == {
        "pending": 4,
        "in_flight": 1,
        "batches": 1,
    }
    assert [claim.index for claim in admission.claim(OPEN, OPEN, limit=100)] == [2, 3, 4, 5]


def test_stored_items_are_skipped_when_their_turn_comes(
    store: JobStore, admission: Admission
) -> None:
    job_id = _batch(store, "tenant-a", 4)
    admission.register(job_id, "tenant-a", 0)
    store.record_item(job_id, 1, _item(1, "succeeded"))  # e.g. a duplicate message stored it

    assert [claim.index for claim in admission.claim(OPEN, OPEN, limit=100)] == [0, 2, 3]


# --- nothing accepted is lost -----------------------------------------------------------------


def test_claimed_items_never_confirmed_sent_are_reclaimed_once_stale(
    store: JobStore, admission: Admission
) -> None:
    job_id = _batch(store, "tenant-a", 5)
    admission.register(job_id, "tenant-a", 0)
    confirmed, lost = admission.claim(OPEN, OPEN, limit=2), admission.claim(OPEN, OPEN, limit=2)
    admission.sent(confirmed)  # `lost`: the claimer died before sending them

    assert admission.reclaim_stale(older_than_seconds=30) == []  # not stale yet
    again = admission.reclaim_stale(older_than_seconds=0)
    assert again == lost
    # Bumped: a second sweeper right after does not send them a third time.
    assert admission.reclaim_stale(older_than_seconds=1) == []
    admission.sent(again)
    assert admission.reclaim_stale(older_than_seconds=0) == []
    # They kept their slots throughout.
    assert admission.status()["in_flight"] == 4


def test_items_the_broker_refused_go_back_to_pending(store: JobStore, admission: Admission) -> None:
    job_id = _batch(store, "tenant-a", 3)
    admission.register(job_id, "tenant-a", 0)
    claims = admission.claim(OPEN, OPEN, limit=100)  # claims all: the batch leaves the ring
    assert admission.status()["pending"] == 0

    assert admission.unclaim(claims) == 3
    assert admission.unclaim(claims) == 0  # not claimed any more: nothing to put back

    assert admission.status()["in_flight"] == 0
    assert admission.claim(OPEN, OPEN, limit=100) == claims


def test_a_crash_between_claim_and_send_is_recovered_by_the_tick(
    db7: redis.Redis, rt: Runtime, sent: list[tuple[list[Any], str]]
) -> None:
    scheduler = batch.admission(rt)
    job_id = _batch(rt.jobs, "tenant-a", 3)
    scheduler.register(job_id, "tenant-a", 0)
    scheduler.claim(OPEN, OPEN, limit=100)  # ...and the claimer dies here, before sending
    sending = f"eyeflow:admission:{QUEUE}:sending"
    db7.zadd(sending, dict.fromkeys(db7.zrange(sending, 0, -1), 0))  # claimed long ago

    result = maintenance.admit_batch_items.run()

    assert result["resent"] == 3
    assert sent == [([job_id, "tenant-a", i, 0], f"{job_id}:{i}") for i in range(3)]
    assert scheduler.status()["sending"] == 0


# --- batches that end -------------------------------------------------------------------------


def test_a_cancelled_or_vanished_batch_is_dropped_and_its_items_never_sent(
    store: JobStore, admission: Admission, db7: redis.Redis
) -> None:
    cancelled, vanished = _batch(store, "tenant-a", 5), _batch(store, "tenant-b", 5)
    admission.register(cancelled, "tenant-a", 0)
    admission.register(vanished, "tenant-b", 0)
    assert store.cancel(cancelled)
    db7.delete(job_key(vanished))

    assert admission.claim(OPEN, OPEN, limit=100) == []
    assert admission.status() == {"in_flight": 0, "sending": 0, "pending": 0, "tenants": {}}
    assert _admission_keys(db7) <= {f"eyeflow:admission:{QUEUE}:turn"}
    assert admission.register(cancelled, "tenant-a", 0) == -1


def test_the_tick_prunes_ended_batches_and_frees_their_slots(
    store: JobStore, admission: Admission, db7: redis.Redis
) -> None:
    job_id = _batch(store, "tenant-a", 10)
    other = _batch(store, "tenant-b", 10)
    admission.register(job_id, "tenant-a", 0)
    admission.register(other, "tenant-b", 0)
    admission.sent(admission.claim(2, OPEN, limit=100))
    assert store.cancel(job_id)

    assert admission.prune() == (1, 2)  # A's batch dropped, its two slots freed

    status = admission.status()
    assert set(status["tenants"]) == {"tenant-b"}
    assert status["tenants"]["tenant-b"] == {"pending": 8, "in_flight": 2, "batches": 1}


def test_a_finished_batch_leaves_only_the_round_robin_clock(
    rt: Runtime, db7: redis.Redis, sent: list[tuple[list[Any], str]]
) -> None:
    job_id = _batch(rt.jobs, "tenant-a", 3, start=False)

    batch.start_batch.run(job_id, "tenant-a", 0)
    handled = 0
    while handled < len(sent):  # each item admits the next one, as a worker would
        batch.generate_item.run(*sent[handled][0])
        handled += 1

    assert (rt.jobs.get(job_id) or {})["status"] == "succeeded"
    assert _admission_keys(db7) == {f"eyeflow:admission:{rt.settings.queue_batch}:turn"}


# --- retry runs -------------------------------------------------------------------------------


def test_a_retry_run_registers_exactly_its_reopened_items(
    store: JobStore, admission: Admission
) -> None:
    job_id = _batch(store, "tenant-a", 6)
    for index in range(6):
        store.record_item(job_id, index, _item(index, "failed" if index in (1, 4) else "succeeded"))
    assert store.retry_failed(job_id) == [1, 4]

    assert admission.register(job_id, "tenant-a", 0) == -1  # the old run's start, redelivered
    assert admission.register(job_id, "tenant-a", 1) == 2

    claims = admission.claim(OPEN, OPEN, limit=100)
    assert [(claim.index, claim.run) for claim in claims] == [(1, 1), (4, 1)]
    assert admission.release(job_id, "tenant-a", 0, 1) is False  # run 0's member: not in flight
    assert admission.release(job_id, "tenant-a", 1, 1) is True


# --- the task bodies --------------------------------------------------------------------------


@pytest.fixture
def rt(db7: redis.Redis) -> Iterator[Runtime]:
    env = fleet_environment(
        REDIS_URL, extra={"BATCH_TENANT_MAX_IN_FLIGHT": "2", "QUEUE_BATCH": QUEUE}
    )
    settings = settings_from(env)  # the offline provider
    runtime = Runtime.build(settings, NoWebhooks())  # type: ignore[arg-type]
    previous = getattr(app, "eyeflow_runtime", None)
    install_runtime(app, runtime)
    yield runtime
    app.eyeflow_runtime = previous


class NoWebhooks:
    def send_task(self, name: str, args: list[Any], **_: Any) -> None:
        raise AssertionError(f"unexpected send of {name}{args}")


class BrokerDown(Exception):
    pass


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[Any], str]]:
    messages: list[tuple[list[Any], str]] = []

    def apply_async(args: list[Any], task_id: str, **_: Any) -> None:
        messages.append((args, task_id))

    monkeypatch.setattr(batch.generate_item, "apply_async", apply_async)
    return messages


def test_the_start_sends_up_to_the_cap_and_each_finished_item_admits_the_next(
    rt: Runtime, sent: list[tuple[list[Any], str]]
) -> None:
    job_id = _batch(rt.jobs, "tenant-a", 5, start=False)

    batch.start_batch.run(job_id, "tenant-a", 0)
    assert [task_id for _, task_id in sent] == [f"{job_id}:0", f"{job_id}:1"]

    batch.generate_item.run(job_id, "tenant-a", 0)
    batch.generate_item.run(job_id, "tenant-a", 0)  # redelivered: frees no second slot
    assert [task_id for _, task_id in sent] == [f"{job_id}:{i}" for i in range(3)]
    assert rt.jobs.item_is_done(job_id, 0)


def test_a_broker_error_puts_the_unsent_items_back(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = _batch(rt.jobs, "tenant-a", 5, start=False)
    sent: list[str] = []

    def apply_async(args: list[Any], task_id: str, **_: Any) -> None:
        if sent:
            raise BrokerDown
        sent.append(task_id)

    monkeypatch.setattr(batch.generate_item, "apply_async", apply_async)

    with pytest.raises(BrokerDown):
        batch.start_batch.run(job_id, "tenant-a", 0)

    status = batch.admission(rt).status()
    assert sent == [f"{job_id}:0"]
    assert (status["in_flight"], status["sending"], status["pending"]) == (1, 0, 4)


# --- what operators see -----------------------------------------------------------------------


def test_operators_see_pending_and_in_flight_per_tenant_in_metrics(
    rt: Runtime, sent: list[tuple[list[Any], str]]
) -> None:
    job_id = _batch(rt.jobs, "tenant-a", 5, start=False)
    batch.start_batch.run(job_id, "tenant-a", 0)  # two in flight (the cap), three pending

    assert admission_status(rt.redis, QUEUE)["tenants"] == {
        "tenant-a": {"pending": 3, "in_flight": 2, "batches": 1}
    }
    with TestClient(create_app(rt.settings)) as gateway:
        text = gateway.get("/metrics").text
    assert 'eyeflow_batch_items_pending{tenant="tenant-a"} 3.0' in text
    assert 'eyeflow_batch_items_in_flight{tenant="tenant-a"} 2.0' in text
