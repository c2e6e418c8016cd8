"""The fleet on RabbitMQ, as RabbitMQ sees it: quorum queues, countdowns that wait in the broker
(native delayed delivery) rather than in a worker, and the gateway's queue depths and health
read from RabbitMQ itself. (The jobs, batches and cancels run on it in `test_jobs.py` and
`test_batch_and_cancel.py`.)"""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from api_gateway.main import create_app
from eyeflow_worker.core.celery_factory import create_celery_app
from eyeflow_worker.core.routing import Tasks, all_queues
from eyeflow_worker.core.settings import Settings
from tests.brokers import admin, ready_messages, unacked_messages, vhost_of

pytestmark = pytest.mark.parametrize("fleet_broker", ["rabbitmq"], indirect=True)


def test_the_fleets_queues_are_quorum_queues(fleet: None, fleet_settings: Settings) -> None:
    types = admin().queue_types(vhost_of(fleet_settings.effective_broker_url))
    for queue in all_queues(fleet_settings):
        assert types[queue] == "quorum", types
    # Celery's native delayed delivery: its 28 delay levels, quorum too.
    delay_levels = {name for name in types if name.startswith("celery_delayed_")}
    assert len(delay_levels) == 28
    assert {types[name] for name in delay_levels} == {"quorum"}


def test_a_countdown_waits_in_rabbitmq_not_in_a_worker(
    fleet: None, fleet_settings: Settings
) -> None:
    url = fleet_settings.effective_broker_url
    celery = create_celery_app(fleet_settings, include_tasks=False)
    try:
        sent_at = time.monotonic()
        # A webhook for a job that does not exist: delivered, it logs and returns None. 2.2 s go
        # out as 3 (whole seconds: 0b11, the delay levels 1 and 0).
        result = celery.send_task(
            Tasks.WEBHOOK_DELIVER,
            args=["no-such-job"],
            queue=fleet_settings.queue_webhooks,
            countdown=2.2,
            # The fleet stores no Celery results (its records are the results): this one
            # asks for its own, so `get()` waits until the task really ran.
            ignore_result=False,
        )
        waiting = sum(ready_messages(url, f"celery_delayed_{level}") for level in (0, 1))
        held_by_workers = unacked_messages(url)
        assert result.get(timeout=30) is None
        ran_after = time.monotonic() - sent_at
    finally:
        celery.close()
    assert waiting == 1
    assert held_by_workers == 0
    assert ran_after >= 2.2


def test_a_sub_second_countdown_is_sent_and_runs(fleet: None, fleet_settings: Settings) -> None:
    # kombu refuses a countdown under a second on quorum queues; the fleet's app rounds it up.
    celery = create_celery_app(fleet_settings, include_tasks=False)
    try:
        result = celery.send_task(
            Tasks.WEBHOOK_DELIVER,
            args=["no-such-job"],
            queue=fleet_settings.queue_webhooks,
            countdown=0.2,
            ignore_result=False,  # as above: `get()` waits for the task to have run
        )
        assert result.get(timeout=30) is None
    finally:
        celery.close()


def test_metrics_and_health_read_queue_depths_from_rabbitmq(
    fleet_settings: Settings, fleet_redis: object
) -> None:
    # A gateway whose interactive queue no worker consumes: its job provably waits there.
    parked = fleet_settings.model_copy(update={"queue_interactive": "eyeflow.test.parked-depth"})
    with TestClient(create_app(parked)) as gateway:
        accepted = gateway.post("/api/rules/generate", json={"user_intent": "Page on-call"})
        assert accepted.status_code == 202, accepted.text
        metrics = gateway.get("/metrics").text
        health = gateway.get("/health").json()
        gateway.delete(f"/api/tasks/{accepted.json()['task_id']}")

    assert 'eyeflow_queue_depth{queue="eyeflow.test.parked-depth"} 1.0' in metrics
    assert 'eyeflow_queue_depth{queue="eyeflow.batch"} 0.0' in metrics
    assert health["broker"] == {"reachable": True}
    assert health["queues"]["eyeflow.test.parked-depth"] == 1


def test_an_unreachable_rabbitmq_is_reported_not_hidden(fleet_settings: Settings) -> None:
    gone = fleet_settings.model_copy(update={"broker_url": "amqp://guest:guest@127.0.0.1:1//"})
    with TestClient(create_app(gone)) as gateway:
        health = gateway.get("/health")
        metrics = gateway.get("/metrics")
        submitted = gateway.post("/api/rules/generate", json={"user_intent": "Page on-call"})

    assert health.status_code == 503
    assert health.json()["broker"]["reachable"] is False
    assert metrics.status_code == 503
    assert submitted.status_code == 503  # nothing was enqueued
