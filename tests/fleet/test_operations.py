"""Operations endpoints read the real broker, workers and shared metrics."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from eyeflow_worker.core.routing import all_queues
from eyeflow_worker.core.settings import Settings


def test_health_reports_broker_workers_queues_and_provider(
    client: TestClient, fleet_settings: Settings
) -> None:
    # Workers online come from a ping cached in Redis and refreshed in the background (the
    # first /health of a fresh gateway may find none yet); a worker busy on a loaded 2-core CI
    # machine may miss a ping, so /health is asked until a refresh has seen both, for a while.
    deadline = time.monotonic() + 15
    while True:
        health = client.get("/health")
        body = health.json()
        if (body["workers"]["online"] or 0) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)

    assert health.status_code == 200
    assert body["broker"]["reachable"] is True
    assert body["workers"]["online"] >= 2
    assert sorted(body["workers"]["names"])[0].startswith("batch@")
    assert set(body["queues"]) == set(all_queues(fleet_settings))
    assert body["provider"] == "offline"
    assert body["status"] in ("healthy", "degraded")


def test_metrics_count_jobs_by_kind_and_status(client: TestClient) -> None:
    client.post(
        "/api/conditions/evaluate", params={"wait": 30}, json={"condition": "1 < 2", "context": {}}
    )

    text = client.get("/metrics").text

    assert "# TYPE eyeflow_jobs_total counter" in text
    assert 'eyeflow_jobs_total{kind="evaluate",status="succeeded"}' in text
    assert 'eyeflow_queue_depth{queue="eyeflow.batch"}' in text
    assert 'eyeflow_job_queue_wait_seconds_count{kind="evaluate"}' in text
    assert 'eyeflow_job_run_seconds_bucket{kind="evaluate",le="+Inf"}' in text


def test_providers_lists_every_supported_provider(client: TestClient) -> None:
    body = client.get("/providers").json()

    names = {provider["name"] for provider in body["providers"]}
    assert {"offline", "anthropic", "openai", "ollama", "llamacpp"} <= names
    assert body["active"]["provider"] == "offline"
