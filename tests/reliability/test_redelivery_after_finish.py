"""A worker that dies *after* a job reached its terminal state but *before* the job's webhook was
queued: the redelivered message must still get the webhook queued.

This window cannot be hit reliably with SIGKILL from outside (it is a few Redis round trips
wide), so the test runs the task body in-process against the real Redis (database 14) and makes
the process "die" exactly there: the first webhook enqueue raises a BaseException,
as a SIGKILL at that instant would stop the thread. Celery then redelivers the unacked message
(late acks), which is simulated by running the same task again.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from eyeflow_worker.celery_app import app
from eyeflow_worker.core.records import NewJob
from eyeflow_worker.core.routing import Tasks
from eyeflow_worker.runtime import Runtime, install_runtime
from eyeflow_worker.tasks import batch, interactive, maintenance
from tests.reliability.conftest import reliability_env, settings_from


class WorkerDied(BaseException):
    """Stands in for SIGKILL: nothing after the raise point runs, nothing catches it."""


class WebhookQueue:
    """Stands in for the broker the webhook delivery is sent to: the first send "kills the
    worker", later ones are kept."""

    def __init__(self) -> None:
        self.crashed = False
        self.enqueued: list[list[Any]] = []

    def send_task(self, name: str, args: list[Any], **_: Any) -> None:
        assert name == Tasks.WEBHOOK_DELIVER
        if not self.crashed:
            self.crashed = True
            raise WorkerDied
        self.enqueued.append(args)


@pytest.fixture
def webhooks() -> WebhookQueue:
    return WebhookQueue()


@pytest.fixture
def rt(db14: redis.Redis, webhooks: WebhookQueue) -> Iterator[Runtime]:
    """The tasks' runtime, installed on the workers' app, its webhooks sent to `webhooks`."""
    settings = settings_from(reliability_env())  # offline provider
    runtime = Runtime.build(settings, webhooks)  # type: ignore[arg-type]
    previous = getattr(app, "eyeflow_runtime", None)
    install_runtime(app, runtime)
    yield runtime
    app.eyeflow_runtime = previous


def test_generate_redelivered_after_finishing_still_queues_its_webhook(
    rt: Runtime, webhooks: WebhookQueue
) -> None:
    job_id = str(uuid.uuid4())
    rt.jobs.create(
        NewJob(
            job_id=job_id,
            tenant="system",
            kind="generate",
            payload={"user_intent": "Alert the team when CPU exceeds 90%"},
            webhook_url="http://127.0.0.1:9/hook",
        )
    )

    with pytest.raises(WorkerDied):
        interactive.generate.run(job_id, "system")  # first delivery: dies after `succeed`
    assert (rt.jobs.get(job_id) or {})["status"] == "succeeded"

    interactive.generate.run(job_id, "system")  # the redelivery of the unacked message

    assert webhooks.enqueued == [[job_id]], "the succeeded job's webhook was never queued"


def test_last_batch_item_redelivered_after_finishing_the_batch_still_queues_its_webhook(
    rt: Runtime, webhooks: WebhookQueue
) -> None:
    job_id = str(uuid.uuid4())
    rt.jobs.create(
        NewJob(
            job_id=job_id,
            tenant="system",
            kind="batch",
            payload={},
            webhook_url="http://127.0.0.1:9/hook",
            intents=("Alert the team when CPU exceeds 90%",),
        )
    )

    with pytest.raises(WorkerDied):
        batch.generate_item.run(job_id, "system", 0)  # stores the item, completes the batch
    assert (rt.jobs.get(job_id) or {})["status"] == "succeeded"

    batch.generate_item.run(job_id, "system", 0)  # the redelivery

    assert webhooks.enqueued == [[job_id]], "the finished batch's webhook was never queued"


def test_the_beat_sweep_queues_a_webhook_whose_job_was_never_redelivered(
    rt: Runtime, webhooks: WebhookQueue
) -> None:
    job_id = str(uuid.uuid4())
    rt.jobs.create(
        NewJob(
            job_id=job_id,
            tenant="system",
            kind="evaluate",
            payload={"condition": "1 < 2", "context": {}},
            webhook_url="http://127.0.0.1:9/hook",
        )
    )
    with pytest.raises(WorkerDied):
        interactive.evaluate.run(job_id, "system")  # ends the job, dies before queueing

    assert maintenance.sweep_webhook_outbox.run(older_than_seconds=3600) == 0  # not stale yet
    assert maintenance.sweep_webhook_outbox.run(older_than_seconds=0) == 1
    assert maintenance.sweep_webhook_outbox.run(older_than_seconds=0) == 0  # left the outbox

    assert webhooks.enqueued == [[job_id]]
