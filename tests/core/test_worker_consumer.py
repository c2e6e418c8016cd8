"""The soft shutdown's last step on the threads pool: a running job's message is handed back to
the broker (after `job_handed_back`), instead of Celery's NotImplementedError. The whole path,
with real workers on both brokers, is `tests/reliability/test_soft_shutdown.py`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from celery.concurrency.thread import TaskPool as ThreadsPool
from celery.worker.state import active_requests, successful_requests

from eyeflow_worker.core.worker_consumer import Consumer, job_handed_back


@dataclass
class _Message:
    rejected: list[bool] = field(default_factory=list)

    def reject(self, requeue: bool = False) -> None:
        self.rejected.append(requeue)


@dataclass
class _Task:
    acks_late: bool = True


class _Request:
    """The parts of Celery's Request the consumer reads (hashable, weak-referenceable)."""

    def __init__(self, request_id: str, *, acks_late: bool = True, acked: bool = False) -> None:
        self.id = request_id
        self.task = _Task(acks_late)
        self.acknowledged = acked
        self.message = _Message()


def _consumer(pool: object) -> Consumer:
    """A consumer with only its pool (Celery's __init__ needs a whole worker)."""
    consumer = Consumer.__new__(Consumer)
    consumer.pool = pool
    return consumer


@pytest.fixture
def requests() -> Iterator[list[_Request]]:
    made: list[_Request] = []
    yield made
    for request in made:
        active_requests.discard(request)


def _running(made: list[_Request], *args: Any, **kwargs: Any) -> _Request:
    request = _Request(*args, **kwargs)
    made.append(request)
    active_requests.add(request)
    return request


def test_running_jobs_messages_are_handed_back_once(requests: list[_Request]) -> None:
    running = _running(requests, "job-running")
    acked = _running(requests, "job-acked", acked=True)
    early_ack = _running(requests, "job-early-ack", acks_late=False)
    done = _running(requests, "job-done")
    successful_requests.add(done.id)
    announced: list[str] = []

    def on_hand_back(sender: object = None, request: Any = None, **_: Any) -> None:
        announced.append(request.id)

    job_handed_back.connect(on_hand_back, weak=False)
    try:
        _consumer(ThreadsPool.__new__(ThreadsPool)).cancel_active_requests()
    finally:
        job_handed_back.disconnect(on_hand_back)
        successful_requests.discard(done.id)

    assert running.message.rejected == [True]  # back on its queue, at once
    assert running.acknowledged  # the thread's own ack at its end is skipped
    assert announced == ["job-running"]
    for untouched in (acked, early_ack, done):
        assert untouched.message.rejected == []


def test_other_pools_keep_celerys_cancel(monkeypatch: pytest.MonkeyPatch) -> None:
    called: list[bool] = []
    monkeypatch.setattr(
        Consumer.__mro__[1], "cancel_active_requests", lambda self: called.append(True)
    )
    _consumer(object()).cancel_active_requests()
    assert called == [True]
