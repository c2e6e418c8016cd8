"""`POST /api/tasks/{id}/retry` and `?status=` on the real fleet: a finished batch's failed items
run again (and only they), the batch ends again with its webhook; a running or cancelled batch is
a 409, another tenant's or a non-batch a 404, an unreachable broker a 503 that changes nothing.

Items fail for real: the offline drafter cannot keep a threshold in seconds in the conditions
(`invalid_llm_output`), every time — so a re-run fails those items again, deterministically.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api_gateway.main import create_app
from eyeflow_worker.core.settings import Settings
from tests.fleet.helpers import wait_for_task
from tests.fleet.test_webhooks import Receiver

GOOD = [
    "Alert the team when CPU exceeds 90%",
    "Alert the team when memory exceeds 85%",
    "Page on-call when disk usage exceeds 95%",
    "Alert the team when error rate exceeds 5%",
]
FAILING = [
    "Escalate to the DBA team when replication lag exceeds 30 seconds",
    "Escalate to the DBA team when replication lag exceeds 45 seconds",
]
INTENTS = [GOOD[0], FAILING[0], GOOD[1], GOOD[2], FAILING[1], GOOD[3]]
FAILED_AT = [1, 4]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def parked_batches(fleet_settings: Settings, fleet: None) -> Iterator[TestClient]:
    """A gateway whose batch queue no worker consumes: what it sends provably stays queued."""
    parked = fleet_settings.model_copy(update={"queue_batch": "eyeflow.test.parked-batch"})
    with TestClient(create_app(parked)) as gateway:
        yield gateway


def _finished_batch(client: TestClient, **extra: Any) -> dict[str, Any]:
    task_id = client.post("/api/rules/generate-batch", json={"intents": INTENTS, **extra}).json()[
        "task_id"
    ]
    task = wait_for_task(client, task_id)
    assert task["status"] == "succeeded"
    assert task["progress"] == {"total": 6, "succeeded": 4, "failed": 2, "cancelled": 0}
    return task


def _indexes(client: TestClient, task_id: str, status: str) -> list[int]:
    page = client.get(f"/api/tasks/{task_id}/results", params={"status": status}).json()
    return [item["index"] for item in page["items"]]


def test_a_retry_reruns_only_the_failed_items_and_the_batch_ends_again_with_its_webhook(
    client: TestClient, receiver: Receiver
) -> None:
    first = _finished_batch(client, webhook_url=receiver.url)
    task_id = first["task_id"]
    _headers, body = receiver.next_delivery()
    assert json.loads(body)["progress"]["failed"] == 2
    succeeded_before = client.get(
        f"/api/tasks/{task_id}/results", params={"status": "succeeded"}
    ).json()["items"]

    response = client.post(f"/api/tasks/{task_id}/retry")

    assert response.status_code == 200, response.text
    retried = response.json()
    assert retried["requeued"] == 2
    assert retried["task_id"] == task_id
    assert retried["status"] == "running"
    assert retried["finished_at"] is None
    assert retried["progress"] == {"total": 6, "succeeded": 4, "failed": 0, "cancelled": 0}

    again = wait_for_task(client, task_id)
    assert again["status"] == "succeeded"
    assert again["progress"] == first["progress"]
    assert again["finished_at"] is not None
    assert again["finished_at"] > first["finished_at"]
    assert again["attempts"] == first["attempts"] + 1
    failed = client.get(f"/api/tasks/{task_id}/results", params={"status": "failed"}).json()
    assert [item["index"] for item in failed["items"]] == FAILED_AT
    assert all(item["attempt"] == 2 for item in failed["items"])
    assert all(item["error"]["code"] == "invalid_llm_output" for item in failed["items"])
    # The items that had succeeded were not run again.
    assert (
        client.get(f"/api/tasks/{task_id}/results", params={"status": "succeeded"}).json()["items"]
        == succeeded_before
    )
    _headers, body = receiver.next_delivery()
    delivered = json.loads(body)
    assert delivered["finished_at"] == again["finished_at"]
    assert delivered["progress"]["failed"] == 2


def test_the_webhook_of_a_rerun_is_a_new_event(client: TestClient, receiver: Receiver) -> None:
    task_id = _finished_batch(client, webhook_url=receiver.url)["task_id"]
    first_headers, _ = receiver.next_delivery()
    assert client.post(f"/api/tasks/{task_id}/retry").status_code == 200
    wait_for_task(client, task_id)

    # A first event may be delivered twice (a redelivered item message can queue it again while
    # the finishing worker is still marking it queued; receivers deduplicate on its id): skip
    # repeats of it until the re-run's event arrives.
    second_headers, _ = receiver.next_delivery()
    for _repeat in range(3):
        if second_headers["webhook-id"] != first_headers["webhook-id"]:
            break
        second_headers, _ = receiver.next_delivery()

    assert first_headers["webhook-id"] == f"msg_{task_id}_succeeded"
    assert second_headers["webhook-id"] == f"msg_{task_id}_succeeded_r1"


def test_a_batch_where_nothing_failed_answers_zero_and_is_unchanged(client: TestClient) -> None:
    task_id = client.post("/api/rules/generate-batch", json={"intents": GOOD}).json()["task_id"]
    finished = wait_for_task(client, task_id)
    assert finished["progress"]["failed"] == 0

    response = client.post(f"/api/tasks/{task_id}/retry")

    assert response.status_code == 200
    assert response.json() == {**finished, "requeued": 0}
    assert client.get(f"/api/tasks/{task_id}").json() == finished


def test_a_running_or_cancelled_batch_is_a_409_with_the_task(parked_batches: TestClient) -> None:
    task_id = parked_batches.post("/api/rules/generate-batch", json={"intents": GOOD}).json()[
        "task_id"
    ]

    while_queued = parked_batches.post(f"/api/tasks/{task_id}/retry")
    assert parked_batches.delete(f"/api/tasks/{task_id}").status_code == 200
    once_cancelled = parked_batches.post(f"/api/tasks/{task_id}/retry")

    assert while_queued.status_code == 409
    assert while_queued.json()["task"]["status"] == "queued"
    assert "running" in while_queued.json()["detail"]
    assert once_cancelled.status_code == 409
    assert once_cancelled.json()["task"]["status"] == "cancelled"
    assert "cancelled" in once_cancelled.json()["detail"]


def test_concurrent_retries_requeue_the_failed_items_once(
    client: TestClient, parked_batches: TestClient
) -> None:
    task_id = _finished_batch(client)["task_id"]
    start = threading.Barrier(4)
    answers: list[tuple[int, dict[str, Any]]] = []

    def retry() -> None:
        start.wait()
        response = parked_batches.post(f"/api/tasks/{task_id}/retry")
        answers.append((response.status_code, response.json()))

    threads = [threading.Thread(target=retry) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    codes = sorted(code for code, _ in answers)
    assert codes == [200, 409, 409, 409]
    assert [body["requeued"] for code, body in answers if code == 200] == [2]
    assert _indexes(client, task_id, "queued") == FAILED_AT
    # The re-run sits on the parked queue; cancel it so nothing is left running.
    assert client.delete(f"/api/tasks/{task_id}").json()["progress"]["cancelled"] == 2


def test_an_unreachable_broker_is_a_503_and_nothing_changes(
    client: TestClient, fleet_settings: Settings
) -> None:
    before = _finished_batch(client)
    task_id = before["task_id"]
    no_broker = fleet_settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"})

    with TestClient(create_app(no_broker)) as gateway:
        response = gateway.post(f"/api/tasks/{task_id}/retry")

    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert client.get(f"/api/tasks/{task_id}").json() == before
    assert _indexes(client, task_id, "failed") == FAILED_AT
    # Still retryable, and its items run once the broker is back.
    assert client.post(f"/api/tasks/{task_id}/retry").json()["requeued"] == 2
    assert wait_for_task(client, task_id)["progress"] == before["progress"]


def test_another_tenant_or_a_non_batch_is_a_404_like_every_task_route(
    client: TestClient, parked_batches: TestClient
) -> None:
    task_id = _finished_batch(client)["task_id"]
    job_id = client.post("/api/conditions/evaluate", json={"condition": "1 < 2", "context": {}})
    generate_id = job_id.json()["task_id"]
    wait_for_task(client, generate_id)

    other_tenant = client.post(f"/api/tasks/{task_id}/retry", headers={"X-User-ID": "intruder"})
    not_a_batch = client.post(f"/api/tasks/{generate_id}/retry")
    unknown = client.post("/api/tasks/00000000-0000-4000-8000-000000000000/retry")
    not_an_id = client.post("/api/tasks/eyeflow:job:x/retry")

    assert other_tenant.status_code == 404
    assert (
        other_tenant.json()
        == client.get(f"/api/tasks/{task_id}", headers={"X-User-ID": "intruder"}).json()
    )
    assert not_a_batch.status_code == 404
    assert not_a_batch.json() == client.get(f"/api/tasks/{generate_id}/results").json()
    assert unknown.status_code == 404
    assert not_an_id.status_code == 404
    assert client.get(f"/api/tasks/{task_id}").json()["progress"]["failed"] == 2


def test_results_filtered_by_status_page_over_the_matching_items(client: TestClient) -> None:
    task_id = _finished_batch(client)["task_id"]

    first = client.get(
        f"/api/tasks/{task_id}/results", params={"status": "failed", "limit": 1}
    ).json()
    second = client.get(
        f"/api/tasks/{task_id}/results",
        params={"status": "failed", "limit": 1, "offset": first["next_offset"]},
    ).json()
    succeeded = client.get(f"/api/tasks/{task_id}/results", params={"status": "succeeded"}).json()
    queued = client.get(f"/api/tasks/{task_id}/results", params={"status": "queued"}).json()
    unknown = client.get(f"/api/tasks/{task_id}/results", params={"status": "done"})

    assert [item["index"] for item in first["items"]] == [1]
    assert first["next_offset"] == 1
    assert [item["index"] for item in second["items"]] == [4]
    assert second["next_offset"] is None
    assert [item["intent"] for item in first["items"] + second["items"]] == FAILING
    assert [item["index"] for item in succeeded["items"]] == [0, 2, 3, 5]
    assert {item["status"] for item in succeeded["items"]} == {"succeeded"}
    assert (queued["items"], queued["next_offset"], queued["total"]) == ([], None, 6)
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["loc"] == ["query", "status"]
