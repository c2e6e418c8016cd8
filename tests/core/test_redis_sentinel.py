"""`REDIS_URL=redis+sentinel://…`: the URL's parts, its kombu spelling, and — against a real
Redis and a real Sentinel this test starts on free loopback ports (never the shared 6379) —
the records client and a kombu connection (Celery's broker) both reach the master the sentinel
names, also after the master moved."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from kombu import Connection

from eyeflow_worker.core.redis_client import get_redis
from eyeflow_worker.core.redis_urls import (
    InvalidRedisURL,
    celery_transport_options,
    celery_url,
    client_for,
    parse_sentinel,
)
from eyeflow_worker.core.settings import Settings


def test_a_sentinel_url_names_its_sentinels_service_db_and_password() -> None:
    found = parse_sentinel("redis+sentinel://:s3cret@10.0.0.1:26379,10.0.0.2:26380/mymaster/3")
    assert found.hosts == (("10.0.0.1", 26379), ("10.0.0.2", 26380))
    assert (found.service, found.db, found.password) == ("mymaster", 3, "s3cret")
    assert parse_sentinel("redis+sentinel://sentinel/eyeflow").hosts == (("sentinel", 26379),)
    with pytest.raises(InvalidRedisURL, match="names its sentinels and the service"):
        parse_sentinel("redis+sentinel://10.0.0.1:26379")


def test_celery_gets_kombus_spelling_and_the_master_name() -> None:
    url = "redis+sentinel://:pw@a:26379,b:26379/mymaster/2"
    assert celery_url(url) == "sentinel://:pw@a:26379/2;sentinel://:pw@b:26379/2"
    assert celery_transport_options(url) == {"master_name": "mymaster"}
    assert celery_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert celery_transport_options("redis://127.0.0.1:6379/0") == {}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ping(port: int) -> None:
    client = redis.Redis(port=port, socket_timeout=0.5)
    deadline = time.monotonic() + 10
    try:
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise AssertionError(f"nothing answered on {port}")
    finally:
        client.close()


class SentinelSetup:
    """Two Redis servers (a master and a spare) and one sentinel watching the master."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server must be installed (make test installs it)"
        self.binary, self.directory = binary, directory
        self.processes: list[subprocess.Popen[bytes]] = []
        self.master, self.spare, self.sentinel = _free_port(), _free_port(), _free_port()

    def start(self) -> None:
        for port in (self.master, self.spare):
            self._spawn([self.binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""])
            _wait_ping(port)
        config = self.directory / "sentinel.conf"
        config.write_text(
            f"port {self.sentinel}\nbind 127.0.0.1\n"
            f"sentinel monitor svc 127.0.0.1 {self.master} 1\n"
        )
        self._spawn([self.binary, str(config), "--sentinel"])
        _wait_ping(self.sentinel)

    def move_master_to_spare(self) -> None:
        """What a failover amounts to for clients: the sentinel now names the spare."""
        with redis.Redis(port=self.sentinel) as sentinel:
            sentinel.execute_command("SENTINEL", "REMOVE", "svc")
            sentinel.execute_command("SENTINEL", "MONITOR", "svc", "127.0.0.1", self.spare, 1)

    def _spawn(self, args: list[str]) -> None:
        self.processes.append(subprocess.Popen(args, cwd=self.directory, stdout=subprocess.DEVNULL))

    def stop(self) -> None:
        for process in self.processes:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[SentinelSetup]:
    setup = SentinelSetup(tmp_path)
    try:
        setup.start()
        yield setup
    finally:
        setup.stop()


def test_records_and_broker_reach_the_master_the_sentinel_names(sentinel: SentinelSetup) -> None:
    url = f"redis+sentinel://127.0.0.1:{sentinel.sentinel}/svc/0"
    settings = Settings(_env_file=None, redis_url=url)  # type: ignore[call-arg]
    records = get_redis(settings)
    key = f"test:sentinel:{uuid.uuid4().hex}"
    records.set(key, "on-the-master")
    with redis.Redis(port=sentinel.master, decode_responses=True) as direct:
        assert direct.get(key) == "on-the-master"

    # Celery's broker through kombu's sentinel transport, as celeryconfig spells it.
    with Connection(celery_url(url), transport_options=celery_transport_options(url)) as conn:
        queue = conn.SimpleQueue("eyeflow.test.sentinel")
        queue.put({"hello": "fleet"})
        message = queue.get(timeout=5)
        assert message.payload == {"hello": "fleet"}
        message.ack()
        queue.close()

    sentinel.move_master_to_spare()
    moved = client_for(url, decode_responses=True, socket_timeout=2)
    moved.set(key, "on-the-new-master")
    with redis.Redis(port=sentinel.spare, decode_responses=True) as spare:
        assert spare.get(key) == "on-the-new-master"


def test_celery_is_configured_for_the_sentinel() -> None:
    from celeryconfig import celery_config

    url = "redis+sentinel://127.0.0.1:26379/svc/0"
    config = celery_config(Settings(_env_file=None, redis_url=url))  # type: ignore[call-arg]
    assert config["broker_url"] == "sentinel://127.0.0.1:26379/0"
    assert config["result_backend"] == "sentinel://127.0.0.1:26379/0"
    assert config["broker_transport_options"]["master_name"] == "svc"
    assert config["result_backend_transport_options"]["master_name"] == "svc"


def test_a_whole_job_runs_through_a_fleet_on_sentinel(
    sentinel: SentinelSetup, tmp_path: Path
) -> None:
    """Gateway and a real worker, both given only the Sentinel URL: a job is accepted, queued
    on the master, run and read back."""
    from fastapi.testclient import TestClient

    from api_gateway.main import create_app
    from eyeflow_worker.core.celery_factory import create_celery_app
    from tests.fleet.helpers import wait_for_task
    from tests.fleet.worker_process import WorkerProcess, fleet_environment
    from tests.reliability.conftest import settings_from

    url = f"redis+sentinel://127.0.0.1:{sentinel.sentinel}/svc/0"
    env = fleet_environment(url)
    settings = settings_from(env)
    celery = create_celery_app(settings, include_tasks=False)
    worker = WorkerProcess(env, settings.queue_interactive, "sentinel", tmp_path / "worker.log")
    try:
        worker.start(celery)
        with TestClient(create_app(settings)) as gateway:
            accepted = gateway.post(
                "/api/rules/generate", json={"user_intent": "Alert when CPU exceeds 85%"}
            )
            assert accepted.status_code == 202, accepted.text
            task = wait_for_task(gateway, accepted.json()["task_id"], timeout=30)
    finally:
        worker.stop()
        celery.close()
    assert task["status"] == "succeeded", task
    with redis.Redis(port=sentinel.master, decode_responses=True) as direct:
        assert direct.exists(f"eyeflow:job:{task['task_id']}")  # the record is on the master
