"""Fixtures for the reliability tests: Redis database 14 only (flushed before each test), real
Celery worker subprocesses this package starts and SIGKILLs itself, and the gateway in-process.

Kombu's Redis transport keeps every delivered-but-unacked message in the `unacked` hash, indexed
by delivery time in the `unacked_index` sorted set. A message goes back on its queue only when
`QoS.restore_visible()` runs and finds it older than `visibility_timeout`. In a worker's event
loop that happens once when the consumer registers with the loop (`on_poll_init`) and then only
every `unacked_restore_interval` × `unacked_restore_throttle` seconds (10 × 10 = 100 s, neither
is set by `celeryconfig.py`). So the tests make redelivery deterministic: after the kill they
read the killed worker's entries from `unacked_index`, wait until the newest one is older than
the visibility timeout, and only then start the replacement worker, whose start-up sweep must
restore every one of them.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery

from eyeflow_worker.core.celery_factory import create_celery_app
from eyeflow_worker.core.settings import Settings
from tests.fleet.worker_process import WorkerProcess, fleet_environment

RELIABILITY_DB = 14
REDIS_URL = os.environ.get("EYEFLOW_TEST_REDIS", "redis://127.0.0.1:6379") + f"/{RELIABILITY_DB}"
VISIBILITY_TIMEOUT = 4


class KillableWorker(WorkerProcess):
    """A fleet worker that can also die the hard way (OOM killer, `kill -9`, a node lost)."""

    def kill(self) -> None:
        process = self._process
        assert process is not None, "worker was never started"
        assert process.poll() is None, "worker is not running"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        assert process.returncode == -signal.SIGKILL

    @property
    def log(self) -> str:
        return self._log_path.read_text(errors="replace")


def settings_from(env: dict[str, str]) -> Settings:
    """The settings the worker subprocesses read from `env` (for the in-process gateway)."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        **{k.lower(): v for k, v in env.items() if k.lower() in Settings.model_fields},
    )


def reliability_env(redis_url: str = REDIS_URL, **extra: str) -> dict[str, str]:
    return fleet_environment(
        redis_url, extra={"VISIBILITY_TIMEOUT_SECONDS": str(VISIBILITY_TIMEOUT), **extra}
    )


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> float:
    """Poll `predicate` until truthy; return the seconds it took. Fails the test at the deadline."""
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def unacked_delivery_times(client: redis.Redis) -> list[float]:
    """Delivery timestamps of every message kombu holds as delivered-but-unacked."""
    return [score for _, score in client.zrange("unacked_index", 0, -1, withscores=True)]


def wait_until_restorable(client: redis.Redis, visibility_timeout: float) -> float:
    """Sleep until every unacked message is older than the visibility timeout (so the next
    `restore_visible` sweep restores all of them). Returns the seconds waited."""
    times = unacked_delivery_times(client)
    assert times, "the killed worker left no unacked message behind"
    wait = max(times) + visibility_timeout + 0.25 - time.time()
    if wait > 0:
        time.sleep(wait)
    return max(wait, 0.0)


@pytest.fixture
def db14() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def worker_factory(
    tmp_path: Path,
) -> Iterator[Callable[[dict[str, str], str, str], KillableWorker]]:
    """Start workers (`env`, queues, name) that are always stopped at the end of the test."""
    started: list[KillableWorker] = []
    apps: list[Celery] = []

    def start(env: dict[str, str], queues: str, name: str) -> KillableWorker:
        worker = KillableWorker(env, queues, name, tmp_path / f"{name}.log")
        celery = create_celery_app(settings_from(env), include_tasks=False)
        apps.append(celery)
        started.append(worker)
        worker.start(celery)
        return worker

    yield start
    for worker in started:
        process = worker._process
        if process is not None and process.poll() is None:
            worker.stop()
    for celery in apps:
        celery.close()
