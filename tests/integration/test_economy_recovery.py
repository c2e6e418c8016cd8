"""Economy batches recovering, against real Redis and the loopback batch fakes: a batch whose
poll chain broke (its countdown message lost) is polled again by beat's sweep and ends through
the real batch worker, and so does one whose submit message was lost; a poll received twice
collects and follows up once; a submit received while another holds the lock creates no second
provider batch; a collection that crashed halfway, run again, stores every item once and counts
its costs once.

The batches are created in-process (never enqueued), so only these tests drive them; the
crash is injected in-process because a worker subprocess cannot be monkeypatched."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from eyeflow_worker.core.celery_factory import create_celery_app
from eyeflow_worker.core.economy_records import PollState, SubmitState
from eyeflow_worker.core.records import JobStore, NewJob
from eyeflow_worker.runtime import Runtime
from eyeflow_worker.tasks import economy
from eyeflow_worker.tasks.economy import economy_store, poll_once, submit_parts
from eyeflow_worker.tasks.economy_submit import submit_locked
from eyeflow_worker.tasks.economy_sweep import OVERDUE_AFTER_SECONDS, sweep_overdue_polls
from eyeflow_worker.tasks.execution import JobContext
from tests.fakes.batches_base import BatchesServer
from tests.integration.conftest import (
    ANTHROPIC_KEY,
    ANTHROPIC_MODEL,
    OPENAI_KEY,
    OPENAI_MODEL,
    Stack,
)
from tests.integration.test_economy_batches import ERRORED_ONCE, ValidAnthropic, ValidOpenAI

TENANTS = ("rec-anthropic", "rec-openai")


@pytest.fixture(scope="module")
def fakes(stack: Stack) -> Iterator[dict[str, BatchesServer]]:
    # Tenants of their own: workers cache a tenant's configuration, and the other module's
    # fakes (other URLs) stop when it ends.
    with ValidAnthropic() as anthropic, ValidOpenAI() as openai:
        stack.nestjs.add_config(
            TENANTS[0],
            provider="anthropic",
            model=ANTHROPIC_MODEL,
            maxTokens=2048,
            apiConfig={"apiKey": ANTHROPIC_KEY, "apiUrl": anthropic.url},
        )
        stack.nestjs.add_config(
            TENANTS[1],
            provider="openai",
            model=OPENAI_MODEL,
            maxTokens=2048,
            apiConfig={"apiKey": OPENAI_KEY, "apiUrl": openai.url + "/v1"},
        )
        yield {TENANTS[0]: anthropic, TENANTS[1]: openai}


@pytest.fixture
def fake_of(fakes: dict[str, BatchesServer]) -> dict[str, BatchesServer]:
    for fake in fakes.values():
        fake.reset()
    return fakes


@pytest.fixture(scope="module")
def rt(stack: Stack) -> Runtime:
    return Runtime.build(stack.settings, create_celery_app(stack.settings, include_tasks=False))


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[list[Any]]]:
    """The submits and polls an in-process poll sends, recorded instead of sent (the module's
    own Celery app is configured from this process's environment, not the test broker)."""
    calls: dict[str, list[list[Any]]] = {"submit": [], "poll": []}

    def recorder(kind: str) -> Any:
        return lambda args, **_: calls[kind].append(list(args))

    monkeypatch.setattr(economy.submit_round, "apply_async", recorder("submit"))
    monkeypatch.setattr(economy.poll_round, "apply_async", recorder("poll"))
    return calls


def _economy_job(stack: Stack, rt: Runtime, tenant: str, tag: str, marks: dict[int, str]) -> str:
    """A started economy batch of 4 items whose first provider batch was created (in-process);
    no poll was ever sent for it."""
    job_id = _unsubmitted_job(stack, rt, tenant, tag, marks)
    submit_parts(JobContext(rt, tenant, job_id), 0, 0)
    return job_id


def _unsubmitted_job(
    stack: Stack, rt: Runtime, tenant: str, tag: str, marks: dict[int, str]
) -> str:
    """A started economy batch of 4 items; nothing submitted for it yet."""
    job_id = f"{tag}-{tenant}-{time.time_ns()}"
    base = "Escalate to the DBA on-call when database memory exceeds 85%"
    intents = tuple(f"{base} ({tag}-{i}) {marks.get(i, '')}".strip() for i in range(4))
    jobs = JobStore(stack.redis, stack.settings.task_record_ttl_seconds)
    jobs.create(NewJob(job_id, tenant, "batch", {"mode": "economy"}, intents=intents))
    economy_store(rt).set_mode(job_id, "economy", "requested")
    return job_id


def _stored_once(rt: Runtime, job_id: str, total: int) -> list[dict[str, Any]]:
    items = rt.jobs.batch_items(job_id, 0, 100)
    assert sorted(item["index"] for item in items) == list(range(total))
    assert _item_count(rt, job_id) == total
    return items


def _item_count(rt: Runtime, job_id: str) -> int:
    return int(rt.redis.hlen(f"eyeflow:job:{job_id}:items"))


def _until_ended(rt: Runtime, job_id: str, timeout: float) -> dict[str, str]:
    # The job record itself: the gateway's task lookup knows only the jobs it created.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = rt.jobs.get(job_id) or {}
        if record.get("status") in ("succeeded", "failed", "cancelled"):
            return record
        time.sleep(0.2)
    raise AssertionError(f"{job_id} did not end within {timeout}s")


@pytest.mark.parametrize("tenant", TENANTS)
def test_the_sweep_polls_a_batch_whose_poll_message_was_lost_and_it_ends(
    stack: Stack, fake_of: dict[str, BatchesServer], rt: Runtime, tenant: str
) -> None:
    fake = fake_of[tenant]
    fake.ends_after_polls = 2  # the re-sent poll's chain goes on through the real batch worker
    job_id = _economy_job(stack, rt, tenant, "lost-poll", {})
    store = economy_store(rt)
    # Its first poll was scheduled and its message lost: due just now, not overdue yet...
    store.record_poll(job_id, PollState(tenant, 0, 0, 0, next_poll_due=time.time() - 1))
    assert job_id not in store.overdue_polls(time.time() - OVERDUE_AFTER_SECONDS)
    # ...then long overdue.
    store.record_poll(job_id, PollState(tenant, 0, 0, 0, next_poll_due=time.time() - 600))

    celery = create_celery_app(stack.settings, include_tasks=False)
    assert sweep_overdue_polls(rt, celery) >= 1
    assert job_id not in store.overdue_polls(time.time() - OVERDUE_AFTER_SECONDS)
    record = _until_ended(rt, job_id, timeout=60)

    assert record["status"] == "succeeded", record
    assert (record["succeeded"], record["failed"], record["total"]) == ("4", "0", "4")
    assert len(fake.batches) == 1
    items = _stored_once(rt, job_id, 4)
    assert float(record["economy_cost_usd"]) == pytest.approx(sum(i["cost_usd"] for i in items))
    # The chain ended on purpose: nothing left for the sweep.
    assert job_id not in store.overdue_polls(time.time() + 3600)


def test_a_poll_received_twice_collects_and_follows_up_once(
    stack: Stack,
    fake_of: dict[str, BatchesServer],
    rt: Runtime,
    sent: dict[str, list[list[Any]]],
) -> None:
    tenant = TENANTS[1]
    job_id = _economy_job(stack, rt, tenant, "twice", {2: ERRORED_ONCE})
    store = economy_store(rt)
    store.record_poll(job_id, PollState(tenant, 0, 0, 0, next_poll_due=time.time()))

    # At the same time: the second finds the lock held and does nothing.
    with store.poll_lock(job_id, 60) as first, store.poll_lock(job_id, 60) as second:
        assert first
        assert not second
    poll_once(rt, job_id, tenant, (0, 0, 0))
    assert sent["submit"] == [[job_id, tenant, 0, 1]]  # the errored item's follow-up round
    assert _item_count(rt, job_id) == 3

    # One after the other: the late copy of the same poll drops out.
    poll_once(rt, job_id, tenant, (0, 0, 0))
    assert len(sent["submit"]) == 1
    assert sent["poll"] == []
    assert len(fake_of[tenant].batches) == 1
    assert _item_count(rt, job_id) == 3


@pytest.mark.parametrize("tenant", TENANTS)
def test_a_crash_mid_collection_then_a_second_collection_stores_each_item_once(
    stack: Stack,
    fake_of: dict[str, BatchesServer],
    rt: Runtime,
    sent: dict[str, list[list[Any]]],
    monkeypatch: pytest.MonkeyPatch,
    tenant: str,
) -> None:
    job_id = _economy_job(stack, rt, tenant, "crash-collect", {})
    store_item = rt.jobs.record_item
    calls = {"n": 0}

    def dies_on_the_third(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:  # after its costs were counted, before it was stored
            raise RuntimeError("worker killed mid-collection")
        return store_item(*args, **kwargs)

    monkeypatch.setattr(rt.jobs, "record_item", dies_on_the_third)
    poll_once(rt, job_id, tenant, (0, 0, 0))
    assert _item_count(rt, job_id) == 2
    assert not economy_store(rt).collected(job_id, 0, 0, 0)
    assert sent["poll"] == [[job_id, tenant, 0, 0, 1]]  # the chain goes on

    monkeypatch.setattr(rt.jobs, "record_item", store_item)
    poll_once(rt, job_id, tenant, (0, 0, 1))

    record = rt.jobs.get(job_id) or {}
    assert record["status"] == "succeeded"
    assert (record["succeeded"], record["failed"], record["total"]) == ("4", "0", "4")
    items = _stored_once(rt, job_id, 4)
    assert all(item["status"] == "succeeded" for item in items)
    costs = [item["cost_usd"] for item in items]
    assert float(record["economy_cost_usd"]) == pytest.approx(sum(costs))
    assert float(record["economy_realtime_cost_usd"]) == pytest.approx(2 * sum(costs))
    assert sent["submit"] == []  # no follow-up round: nothing was left open
    assert len(fake_of[tenant].batches) == 1


@pytest.mark.parametrize("tenant", TENANTS)
def test_the_sweep_submits_a_batch_whose_submit_message_was_lost_and_it_ends(
    stack: Stack, fake_of: dict[str, BatchesServer], rt: Runtime, tenant: str
) -> None:
    fake = fake_of[tenant]
    fake.ends_after_polls = 2
    job_id = _unsubmitted_job(stack, rt, tenant, "lost-submit", {})
    store = economy_store(rt)
    # Its first submit was scheduled and its message lost: due just now, not overdue yet...
    store.record_submit(job_id, SubmitState(tenant, 0, 0, 0, due=time.time() - 1))
    assert job_id not in store.overdue_submits(time.time() - OVERDUE_AFTER_SECONDS)
    # ...then long overdue.
    store.record_submit(job_id, SubmitState(tenant, 0, 0, 0, due=time.time() - 600))

    celery = create_celery_app(stack.settings, include_tasks=False)
    assert sweep_overdue_polls(rt, celery) >= 1
    assert job_id not in store.overdue_submits(time.time() - OVERDUE_AFTER_SECONDS)
    record = _until_ended(rt, job_id, timeout=60)

    assert record["status"] == "succeeded", record
    assert (record["succeeded"], record["failed"], record["total"]) == ("4", "0", "4")
    assert len(fake.batches) == 1
    _stored_once(rt, job_id, 4)
    # Its provider batch was recorded and its poll chain ended: nothing left for the sweep.
    assert store.submit_state(job_id) is None
    assert job_id not in store.overdue_submits(time.time() + 3600)
    assert job_id not in store.overdue_polls(time.time() + 3600)


def test_a_submit_received_while_another_holds_the_lock_creates_no_second_provider_batch(
    stack: Stack,
    fake_of: dict[str, BatchesServer],
    rt: Runtime,
    sent: dict[str, list[list[Any]]],
) -> None:
    tenant = TENANTS[0]
    fake = fake_of[tenant]
    job_id = _unsubmitted_job(stack, rt, tenant, "submit-twice", {})
    store = economy_store(rt)
    store.record_submit(job_id, SubmitState(tenant, 0, 0, 0, due=time.time()))

    with store.submit_lock(job_id, 60) as first:
        assert first
        submit_locked(rt, job_id, tenant, (0, 0, 0))  # finds the lock held: leaves it
        assert fake.batches == {}
        assert sent["poll"] == []
        # The holder submits the round.
        submit_parts(JobContext(rt, tenant, job_id), 0, 0)
    assert len(fake.batches) == 1

    # The same submit run again afterwards (a redelivery) adopts the recorded batch.
    submit_locked(rt, job_id, tenant, (0, 0, 0))
    assert len(fake.batches) == 1
    assert sent["poll"] == [[job_id, tenant, 0, 0, 0]]  # its poll chain starts
    assert store.submit_state(job_id) is None
    assert job_id not in store.overdue_submits(time.time() + 3600)
    recorded = store.batch(job_id, 0, 0, 0)
    assert recorded is not None
    assert recorded.batch_id in fake.batches
