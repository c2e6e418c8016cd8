"""Fixtures for the reliability tests: Redis database 14 only (flushed before each test), real
Celery worker subprocesses this package starts and SIGKILLs itself, and the gateway in-process.

Brokers. Every test runs on the Redis broker (database 14 itself); the modules of
`BOTH_BROKERS` and the tests of `BOTH_BROKERS_TESTS` run a second time on RabbitMQ
(`[rabbitmq]`): a vhost of their own, made for the test and removed after it
(`tests/brokers.py`), with database 14 still holding the records.
`reliability_env()` and the helpers below follow the test's broker.

Redis. Kombu's Redis transport keeps every delivered-but-unacked message in the `unacked` hash,
indexed by delivery time in the `unacked_index` sorted set. A message goes back on its queue
only when `QoS.restore_visible()` runs and finds it older than `visibility_timeout`. In a
worker's event loop that happens once when the consumer registers with the loop
(`on_poll_init`) and then every `unacked_restore_interval` × `unacked_restore_throttle` seconds
(10 × 1 in `celeryconfig.py`). So the tests make redelivery deterministic: after the kill they
read the killed worker's entries from `unacked_index`, wait until the newest one is older than
the visibility timeout, and only then start the replacement worker, whose start-up sweep must
restore every one of them.

RabbitMQ. There is no visibility timeout: the broker puts a consumer's unacked messages back
the moment its connection drops. `unacked_delivery_times` counts the messages the vhost's
channels hold unacked (RabbitMQ keeps no delivery time: each reads as the time asked), and
`wait_until_restorable` waits until none is held any more.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import pytest
import redis
from celery import Celery

from eyeflow_worker.core.celery_factory import create_celery_app
from eyeflow_worker.core.settings import Settings
from tests.brokers import fresh_vhost, ready_messages, unacked_messages
from tests.fleet.worker_process import WorkerProcess, fleet_environment

Broker = Literal["redis", "rabbitmq"]
RELIABILITY_DB = 14
REDIS_URL = os.environ.get("EYEFLOW_TEST_REDIS", "redis://127.0.0.1:6379") + f"/{RELIABILITY_DB}"
VISIBILITY_TIMEOUT = 4
# Modules whose every test runs on both brokers, and single tests that do (the others of their
# module read the Redis broker's own structures).
BOTH_BROKERS = frozenset({"test_redelivery_after_finish.py", "test_soft_shutdown.py"})
BOTH_BROKERS_TESTS = frozenset(
    {
        "test_interactive_worker_killed_mid_job_is_redelivered_and_completed",
        # The chaos figure: a batch worker killed with 30 items in a provider call.
        "test_a_batch_worker_killed_with_30_items_in_flight_recovers_them_within_90s",
    }
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "reliability_broker" not in metafunc.fixturenames:
        return
    both = (
        metafunc.definition.path.name in BOTH_BROKERS
        or metafunc.definition.originalname in BOTH_BROKERS_TESTS
    )
    if both:
        metafunc.parametrize("reliability_broker", ["redis", "rabbitmq"], indirect=True)


class _ActiveBroker:
    """The running test's RabbitMQ vhost (its AMQP URL), or None on the Redis broker."""

    url: str | None = None


_active = _ActiveBroker()


class KillableWorker(WorkerProcess):
    """A fleet worker that can also die the hard way (OOM killer, `kill -9`, a node lost)."""

    def kill(self) -> None:
        process = self._process
        assert process is not None, "worker was never started"
        assert process.poll() is None, "worker is not running"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        assert process.returncode == -signal.SIGKILL

    def terminate(self) -> None:
        """SIGTERM, as an orchestrator's graceful stop sends it; returns at once."""
        process = self._process
        assert process is not None, "worker was never started"
        assert process.poll() is None, "worker is not running"
        process.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout: float) -> int:
        process = self._process
        assert process is not None, "worker was never started"
        return process.wait(timeout=timeout)

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
    """The workers' environment, on the running test's broker (Redis: `redis_url` itself)."""
    return fleet_environment(
        redis_url,
        extra={"VISIBILITY_TIMEOUT_SECONDS": str(VISIBILITY_TIMEOUT), **extra},
        broker_url=_active.url,
    )


def ollama_env(fake_url: str, redis_url: str = REDIS_URL, **extra: str) -> dict[str, str]:
    """`reliability_env` for workers whose provider is the holding Ollama fake (`holding_llm`):
    one provider call per run (no provider retry, no repair round), so the fake's count of
    calls is the count of runs."""
    return reliability_env(
        redis_url,
        LLM_PROVIDER="ollama",
        LLM_MODEL="llama3.1",
        LLM_API_URL=fake_url,
        LLM_MAX_ATTEMPTS="1",
        RULES_MAX_REPAIR_ATTEMPTS="0",
        **extra,
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


def active_broker_url() -> str:
    """The running test's RabbitMQ vhost URL (a RabbitMQ run only)."""
    assert _active.url is not None, "not a RabbitMQ run"
    return _active.url


def queued_messages(client: redis.Redis, queue: str) -> int:
    """Messages waiting on `queue` of the running test's broker (Redis: `client` is it)."""
    if _active.url is not None:
        return ready_messages(_active.url, queue)
    return int(client.llen(queue))


def unacked_delivery_times(client: redis.Redis) -> list[float]:
    """Delivery timestamps of every message kombu holds as delivered-but-unacked (on RabbitMQ:
    one entry, the time asked, per message the vhost's channels hold unacked)."""
    if _active.url is not None:
        return [time.time()] * unacked_messages(_active.url)
    return [score for _, score in client.zrange("unacked_index", 0, -1, withscores=True)]


def wait_until_restorable(client: redis.Redis, visibility_timeout: float) -> float:
    """Sleep until every unacked message is older than the visibility timeout (so the next
    `restore_visible` sweep restores all of them). Returns the seconds waited. On RabbitMQ:
    until no channel holds any (a killed worker's go back with its connection)."""
    if _active.url is not None:
        url = _active.url
        return wait_until(lambda: unacked_messages(url) == 0, 30, "RabbitMQ to take them back")
    times = unacked_delivery_times(client)
    assert times, "the killed worker left no unacked message behind"
    wait = max(times) + visibility_timeout + 0.25 - time.time()
    if wait > 0:
        time.sleep(wait)
    return max(wait, 0.0)


@pytest.fixture
def reliability_broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    """The running test's broker: Redis, unless the test is one of BOTH_BROKERS' RabbitMQ runs
    (then a vhost of its own for the test)."""
    broker: Broker = getattr(request, "param", "redis")
    if broker == "redis":
        yield broker
        return
    with fresh_vhost("reliability") as url:
        _active.url = url
        try:
            yield broker
        finally:
            _active.url = None


@pytest.fixture
def db14(reliability_broker: Broker) -> Iterator[redis.Redis]:
    del reliability_broker  # set up first: the broker the test's workers and gateway use
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


# What `worker_factory` gives a test: start a worker with (env, queues, name).
WorkerFactory = Callable[[dict[str, str], str, str], KillableWorker]


@pytest.fixture
def worker_factory(tmp_path: Path, reliability_broker: Broker) -> Iterator[WorkerFactory]:
    """Start workers (`env`, queues, name) that are always stopped at the end of the test
    (before its RabbitMQ vhost, if any, is removed)."""
    del reliability_broker
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
