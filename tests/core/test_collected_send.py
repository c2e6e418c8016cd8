"""A submission's message written by its record's script (`core/collected_send.py`), on real
Redis (database 15; the keys made here are deleted): the message is the one `send_task` pushes,
it is enqueued with the record or not at all, and a Redis that is down is a 503 at once."""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import kombu.utils.functional
import pytest
import redis
from celery import Celery

from api_gateway.enqueue import BrokerUnavailable, SubmissionRateLimited
from eyeflow_worker.core.celery_factory import create_celery_app
from eyeflow_worker.core.collected_send import BrokerCommand, CollectedSender, collects_sends
from eyeflow_worker.core.records import JobStore, NewJob, job_key
from eyeflow_worker.core.records_async import AsyncRecords
from eyeflow_worker.core.redis_client import get_redis
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.core.submit_rate import SubmitRate, bucket_key
from tests.api_gateway.submit_helpers import LoopSubmitter

REDIS_URL = os.environ.get("EYEFLOW_TEST_REDIS", "redis://127.0.0.1:6379") + "/15"
QUEUE = "collected-send-test.queue"  # a queue no worker reads
TOPIC = "/15.celeryev/task.sent"  # kombu's fanout topic of Celery's task-sent event


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, redis_url=REDIS_URL, **values)


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield connection
    for pattern in ("eyeflow:job:collected-*", "eyeflow:submit-rate:t-collected-*"):
        for key in connection.scan_iter(match=pattern):
            connection.delete(key)
    connection.delete(QUEUE, "eyeflow.interactive")
    connection.close()


@pytest.fixture
def celery() -> Iterator[Celery]:
    app = create_celery_app(_settings(), include_tasks=False)
    yield app
    app.close()


def _messages(client: redis.Redis, queue: str = QUEUE) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in client.lrange(queue, 0, -1)]


def test_only_the_records_own_redis_collects() -> None:
    assert collects_sends(_settings())
    assert not collects_sends(_settings(broker_url=REDIS_URL.rsplit("/", 1)[0] + "/14"))
    assert not collects_sends(_settings(broker_url="amqp://guest:guest@127.0.0.1:5672//"))


def test_the_collected_message_is_the_one_send_task_pushes(
    client: redis.Redis, celery: Celery
) -> None:
    job_id = f"collected-{uuid.uuid4()}"
    commands = CollectedSender(celery).commands(
        "eyeflow.evaluate", args=[job_id, "t"], task_id=job_id, queue=QUEUE
    )
    assert client.llen(QUEUE) == 0  # collected, not sent
    pushed = [c for c in commands if c.operation == "lpush"]
    events = [c for c in commands if c.operation == "publish"]
    assert [c.target for c in pushed] == [QUEUE]
    assert [c.target for c in events] == [TOPIC]

    listener = client.pubsub()  # type: ignore[no-untyped-call]
    listener.subscribe(TOPIC)
    assert listener.get_message(timeout=5) is not None  # the subscribe confirmation
    celery.send_task("eyeflow.evaluate", args=[job_id, "t"], task_id=job_id, queue=QUEUE)
    (sent,) = _messages(client)
    event = listener.get_message(timeout=5)
    listener.close()

    collected = json.loads(pushed[0].value)
    # Everything but the delivery tag, a fresh uuid per publish, is the same.
    assert collected["properties"].pop("delivery_tag") != sent["properties"].pop("delivery_tag")
    assert collected == sent
    assert event is not None
    sent_event, collected_event = json.loads(event["data"]), json.loads(events[0].value)
    assert sent_event.keys() == collected_event.keys()
    assert sent_event["headers"] == collected_event["headers"]


def test_a_submission_enqueues_its_message_with_its_record_or_not_at_all(
    client: redis.Redis, celery: Celery
) -> None:
    settings = _settings(tenant_submit_rate_per_minute=60, tenant_submit_burst=1)
    tenant = f"t-collected-{uuid.uuid4().hex[:8]}"
    evaluate = {"condition": "1", "context": {}}
    with LoopSubmitter(client, celery, settings) as submitter:
        first = submitter.submit(
            tenant=tenant, kind="evaluate", payload=evaluate, webhook_url=None,
            job_id=f"collected-{uuid.uuid4()}",
        )  # fmt: skip
        (message,) = _messages(client, "eyeflow.interactive")
        assert message["headers"]["id"] == first.job_id
        assert message["headers"]["task"] == "eyeflow.evaluate"
        assert client.hget(job_key(first.job_id), "status") == "queued"
        # Over the rate: neither a record nor a message.
        refused_id = f"collected-{uuid.uuid4()}"
        with pytest.raises(SubmissionRateLimited):
            submitter.submit(
                tenant=tenant, kind="evaluate", payload=evaluate, webhook_url=None,
                job_id=refused_id,
            )  # fmt: skip
    assert not client.exists(job_key(refused_id))
    assert len(_messages(client, "eyeflow.interactive")) == 1


def test_a_script_that_fails_writes_nothing(client: redis.Redis) -> None:
    """The commands are checked before anything is written: a refused one leaves no record, no
    message and the tenant's token untouched."""
    store = JobStore(client, 60)
    tenant = f"t-collected-{uuid.uuid4().hex[:8]}"
    job = NewJob(f"collected-{uuid.uuid4()}", tenant, "evaluate", {"condition": "1"})
    bogus = BrokerCommand("flushdb", QUEUE, "x")  # type: ignore[arg-type]
    valid = BrokerCommand("lpush", QUEUE, "{}")
    with pytest.raises(redis.exceptions.ResponseError, match="unknown broker command flushdb"):
        store.accept(job, message=(valid, bogus))
    assert not client.exists(job_key(job.job_id), bucket_key(tenant))
    assert client.llen(QUEUE) == 0


