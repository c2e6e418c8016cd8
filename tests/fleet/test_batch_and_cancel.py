"""Batches fan out over the batch worker; cancellation keeps finished work and drops the rest."""

from __future__ import annotations

import redis
from fastapi.testclient import TestClient

from api_gateway.main import create_app
from eyeflow_worker.core.records import JobStore
from eyeflow_worker.core.settings import Settings
from tests.fleet.helpers import wait_for_task

METRICS = ["CPU", "memory", "disk usage", "error rate", "latency"]


def _intents(count: int) -> list[str]:
    return [
        f"Alert the team when {METRICS[i % len(METRICS)]} exceeds {50 + i % 50}% (case {i})"
        for i in range(count)
    ]


def test_a_batch_of_200_completes_with_progress_and_paged_results(client: TestClient) -> None:
    intents = _intents(200)
    response = client.post("/api/rules/generate-batch", json={"intents": intents})

    assert response.status_code == 202
    accepted = response.json()
    assert accepted["kind"] == "batch"
    assert accepted["total"] == 200

    task = wait_for_task(client, accepted["task_id"], timeout=180)
    assert task["status"] == "succeeded", task["progress"]
    assert task["progress"] == {"total": 200, "succeeded": 200, "failed": 0, "cancelled": 0}

    seen: list[dict] = []
    offset: int | None = 0
    while offset is not None:
        page = client.get(
            f"/api/tasks/{accepted['task_id']}/results", params={"offset": offset, "limit": 64}
        ).json()
        assert page["total"] == 200
        seen.extend(page["items"])
        offset = page["next_offset"]
    assert [item["index"] for item in seen] == list(range(200))
    assert [item["intent"] for item in seen] == intents
    assert all(item["status"] == "succeeded" and item["workflow_rules"]["rules"] for item in seen)
    assert all(isinstance(item["tokens_used"], int) for item in seen)


def test_cancelling_a_queued_job_is_final(fleet_settings: Settings) -> None:
    # A gateway whose interactive queue no worker consumes: the job provably stays queued.
    parked = fleet_settings.model_copy(update={"queue_interactive": "eyeflow.test.parked"})
    with TestClient(create_app(parked)) as gateway:
        task_id = gateway.post(
            "/api/rules/generate", json={"user_intent": "Page on-call if disk > 95%"}
        ).json()["task_id"]

        cancelled = gateway.delete(f"/api/tasks/{task_id}")
        again = gateway.delete(f"/api/tasks/{task_id}")

        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "cancelled"
        assert cancelled.json()["error"]["code"] == "cancelled"
        assert again.status_code == 409
        assert gateway.get(f"/api/tasks/{task_id}").json()["status"] == "cancelled"


def test_cancelling_a_batch_keeps_finished_items_and_cancels_the_rest(
    client: TestClient, fleet_settings: Settings
) -> None:
    task_id = client.post("/api/rules/generate-batch", json={"intents": _intents(1500)}).json()[
        "task_id"
    ]

    response = client.delete(f"/api/tasks/{task_id}")

    assert response.status_code == 200
    task = response.json()
    assert task["status"] == "cancelled"
    progress = task["progress"]
    assert progress["cancelled"] > 0
    assert progress["succeeded"] + progress["failed"] + progress["cancelled"] == 1500

    # Items already stored stay readable; the others read as cancelled, never as lost.
    items = client.get(f"/api/tasks/{task_id}/results", params={"limit": 500}).json()["items"]
    statuses = {item["status"] for item in items}
    assert statuses <= {"succeeded", "failed", "cancelled"}
    after = client.get(f"/api/tasks/{task_id}").json()
    assert after["status"] == "cancelled"
    # An item still in flight at cancel time is discarded, not counted later.
    assert after["progress"] == progress


def test_a_cancel_stands_when_the_broker_is_down_and_its_webhook_waits_in_the_outbox(
    fleet_settings: Settings,
) -> None:
    parked = fleet_settings.model_copy(update={"queue_interactive": "eyeflow.test.parked"})
    with TestClient(create_app(parked)) as gateway:
        task_id = gateway.post(
            "/api/rules/generate",
            json={"user_intent": "Page on-call", "webhook_url": "http://127.0.0.1:9/hook"},
        ).json()["task_id"]
    no_broker = parked.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"})
    with TestClient(create_app(no_broker)) as gateway:
        response = gateway.delete(f"/api/tasks/{task_id}")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["webhook"]["status"] == "pending"
    store = JobStore(redis.Redis.from_url(fleet_settings.redis_url, decode_responses=True), 60)
    assert task_id in store.pending_webhooks(older_than_seconds=0)
