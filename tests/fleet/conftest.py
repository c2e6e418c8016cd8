"""Fixtures for the fleet tests: a real Celery worker fleet (one interactive worker, one batch
worker) on the real Redis, and the gateway app in-process.

Two fleets, one per broker, each started the first time a test asks for it and kept for the
session:
- `redis`: Redis database 9 holds the records and is the broker;
- `rabbitmq`: a RabbitMQ vhost of its own (`tests/brokers.py`) is the broker, quorum queues and
  all; Redis database 6 holds its records.
Every test runs on the Redis fleet; those in `BOTH_BROKERS` run once on each (`[redis]`,
`[rabbitmq]`). A test asks for the other fleet's fixtures only through `fleet_broker`, so the
two never share a record or a queue.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
import redis
from fastapi.testclient import TestClient

from api_gateway.main import create_app
from eyeflow_worker.core.celery_factory import create_celery_app
from eyeflow_worker.core.settings import Settings
from tests.brokers import fresh_vhost
from tests.fleet.worker_process import WorkerProcess, fleet_environment

Broker = Literal["redis", "rabbitmq"]
FLEET_DB = 9
RABBITMQ_FLEET_DB = 6
_REDIS = os.environ.get("EYEFLOW_TEST_REDIS", "redis://127.0.0.1:6379")
REDIS_URL = f"{_REDIS}/{FLEET_DB}"
# The modules whose every test runs on both brokers: jobs end to end, batches and cancels,
# /health and /metrics.
BOTH_BROKERS = frozenset({"test_jobs.py", "test_batch_and_cancel.py", "test_operations.py"})


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "fleet_broker" in metafunc.fixturenames and metafunc.definition.path.name in BOTH_BROKERS:
        metafunc.parametrize("fleet_broker", ["redis", "rabbitmq"], indirect=True)


def _settings(env: dict[str, str]) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        **{k.lower(): v for k, v in env.items() if k.lower() in Settings.model_fields},
    )


class FleetPool:
    """The session's fleets, built on first use: environment (and vhost), records database
    (flushed once), then the two workers."""

    def __init__(self, logs: Path) -> None:
        self._logs = logs
        self._stack = contextlib.ExitStack()
        self._envs: dict[Broker, dict[str, str]] = {}
        self._records: dict[Broker, redis.Redis] = {}
        self._workers: dict[Broker, list[WorkerProcess]] = {}

    def env(self, broker: Broker) -> dict[str, str]:
        if broker not in self._envs:
            if broker == "redis":
                self._envs[broker] = fleet_environment(REDIS_URL)
            else:
                vhost = self._stack.enter_context(fresh_vhost("fleet"))
                records = f"{_REDIS}/{RABBITMQ_FLEET_DB}"
                self._envs[broker] = fleet_environment(records, broker_url=vhost)
        return self._envs[broker]

    def settings(self, broker: Broker) -> Settings:
        return _settings(self.env(broker))

    def records(self, broker: Broker) -> redis.Redis:
        if broker not in self._records:
            client = redis.Redis.from_url(self.settings(broker).redis_url, decode_responses=True)
            client.flushdb()
            self._records[broker] = client
        return self._records[broker]

    def start(self, broker: Broker) -> None:
        """Two real workers, as in production: interactive (+ webhooks, maintenance) and batch."""
        if broker in self._workers:
            if not self._workers[broker]:
                pytest.fail(f"the {broker} fleet did not start (see the first test that used it)")
            return
        self._workers[broker] = []
        self.records(broker)
        env, s = self.env(broker), self.settings(broker)
        celery = create_celery_app(s, include_tasks=False)
        self._stack.callback(celery.close)
        interactive = f"{s.queue_interactive},{s.queue_webhooks},{s.queue_maintenance}"
        logs = self._logs
        workers = [
            WorkerProcess(env, interactive, "interactive", logs / f"{broker}-interactive.log"),
            WorkerProcess(env, s.queue_batch, "batch", logs / f"{broker}-batch.log"),
        ]
        for worker in workers:
            # Stopped before the vhost goes (the stack unwinds last in, first out).
            self._stack.callback(worker.stop)
            worker.start(celery)
        self._workers[broker] = workers

    def close(self) -> None:
        self._stack.close()


@pytest.fixture(scope="session")
def fleet_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetPool]:
    pool = FleetPool(tmp_path_factory.mktemp("worker-logs"))
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def fleet_broker(request: pytest.FixtureRequest) -> Broker:
    """The broker under test: `redis` unless the module is in BOTH_BROKERS."""
    broker: Broker = getattr(request, "param", "redis")
    return broker


@pytest.fixture
def fleet_env(fleet_pool: FleetPool, fleet_broker: Broker) -> dict[str, str]:
    return fleet_pool.env(fleet_broker)


@pytest.fixture
def fleet_settings(fleet_pool: FleetPool, fleet_broker: Broker) -> Settings:
    """The same settings the worker subprocesses read from their environment."""
    return fleet_pool.settings(fleet_broker)


@pytest.fixture
def fleet_redis(fleet_pool: FleetPool, fleet_broker: Broker) -> redis.Redis:
    """The fleet's records database (flushed once, when the session first uses it)."""
    return fleet_pool.records(fleet_broker)


@pytest.fixture
def fleet(fleet_pool: FleetPool, fleet_broker: Broker) -> None:
    fleet_pool.start(fleet_broker)


@pytest.fixture
def client(fleet: None, fleet_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(fleet_settings)) as test_client:
        yield test_client


@pytest.fixture
def app_client(fleet_settings: Settings, fleet_redis: redis.Redis) -> Iterator[TestClient]:
    """The gateway without workers: for tests of validation, auth and enqueueing only."""
    with TestClient(create_app(fleet_settings)) as test_client:
        yield test_client
