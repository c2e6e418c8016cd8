"""A 202 survives a Redis restart when Redis persists (AOF), as docker-compose configures it.

The test starts its own `redis-server` (append-only file in `tmp_path`, on a free port): the
gateway accepts 20 jobs while no worker runs, Redis is restarted (SIGTERM: it fsyncs the AOF and
exits; then started again on the same port and directory), and only then does a worker start.
Every accepted job must complete. The shared Redis on 6379 is never touched.
"""

from __future__ import annotations

import logging
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from api_gateway.main import create_app
from eyeflow_worker.core.records import job_key
from tests.fleet.helpers import wait_for_task
from tests.reliability.conftest import (
    WorkerFactory,
    ollama_env,
    reliability_env,
    settings_from,
    wait_until,
)

logger = logging.getLogger(__name__)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PersistentRedis:
    """A `redis-server` with appendonly on, restartable on the same port and data directory."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server must be installed for this test (make test installs it)"
        self.binary = binary
        self.directory = directory
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> float:
        started = time.monotonic()
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        try:
            wait_until(self._answers(client), 10, f"redis-server on port {self.port}")
        finally:
            client.close()
        return time.monotonic() - started

    @staticmethod
    def _answers(client: redis.Redis) -> Callable[[], bool]:
        def ping() -> bool:
            try:
                return bool(client.ping())
            except redis.exceptions.ConnectionError:
                return False

        return ping

    def terminate(self) -> None:
        """A clean shutdown (what `docker compose restart` sends): Redis fsyncs the AOF."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=15) == 0

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def persistent_redis(tmp_path: Path) -> Iterator[PersistentRedis]:
    data = tmp_path / "redis-data"
    data.mkdir()
    server = PersistentRedis(data)
    server.start()
    yield server
    server.kill()


def test_jobs_accepted_before_a_redis_restart_all_complete_after_it(
    persistent_redis: PersistentRedis, worker_factory: WorkerFactory
) -> None:
    env = reliability_env(persistent_redis.url)  # offline provider: fast and deterministic
    settings = settings_from(env)
    direct = redis.Redis.from_url(persistent_redis.url, decode_responses=True)
    try:
        with TestClient(create_app(settings)) as gateway:
            task_ids = []
            for i in range(20):
                response = gateway.post(
                    "/api/rules/generate",
                    json={"user_intent": f"Alert the team when CPU exceeds {60 + i}%"},
                )
                assert response.status_code == 202, response.text
                task_ids.append(response.json()["task_id"])
            assert direct.llen(settings.queue_interactive) == 20

            restart_started = time.monotonic()
            persistent_redis.terminate()
            restart_seconds = persistent_redis.start()
            restarted_at = time.monotonic()

            # What the AOF brought back: every message and every job record, still queued.
            assert direct.llen(settings.queue_interactive) == 20
            assert {direct.hget(job_key(t), "status") for t in task_ids} == {"queued"}

            queues = f"{settings.queue_interactive},{settings.queue_webhooks}"
            worker_factory(env, queues, "rel-after-restart")
            tasks = [wait_for_task(gateway, task_id, timeout=30) for task_id in task_ids]
            done_at = time.monotonic()

            # The same gateway (its Redis connections died with the old server) keeps serving.
            after = gateway.post("/api/rules/generate", json={"user_intent": "Page if disk > 95%"})
            assert after.status_code == 202, after.text
            late = wait_for_task(gateway, after.json()["task_id"], timeout=30)
    finally:
        direct.close()

    assert [t["status"] for t in tasks] == ["succeeded"] * 20, [
        (t["task_id"], t["status"], t["error"]) for t in tasks if t["status"] != "succeeded"
    ]
    assert all(t["attempts"] == 1 and t["result"]["workflow_rules"]["rules"] for t in tasks)
    assert late["status"] == "succeeded"
    logger.info(
        f"[broker-restart] SIGTERM→ready again: {restart_seconds:.2f}s "
        f"(restart total {restarted_at - restart_started:.2f}s); restart→all 20 succeeded "
        f"(incl. worker start-up): {done_at - restarted_at:.2f}s"
    )


def test_jobs_running_and_queued_through_a_redis_restart_all_end_within_90s(
    persistent_redis: PersistentRedis, worker_factory: WorkerFactory
) -> None:
    """The worker keeps running while Redis (broker, records, leases) goes away and comes back:
    8 jobs are inside a provider call at the restart, 12 are queued; all 20 end, each with one
    result, within 90 s of Redis answering again — and a job submitted after it too."""
    from tests.reliability.holding_llm import HoldingOllama

    with HoldingOllama(hold=8, serve_delay=0.05) as fake:
        env = ollama_env(
            fake.url,
            persistent_redis.url,
            VISIBILITY_TIMEOUT_SECONDS="3600",  # the default: no help from the broker
        )
        settings = settings_from(env)
        queues = f"{settings.queue_interactive},{settings.queue_webhooks}"
        worker_factory(env, queues, "rel-through-restart")
        direct = redis.Redis.from_url(persistent_redis.url, decode_responses=True)
        try:
            with TestClient(create_app(settings)) as gateway:
                task_ids = []
                for i in range(20):
                    response = gateway.post(
                        "/api/rules/generate",
                        json={"user_intent": f"Alert the team when CPU exceeds 85% (job {i})"},
                    )
                    assert response.status_code == 202, response.text
                    task_ids.append(response.json()["task_id"])
                assert fake.all_held.wait(30), "the worker never had 8 calls in flight"

                persistent_redis.terminate()
                persistent_redis.start()
                back_at = time.monotonic()
                fake.release.set()  # the held calls answer now, into a worker that lives

                tasks = [wait_for_task(gateway, t, timeout=90) for t in task_ids]
                ended = time.monotonic() - back_at
                after = gateway.post(
                    "/api/rules/generate", json={"user_intent": "Page if disk exceeds 85%"}
                )
                assert after.status_code == 202, after.text
                late = wait_for_task(gateway, after.json()["task_id"], timeout=60)
        finally:
            direct.close()

    assert [t["status"] for t in tasks] == ["succeeded"] * 20, [
        (t["task_id"], t["status"], t["error"]) for t in tasks if t["status"] != "succeeded"
    ]
    assert ended < 90
    assert late["status"] == "succeeded"
    logger.info(f"[redis-restart, running] Redis back → all 20 ended: {ended:.1f}s")
