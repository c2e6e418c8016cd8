"""A broker that cannot be reached is a fast 503, never a hang or a 500.

The test starts its own `redis-server` on a free port and kills it: the machine's shared Redis
is never touched.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient

from api_gateway.main import create_app
from eyeflow_worker.core.settings import Settings

GENERATE = {"user_intent": "Alert the team when database memory exceeds 85%"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def own_redis(tmp_path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    server = shutil.which("redis-server")
    assert server, "redis-server must be installed for this test (make test installs it)"
    port = _free_port()
    process = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.exceptions.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    client.close()
    yield process, port
    process.kill()
    process.wait()


def test_submissions_answer_503_quickly_when_the_broker_dies(
    fleet_settings: Settings, own_redis: tuple[subprocess.Popen[bytes], int]
) -> None:
    process, port = own_redis
    settings = fleet_settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{port}/0"})
    with TestClient(create_app(settings)) as gateway:
        assert gateway.post("/api/rules/generate", json=GENERATE).status_code == 202

        process.kill()
        process.wait()

        started = time.monotonic()
        response = gateway.post("/api/rules/generate", json=GENERATE)
        elapsed = time.monotonic() - started
        assert response.status_code == 503
        assert "unreachable" in response.json()["detail"]
        assert response.headers["retry-after"]
        assert elapsed < 10, f"took {elapsed:.1f}s"

        health = gateway.get("/health")
        assert health.status_code == 503
        assert health.json()["status"] == "unhealthy"
        assert health.json()["broker"]["reachable"] is False
        assert gateway.get("/api/tasks/00000000-0000-4000-8000-000000000000").status_code == 503


def test_a_broker_that_never_existed_is_also_503(fleet_settings: Settings) -> None:
    settings = fleet_settings.model_copy(
        update={"redis_url": f"redis://127.0.0.1:{_free_port()}/0"}
    )
    with TestClient(create_app(settings)) as gateway:
        response = gateway.post("/api/rules/generate", json=GENERATE)
    assert response.status_code == 503
