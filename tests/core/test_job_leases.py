"""Job leases against a real Redis (database 7; each test's own job ids, its index entries
removed after): taking, refusing a second delivery, renewing with the holder's token only,
handing over to one named message, and what the reaper sees (`LeaseStore.expired`, presence);
then `tasks.leasing.reap` sending again exactly the jobs whose worker is gone."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from eyeflow_worker.core.job_leases import (
    LEASES,
    LeaseStore,
    Work,
    item_lease_key,
    job_lease_key,
)
from eyeflow_worker.core.records import JobStore, NewJob
from eyeflow_worker.runtime import Runtime
from eyeflow_worker.tasks import leasing
from tests.fleet.worker_process import fleet_environment
from tests.reliability.conftest import settings_from

REDIS_URL = os.environ.get("EYEFLOW_TEST_REDIS", "redis://127.0.0.1:6379") + "/7"
TTL = 30.0


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    before = set(connection.zrange(LEASES, 0, -1))
    yield connection
    added = set(connection.zrange(LEASES, 0, -1)) - before
    for key in added:
        connection.zrem(LEASES, key)
        connection.delete(key)
    connection.close()


@pytest.fixture
def store(client: redis.Redis) -> LeaseStore:
    return LeaseStore(client, 3600)


@pytest.fixture
def job_id(client: redis.Redis) -> Iterator[str]:
    job = f"lease-test-{uuid.uuid4().hex}"
    JobStore(client, 3600).create(NewJob(job, "acme", "generate", {"user_intent": "x"}))
    yield job
    client.delete(job_lease_key(job))


def work(task_id: str, **kwargs: Any) -> Work:
    return Work("eyeflow.generate", ["job", "acme"], kwargs, "eyeflow.interactive", task_id)


def test_a_second_delivery_is_refused_while_the_first_holds_it(
    store: LeaseStore, job_id: str, client: redis.Redis
) -> None:
    now = time.time()
    taken = store.acquire(job_lease_key(job_id), work(job_id), "w1", now, TTL)
    assert (taken.code, taken.tenant) == (1, "acme")  # the job record's tenant comes back
    assert taken.value.isdigit()
    # The same message redelivered (or the reaper's copy) while the holder may still run it.
    refused = store.acquire(job_lease_key(job_id), work(job_id), "w2", now, TTL)
    assert (refused.code, refused.value, refused.tenant) == (0, "w1", None)
    record = client.hgetall(job_lease_key(job_id))
    assert record["lease_state"] == "held"
    assert record["lease_worker"] == "w1"
    assert record["tenant"] == "acme"  # the lease lives on the record, beside its fields
    assert client.zscore(LEASES, job_lease_key(job_id)) == pytest.approx(now + TTL)


def test_an_expired_lease_is_taken_with_a_new_token(store: LeaseStore, job_id: str) -> None:
    key = job_lease_key(job_id)
    now = time.time()
    first = store.acquire(key, work(job_id), "w1", now - 100, TTL).value
    taken = store.acquire(key, work(job_id), "w2", now, TTL)
    code, second = taken.code, taken.value
    assert code == 1
    assert int(second) > int(first)
    assert not store.renew(key, first, now + TTL)  # the old holder's token renews nothing
    assert store.renew(key, second, now + TTL)


def test_no_lease_is_taken_on_a_job_that_is_gone(store: LeaseStore, client: redis.Redis) -> None:
    gone = f"lease-test-gone-{uuid.uuid4().hex}"
    assert store.acquire(job_lease_key(gone), work(gone), "w1", time.time(), TTL).code == -1
    # ...nor on an item of a job that is gone.
    assert store.acquire(item_lease_key(gone, 0, 1), work(gone), "w1", time.time(), TTL).code == -1
    assert client.exists(item_lease_key(gone, 0, 1)) == 0
    assert client.exists(job_lease_key(gone)) == 0


def test_a_handed_lease_is_taken_only_by_the_message_it_was_handed_to(
    store: LeaseStore, client: redis.Redis, job_id: str
) -> None:
    key = item_lease_key(job_id, 0, 3)
    now = time.time()
    token = store.acquire(key, work("b:3"), "w1", now, TTL).value
    assert store.hand_over(key, token, work("b:3:t1", transient_retries=1), now + 200)

    assert store.acquire(key, work("b:3"), "w2", now, TTL).code == 0  # the old message: refused
    assert store.acquire(key, work("b:3:t1", transient_retries=1), "w2", now, TTL).code == 1
    assert 0 < client.ttl(key) <= 3600  # an item's own lease hash expires with the record
    assert store.release(key, client.hget(key, "lease_token") or "")
    assert client.exists(key) == 0
    assert client.zscore(LEASES, key) is None


def test_release_on_a_record_clears_only_the_lease_fields(
    store: LeaseStore, job_id: str, client: redis.Redis
) -> None:
    key = job_lease_key(job_id)
    token = store.acquire(key, work(job_id), "w1", time.time(), TTL).value
    assert not store.release(key, "not-the-token")
    assert store.release(key, token)
    record = client.hgetall(key)
    assert record["status"] == "queued"
    assert not [name for name in record if name.startswith("lease_")]


def test_expired_lists_what_the_reaper_must_look_at(store: LeaseStore, job_id: str) -> None:
    now = time.time()
    key = job_lease_key(job_id)
    store.acquire(key, work(job_id), "dead-worker", now - 100, TTL)
    found = {lease.key: lease for lease in store.expired(now)}
    assert key in found
    lease = found[key]
    assert (lease.state, lease.worker, lease.work.task_id) == ("held", "dead-worker", job_id)
    assert lease.work.args == ["job", "acme"]
    store.mark_present("live-worker", 5)
    assert store.present(["dead-worker", "live-worker"]) == {"live-worker"}


def test_the_reaper_sends_again_only_the_jobs_whose_worker_is_gone(
    client: redis.Redis, store: LeaseStore
) -> None:
    settings = settings_from(fleet_environment(REDIS_URL))
    jobs = JobStore(client, 3600)
    ids = {name: f"lease-test-{name}-{uuid.uuid4().hex}" for name in ("dead", "alive", "fresh")}
    for job in ids.values():
        jobs.create(NewJob(job, "acme", "generate", {"user_intent": "x"}))
    now = time.time()
    store.mark_present("reaper-test-alive", 30)
    store.acquire(job_lease_key(ids["dead"]), work(ids["dead"]), "reaper-test-dead", now - 60, TTL)
    store.acquire(job_lease_key(ids["alive"]), work(ids["alive"]), "reaper-test-alive", now - 31,
                  TTL)  # fmt: skip
    store.acquire(job_lease_key(ids["fresh"]), work(ids["fresh"]), "reaper-test-dead", now, TTL)
    sent: list[dict[str, Any]] = []

    class Recorder:
        def send_task(self, name: str, **options: Any) -> None:
            sent.append({"name": name, **options})

    rt = Runtime.build(settings, Recorder())  # type: ignore[arg-type]
    try:
        assert leasing.reap(rt, Recorder(), now) >= 1  # type: ignore[arg-type]
        mine = [s for s in sent if s["task_id"].startswith("lease-test-")]
        assert [s["task_id"].split(":rp")[0] for s in mine] == [ids["dead"]]
        assert mine[0]["name"] == "eyeflow.generate"
        assert mine[0]["queue"] == "eyeflow.interactive"
        # Handed to the re-sent message: it takes the lease, the dead one's late copy cannot.
        dead = job_lease_key(ids["dead"])
        assert store.acquire(dead, work(ids["dead"]), "w", now, TTL).code == 0
        assert store.acquire(dead, work(mine[0]["task_id"]), "w", now, TTL).code == 1
        # A second round sends nothing again: the handed lease has not expired.
        assert leasing.reap(rt, Recorder(), now + 1) == 0  # type: ignore[arg-type]
    finally:
        for job in ids.values():
            client.delete(job_lease_key(job))
        client.delete("eyeflow:worker:reaper-test-alive")


def test_an_exception_hands_the_lease_to_the_same_message_for_its_retry(
    client: redis.Redis, job_id: str
) -> None:
    settings = settings_from(fleet_environment(REDIS_URL))
    rt = Runtime.build(settings, None)  # type: ignore[arg-type]
    key = job_lease_key(job_id)
    with pytest.raises(redis.exceptions.ConnectionError), leasing.leased(rt, key, work(job_id)):
        raise redis.exceptions.ConnectionError("blip")  # Celery retries the same task id

    record = client.hgetall(key)
    assert (record["lease_state"], record["lease_task_id"]) == ("handed", job_id)
    now = time.time()
    store = LeaseStore(client, 3600)
    assert store.acquire(key, work("another-message"), "w", now, TTL).code == 0
    with leasing.leased(rt, key, work(job_id)) as held:  # the retry takes it at once
        assert held is not None
    assert not [name for name in client.hgetall(key) if name.startswith("lease_")]


def test_workers_act_for_the_jobs_tenant_not_the_one_a_message_names(
    client: redis.Redis, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """`eyeflow.generate(job of tenant A, "tenant-b")` sent by hand (Flower's `apply`) runs as
    tenant A: with A's configuration and key, never B's."""
    from eyeflow_worker.celery_app import app
    from eyeflow_worker.runtime import install_runtime
    from eyeflow_worker.tasks import batch, interactive

    settings = settings_from(fleet_environment(REDIS_URL))
    rt = Runtime.build(settings, None)  # type: ignore[arg-type]
    previous = getattr(app, "eyeflow_runtime", None)
    install_runtime(app, rt)
    jobs = JobStore(client, 3600)
    job = f"lease-test-tenant-{uuid.uuid4().hex}"
    jobs.create(NewJob(job, "tenant-a", "generate", {"user_intent": "x"}))
    batch_job = f"lease-test-tenant-batch-{uuid.uuid4().hex}"
    jobs.create(NewJob(batch_job, "tenant-a", "batch", {}, intents=("x",)))
    ran_as: list[str] = []
    monkeypatch.setattr(
        interactive, "run_job", lambda rt, job_id, tenant, work: ran_as.append(tenant)
    )
    monkeypatch.setattr(batch, "_run_item", lambda rt, item, retries, held: ran_as.append(item[1]))
    try:
        interactive.generate.run(job, "tenant-b")
        batch.generate_item.run(batch_job, "tenant-b", 0)
    finally:
        app.eyeflow_runtime = previous
        client.delete(
            job_lease_key(job), job_lease_key(batch_job), f"{job_lease_key(batch_job)}:intents"
        )
    assert ran_as == ["tenant-a", "tenant-a"]
    assert "names tenant 'tenant-b', but the job belongs to 'tenant-a'" in caplog.text


def test_a_broker_redelivery_of_the_holding_message_takes_its_lease_over(
    store: LeaseStore, job_id: str
) -> None:
    """RabbitMQ gives a dead consumer's messages back at once: the same message, flagged
    redelivered, takes over the lease it held; a duplicate not flagged so (sent by hand) or
    another message does not."""
    key = job_lease_key(job_id)
    now = time.time()
    first = store.acquire(key, work(job_id), "dead", now, TTL)
    assert store.acquire(key, work(job_id), "w2", now, TTL).code == 0
    assert store.acquire(key, work("other"), "w2", now, TTL, redelivered=True).code == 0
    taken = store.acquire(key, work(job_id), "w2", now, TTL, redelivered=True)
    assert taken.code == 1
    assert int(taken.value) > int(first.value)
    assert not store.renew(key, first.value, now + TTL)  # the dead holder's token is void
