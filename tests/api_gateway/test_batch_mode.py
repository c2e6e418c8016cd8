"""`mode` on a batch submission: refused with 422 naming the field when unknown; the requested
mode (or BATCH_DEFAULT_MODE) lands in the job record and the task object."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient

from api_gateway.main import create_app
from eyeflow_worker.core.records import JobStore, NewJob
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.core.task_view import task_view

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
def client() -> Iterator[TestClient]:
    settings = Settings(_env_file=None, redis_url=REDIS_URL)  # type: ignore[call-arg]
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_an_unknown_mode_is_refused_naming_the_field(client: TestClient) -> None:
    response = client.post(
        "/api/rules/generate-batch",
        json={"intents": ["alert on memory"], "mode": "cheap"},
        headers={"X-User-ID": "acme"},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "mode"]


def test_the_requested_mode_is_in_the_record_and_the_task() -> None:
    connection = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    connection.flushdb()
    jobs = JobStore(connection, 60)
    jobs.create(NewJob("b1", "acme", "batch", {"mode": "economy"}, intents=("a", "b")))
    jobs.create(NewJob("b2", "acme", "batch", {}, intents=("a",)))

    record = jobs.get("b1") or {}
    assert record["mode"] == "economy"
    view = task_view("b1", record).to_json()
    assert view["mode"] == "economy"
    assert view["provider_batches"] == []
    assert view["cost_usd"] == 0
    assert "mode" not in task_view("b2", jobs.get("b2") or {}).to_json()
