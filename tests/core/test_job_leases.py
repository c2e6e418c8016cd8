"""Job leases against a real Redis (database 7; each test's own job ids, its index entries
removed after): taking, refusing a second delivery, renewing with the holder's token only,
handing over to one named message, and what the reaper sees (`LeaseStore.expired`, presence);
then `tasks.leasing.reap` sending again exactly the jobs whose worker is gone; the lease a job's
start takes and its finish ends (same rules, same fence); one renewer for all a process holds."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator, Mapping
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
from eyeflow_worker.core.lease import Renewer
from eyeflow_worker.core.record_lease import LeaseAsk
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


# --- the lease taken by the job's start and ended by its finish (`transitions.BEGIN`/`FINISH`) ---


def ask(task_id: str, worker: str = "w1", now: float | None = None, **kw: Any) -> LeaseAsk:
    return LeaseAsk(work(task_id), worker, time.time() if now is None else now, TTL, **kw)


def test_begin_takes_the_lease_with_the_same_rules_as_acquire(
    client: redis.Redis, store: LeaseStore, job_id: str
) -> None:
    jobs = JobStore(client, 3600)
    key = job_lease_key(job_id)
    begun = jobs.begin(job_id, ask(job_id))
    assert begun.code == 1
    assert begun.record is not None
    assert begun.record["tenant"] == "acme"
    fields = client.hgetall(key)
    assert (fields["lease_state"], fields["lease_worker"], fields["lease_token"]) == (
        "held", "w1", begun.token,
    )  # fmt: skip
    assert fields["lease_task"] == "eyeflow.generate"
    assert client.zscore(LEASES, key) == pytest.approx(float(fields["lease_expires_at"]))
    # Another message, or this one again without the broker's redelivered flag: refused, and
    # the job is not started again.
    refused = jobs.begin(job_id, ask("another-message", "w2"))
    assert (refused.code, refused.holder) == (0, "w1")
    assert jobs.begin(job_id, ask(job_id, "w2")).code == 0
    assert client.hget(key, "attempts") == "1"
    # The same message redelivered (its consumer died): taken over with a newer token.
    again = jobs.begin(job_id, ask(job_id, "w2", redelivered=True))
    assert again.code == 1
    assert int(again.token) > int(begun.token)
    assert not store.renew(key, begun.token, time.time() + TTL)  # the old holder's is void
    # An expired lease is anyone's: one fence for both ways of taking a lease.
    later = jobs.begin(job_id, ask("third", "w3", time.time() + 2 * TTL))
    assert later.code == 1
    assert int(later.token) > int(again.token)


def test_finish_ends_the_lease_of_its_token_only_and_also_after_a_cancel(
    client: redis.Redis, job_id: str
) -> None:
    jobs = JobStore(client, 3600)
    key = job_lease_key(job_id)
    token = jobs.begin(job_id, ask(job_id)).token
    assert jobs.cancel(job_id)  # a caller's cancel while it runs: the worker still holds it
    assert client.hget(key, "lease_token") == token
    assert not jobs.succeed(job_id, {"result": 1}, lease="not-the-token")
    assert client.hget(key, "lease_token") == token
    # The worker's finish loses to the cancel but ends its lease all the same.
    assert not jobs.succeed(job_id, {"result": 1}, lease=token)
    assert not [name for name in client.hgetall(key) if name.startswith("lease_")]
    assert client.zscore(LEASES, key) is None
    assert client.hget(key, "status") == "cancelled"


def test_a_failing_job_ends_its_lease_in_the_failing_write(
    client: redis.Redis, job_id: str
) -> None:
    jobs = JobStore(client, 3600)
    key = job_lease_key(job_id)
    token = jobs.begin(job_id, ask(job_id)).token
    assert jobs.fail(job_id, {"code": "x", "message": "m", "details": None}, lease=token)
    assert not [name for name in client.hgetall(key) if name.startswith("lease_")]
    assert client.zscore(LEASES, key) is None


def test_begin_on_an_ended_job_starts_nothing_and_ends_the_lease_it_was_handed(
    client: redis.Redis, store: LeaseStore, job_id: str
) -> None:
    """As taking the lease and giving it back: a re-send of a job that ended meanwhile."""
    jobs = JobStore(client, 3600)
    key = job_lease_key(job_id)
    token = jobs.begin(job_id, ask(job_id)).token
    assert store.hand_over(key, token, work(f"{job_id}:rp1"), time.time() + 100)
    assert jobs.succeed(job_id, {"result": 1})  # ended by another path, lease still handed
    assert jobs.begin(job_id, ask("some-other-message")).code == 0  # handed to another
    assert jobs.begin(job_id, ask(f"{job_id}:rp1")).code == 2
    assert not [name for name in client.hgetall(key) if name.startswith("lease_")]
    assert client.zscore(LEASES, key) is None
    assert client.hget(key, "attempts") == "1"
    gone = f"lease-test-gone-{uuid.uuid4().hex}"
    assert jobs.begin(gone, ask(gone)).code == -1
    assert not client.exists(job_lease_key(gone))


def test_leased_job_hands_the_lease_to_its_message_on_an_exception_and_the_retry_takes_it(
    client: redis.Redis, job_id: str
) -> None:
    settings = settings_from(fleet_environment(REDIS_URL))
    rt = Runtime.build(settings, None)  # type: ignore[arg-type]
    key = job_lease_key(job_id)
    seen: list[bool] = []

    def blip() -> None:
        with leasing.leased_job(rt, job_id, work(job_id)) as job:
            seen.append(isinstance(job, leasing.StartedJob))
            seen.append(key in leasing.renewer(rt).holding())  # renewed while it runs
            raise redis.exceptions.ConnectionError("blip")

    with pytest.raises(redis.exceptions.ConnectionError):
        blip()
    assert seen == [True, True]
    assert key not in leasing.renewer(rt).holding()
    assert (client.hget(key, "lease_state"), client.hget(key, "lease_task_id")) == (
        "handed", job_id,
    )  # fmt: skip
    with leasing.leased_job(rt, job_id, work("another-message")) as other:
        assert not isinstance(other, leasing.StartedJob)
        assert other.code == 0
    with leasing.leased_job(rt, job_id, work(job_id)) as retry:  # the retry takes it at once
        assert isinstance(retry, leasing.StartedJob)
        assert rt.jobs.succeed(job_id, {"result": 1}, lease=retry.held.token)
        retry.held.ended_with_job()
    assert not [name for name in client.hgetall(key) if name.startswith("lease_")]


def test_one_renewer_renews_every_held_lease_in_one_step_and_drops_the_lost(
    client: redis.Redis, store: LeaseStore, job_id: str
) -> None:
    jobs = JobStore(client, 3600)
    other = f"lease-test-{uuid.uuid4().hex}"
    jobs.create(NewJob(other, "acme", "generate", {"user_intent": "x"}))
    now = time.time()
    first = jobs.begin(job_id, ask(job_id, now=now)).token
    second = jobs.begin(other, ask(other, now=now)).token
    calls: list[dict[str, str]] = []

    def renew_all(held: Mapping[str, str]) -> set[str]:
        calls.append(dict(held))
        return store.renew_many(held, now + 1000)

    renewer = Renewer(renew_all, 60.0, "test-renewer")
    try:
        renewer.hold(job_lease_key(job_id), first)
        renewer.hold(job_lease_key(other), second)
        # The second job's lease is taken over (its worker looked dead): lost, then dropped.
        assert jobs.begin(other, ask(other, "w2", now=now, redelivered=True)).code == 1
        renewer.renew_now()
        assert len(calls) == 1
        assert len(calls[0]) == 2
        assert client.zscore(LEASES, job_lease_key(job_id)) == pytest.approx(now + 1000)
        assert client.hget(job_lease_key(job_id), "lease_expires_at") == repr(now + 1000)
        assert client.hget(job_lease_key(other), "lease_worker") == "w2"  # not extended by us
        assert client.zscore(LEASES, job_lease_key(other)) == pytest.approx(now + TTL)
        assert renewer.holding() == {job_lease_key(job_id): first}
        renewer.drop(job_lease_key(job_id))
        renewer.renew_now()  # nothing held: no call at all
        assert len(calls) == 1
    finally:
        client.delete(job_lease_key(other))


def test_the_renewer_thread_keeps_a_lease_alive_and_survives_a_redis_error(
    client: redis.Redis, store: LeaseStore, job_id: str
) -> None:
    """A long job (or one waiting on a rate limit or a retry) keeps its lease: the renewer
    ticks on its own thread; a tick that fails (Redis restarting) is retried at the next."""
    key = job_lease_key(job_id)
    token = JobStore(client, 3600).begin(job_id, ask(job_id, now=time.time() - TTL + 0.5)).token
    ticks: list[int] = []

    def renew_all(held: Mapping[str, str]) -> set[str]:
        ticks.append(1)
        if len(ticks) == 1:
            raise redis.exceptions.ConnectionError("Redis restarting")
        return store.renew_many(held, time.time() + TTL)

    renewer = Renewer(renew_all, 0.05, "test-renewer-thread")
    renewer.hold(key, token)
    deadline = time.time() + 3
    while len(ticks) < 3 and time.time() < deadline:
        time.sleep(0.02)
    renewer.drop(key)
    assert len(ticks) >= 3
    assert float(client.hget(key, "lease_expires_at") or 0) > time.time() + TTL - 2
    assert renewer.holding() == {}
