"""Fixtures for the fleet tests: the real Redis (database 9 only), a real Celery worker fleet
(one interactive worker, one batch worker) and the gateway app in-process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from api_gateway.main import create_app
from eyeflow_worker.core.celery_factory import create_celery_app
from eyeflow_worker.core.settings import Settings
from tests.fleet.worker_process import WorkerProcess, fleet_environment

FLEET_DB = 9
REDIS_URL = os.environ.get("EYEFLOW_TEST_REDIS", "redis://127.0.0.1:6379") + f"/{FLEET_DB}"


@pytest.fixture(scope="session")
def fleet_env() -> dict[str, str]:
    return fleet_environment(REDIS_URL)


@pytest.fixture(scope="session")
def fleet_settings(fleet_env: dict[str, str]) -> Settings:
    """The same settings the worker subprocesses read from their environment."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        **{k.lower(): v for k, v in fleet_env.items() if k.lower() in Settings.model_fields},
    )


@pytest.fixture(scope="session")
def fleet_redis(fleet_settings: Settings) -> redis.Redis:
    client = redis.Redis.from_url(fleet_settings.redis_url, decode_responses=True)
    client.flushdb()
    return client


@pytest.fixture(scope="session")
def fleet(
    fleet_env: dict[str, str],
    fleet_settings: Settings,
    fleet_redis: redis.Redis,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[None]:
    """Two real workers, as in production: interactive(+webhooks, maintenance) and batch."""
    celery = create_celery_app(fleet_settings, include_tasks=False)
    logs = tmp_path_factory.mktemp("worker-logs")
    s = fleet_settings
    workers = [
        WorkerProcess(
            fleet_env,
            f"{s.queue_interactive},{s.queue_webhooks},{s.queue_maintenance}",
            "interactive",
            Path(logs / "interactive.log"),
        ),
        WorkerProcess(fleet_env, s.queue_batch, "batch", Path(logs / "batch.log")),
    ]
    try:
        for worker in workers:
            worker.start(celery)
        yield
    finally:
        for worker in workers:
            worker.stop()


@pytest.fixture
def client(fleet: None, fleet_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(fleet_settings)) as test_client:
        yield test_client


@pytest.fixture
def app_client(fleet_settings: Settings, fleet_redis: redis.Redis) -> Iterator[TestClient]:
    """The gateway without workers: for tests of validation, auth and enqueueing only."""
    with TestClient(create_app(fleet_settings)) as test_client:
        yield test_client
