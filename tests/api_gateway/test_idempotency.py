"""Idempotency-Key under concurrency: a repeat never gets a job id that might not exist."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from kombu.exceptions import OperationalError

from api_gateway.enqueue import BrokerUnavailable, IdempotencyConflict, Submission, Submitter
from eyeflow_worker.core.job_accept import Acceptor
from eyeflow_worker.core.records import JobStore
from eyeflow_worker.core.records_async import AsyncRecords
from eyeflow_worker.core.settings import Settings

REDIS_URL = "redis://127.0.0.1:6379/15"
# These tests hold and fail the message's send itself: the path where the broker is not the
# records' Redis and the message is sent after the record (`SlowBroker` stands in for Celery;
# nothing connects to this URL). On the records' own Redis, record and message are written by
# one script (`tests/api_gateway/test_collected_send.py`).
SEPARATE_BROKER = "amqp://guest:guest@127.0.0.1:5672//"


class SlowBroker:
    """Holds `send_task` until released; optionally fails it, as a dead broker would."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail = False
        self.sent: list[str] = []

    def send_task(self, name: str, **kwargs: Any) -> None:
        self.entered.set()
        assert self.release.wait(10)
        if self.fail:
            raise OperationalError("broker down")
        self.sent.append(kwargs["task_id"])


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, broker_url=SEPARATE_BROKER, **values)  # type: ignore[call-arg]


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


def _submitter(
    client: redis.Redis, broker: SlowBroker, store: JobStore | None = None, **values: Any
) -> Submitter:
    """On another broker the submission's Redis calls are the sync store's (made on a thread),
    so the asyncio records are never opened."""
    settings = _settings(**({"idempotency_ttl_seconds": 3600} | values))
    records = AsyncRecords(settings, Acceptor(client, 60))
    store = store if store is not None else JobStore(client, 60)
    return Submitter(client, store, records, broker, settings)  # type: ignore[arg-type]


def _submit(submitter: Submitter, **submission: Any) -> Submission:
    """One submission, on an event loop of its own (this thread's)."""
    asked = dict(
        tenant="t", kind="generate", payload={"user_intent": "x"}, webhook_url=None,
        idempotency_key="k", fingerprint_body={"user_intent": "x"},
    )  # fmt: skip
    return asyncio.run(submitter.submit(**(asked | submission)))


def test_a_repeat_during_the_first_enqueue_is_told_to_retry(client: redis.Redis) -> None:
    broker = SlowBroker()
    submitter = _submitter(client, broker)
    results: list[Submission] = []
    first = threading.Thread(target=lambda: results.append(_submit(submitter)))
    first.start()
    assert broker.entered.wait(10)

    with pytest.raises(IdempotencyConflict, match="still being processed"):
        _submit(submitter)

    broker.release.set()
    first.join(10)
    repeat = _submit(submitter)
    assert repeat.job_id == results[0].job_id == broker.sent[0]
    assert (results[0].created, repeat.created) == (True, False)


def test_a_first_request_that_fails_frees_the_key(client: redis.Redis) -> None:
    broker = SlowBroker()
    broker.fail = True
    broker.release.set()
    submitter = _submitter(client, broker)

    with pytest.raises(BrokerUnavailable):
        _submit(submitter)
    broker.fail = False
    retried = _submit(submitter)

    assert retried.created is True
    assert broker.sent == [retried.job_id]


def test_a_pending_claim_expires_quickly_and_a_confirmed_one_lasts(client: redis.Redis) -> None:
    broker = SlowBroker()
    submitter = _submitter(client, broker)
    worker = threading.Thread(target=lambda: _submit(submitter))
    worker.start()
    assert broker.entered.wait(10)
    (claim_key,) = client.keys("eyeflow:idempotency:*")
    pending_ttl = client.ttl(claim_key)

    broker.release.set()
    worker.join(10)

    assert 0 < pending_ttl <= 60  # a gateway dying here blocks the key for a minute, not a day
    assert client.ttl(claim_key) > 3000


class LostReplyStore(JobStore):
    """Runs the accept script, then loses its reply (a socket timeout after Redis answered)."""

    def accept(self, *args: Any, **kwargs: Any) -> Any:
        super().accept(*args, **kwargs)
        raise redis.exceptions.TimeoutError("reply lost")


def test_a_repeat_whose_reply_is_lost_leaves_the_first_requests_claim(
    client: redis.Redis,
) -> None:
    """The script answered `held` (the key is the first request's) but the repeat never saw it:
    its 503 must not delete the first request's claim, or a retry would make a second job."""
    broker = SlowBroker()
    broker.release.set()
    first = _submit(_submitter(client, broker))
    claims = list(client.scan_iter(match="eyeflow:idempotency:t:*"))
    held = {key: client.get(key) for key in claims}

    losing = _submitter(client, broker, LostReplyStore(client, 60))
    with pytest.raises(BrokerUnavailable):
        _submit(losing)

    assert {key: client.get(key) for key in claims} == held  # still the first request's
    again = _submit(_submitter(client, broker))
    assert (again.job_id, again.created) == (first.job_id, False)
    assert broker.sent == [first.job_id]


def test_a_submission_the_broker_refuses_gives_its_rate_token_back(client: redis.Redis) -> None:
    """A 503 keeps nothing, the tenant's rate token included: a client retrying through a broker
    outage is not locked out by 429s once the broker is back."""
    broker = SlowBroker()
    broker.release.set()
    broker.fail = True
    submitter = _submitter(client, broker, tenant_submit_rate_per_minute=60, tenant_submit_burst=2)
    for _ in range(5):  # more refusals than the burst
        with pytest.raises(BrokerUnavailable):
            _submit(submitter)
    broker.fail = False
    for _ in range(2):  # the whole burst is still there
        _submit(submitter, idempotency_key=None)
    assert len(broker.sent) == 2