def test_the_script_sent_again_for_its_record_does_nothing(
    client: redis.Redis, celery: Celery
) -> None:
    """A client that resends the script after losing its reply (redis-py's retry): the record is
    there, so the second run pushes no second message and takes no second token."""
    store = JobStore(client, 60)
    tenant = f"t-collected-{uuid.uuid4().hex[:8]}"
    job = NewJob(f"collected-{uuid.uuid4()}", tenant, "evaluate", {"condition": "1"})
    message = CollectedSender(celery).commands(
        "eyeflow.evaluate", args=[job.job_id, tenant], task_id=job.job_id, queue=QUEUE
    )
    rate = SubmitRate(client, 60, 5)
    assert store.accept(job, rate=rate, message=message).outcome == "created"
    tokens = client.hget(bucket_key(tenant), "tokens")
    assert store.accept(job, rate=rate, message=message).outcome == "created"
    assert client.llen(QUEUE) == 1
    assert client.hget(bucket_key(tenant), "tokens") == tokens


def test_redis_down_is_a_503_without_kombus_reconnect_back_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first submission builds the broker connection: with Redis down it fails at once (the
    record's script would too), never sleeping in kombu's reconnect back-off (2 s and more)."""
    slept: list[float] = []
    monkeypatch.setattr(kombu.utils.functional, "sleep", slept.append)
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(_env_file=None, redis_url=f"redis://127.0.0.1:{port}/0")
    celery = create_celery_app(settings, include_tasks=False)
    down = get_redis(settings)  # as the gateway's
    with LoopSubmitter(down, celery, settings) as submitter:
        for _ in range(2):
            with pytest.raises(BrokerUnavailable):
                submitter.submit(tenant="t", kind="evaluate", payload={}, webhook_url=None)
    assert slept == []
    celery.close()


class _LostReply(AsyncRecords):
    """Runs the accept script, then loses its reply (a socket timeout after Redis answered)."""

    async def accept(self, *args: Any, **kwargs: Any) -> Any:
        await super().accept(*args, **kwargs)
        raise redis.exceptions.TimeoutError("reply lost")


class _LostRedis(_LostReply):
    """… and Redis then answers nothing at all."""

    async def exists(self, job_id: str) -> bool:
        raise redis.exceptions.ConnectionError("Redis gone")


def test_a_lost_reply_is_answered_by_the_record_and_its_claim(
    client: redis.Redis, celery: Celery
) -> None:
    """The script ran but its reply was lost: the job exists with its message, so it is
    accepted (not a 503 whose retry would run it twice), and a repeat under the same
    Idempotency-Key is answered with it."""
    tenant = f"t-collected-{uuid.uuid4().hex[:8]}"
    evaluate = {"condition": "1", "context": {}}
    submit = dict(tenant=tenant, kind="evaluate", payload=evaluate, webhook_url=None,
                  idempotency_key="k", fingerprint_body=evaluate)  # fmt: skip
    with LoopSubmitter(client, celery, _settings(), records=_LostReply) as losing:
        first = losing.submit(**submit, job_id=f"collected-{uuid.uuid4()}")
    assert first.created
    (message,) = _messages(client, "eyeflow.interactive")
    assert message["headers"]["id"] == first.job_id
    with LoopSubmitter(client, celery, _settings()) as submitter:
        repeat = submitter.submit(**submit)
    assert (repeat.job_id, repeat.created) == (first.job_id, False)
    assert len(_messages(client, "eyeflow.interactive")) == 1
    for key in client.scan_iter(match=f"eyeflow:idempotency:{tenant}:*"):
        client.delete(key)


def test_a_lost_reply_redis_cannot_confirm_is_a_503_that_undoes_nothing(
    client: redis.Redis, celery: Celery
) -> None:
    """Redis answers nothing about a script that ran: 503 — and the job, which exists with its
    message, is left to run (deleting its record would strand the message)."""
    job_id = f"collected-{uuid.uuid4()}"
    with (
        LoopSubmitter(client, celery, _settings(), records=_LostRedis) as submitter,
        pytest.raises(BrokerUnavailable),
    ):
        submitter.submit(
            tenant="t-collected-x", kind="evaluate", payload={}, webhook_url=None, job_id=job_id
        )
    assert client.hget(job_key(job_id), "status") == "queued"
    assert len(_messages(client, "eyeflow.interactive")) == 1


def test_a_burst_of_first_submissions_all_enqueue(client: redis.Redis, celery: Celery) -> None:
    """40 at once on a gateway that has sent nothing yet: the queues are declared once, before
    any send, not by each of them on the broker channel's 10 connections."""
    ids = [f"collected-{uuid.uuid4()}" for _ in range(40)]
    burst = [
        dict(tenant="t-collected-burst", kind="evaluate", payload={}, webhook_url=None, job_id=i)
        for i in ids
    ]
    with LoopSubmitter(client, celery, _settings()) as submitter:
        done = submitter.submit_all(burst)
    assert all(s.created for s in done)
    queued = {m["headers"]["id"] for m in _messages(client, "eyeflow.interactive")}
    assert queued == set(ids)
