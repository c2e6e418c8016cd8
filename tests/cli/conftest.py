"""Fixtures for the `eyeflow` command's tests.

`gateway_url`: a real fleet for end-to-end runs — Redis database 8 only (flushed at the start of
the session), one interactive and one batch Celery worker as subprocesses, and the real gateway
app served by uvicorn on a free 127.0.0.1 port in a thread, so the CLI talks real HTTP.

`fake_gateway`: an in-process stand-in (httpx.MockTransport) for what the offline fleet cannot
produce on demand: failed items, a refused token, a 422 on `mode`, an interrupted watch.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import uvicorn
from typer.testing import CliRunner

from api_gateway.main import create_app
from eyeflow_worker import cli
from eyeflow_worker.core.celery_factory import create_celery_app
from eyeflow_worker.core.settings import Settings
from tests.cli.fake_gateway import FakeGateway
from tests.fleet.worker_process import WorkerProcess, fleet_environment

CLI_DB = 8
REDIS_URL = os.environ.get("EYEFLOW_TEST_REDIS", "redis://127.0.0.1:6379") + f"/{CLI_DB}"


@pytest.fixture(scope="session")
def cli_env() -> dict[str, str]:
    return fleet_environment(REDIS_URL)


@pytest.fixture(scope="session")
def cli_settings(cli_env: dict[str, str]) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        **{k.lower(): v for k, v in cli_env.items() if k.lower() in Settings.model_fields},
    )


class _Gateway:
    """The real gateway app under uvicorn, on a socket bound here (no port race)."""

    def __init__(self, settings: Settings) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        config = uvicorn.Config(create_app(settings), log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the gateway did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()


@pytest.fixture(scope="session")
def gateway_url(
    cli_env: dict[str, str], cli_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    redis.Redis.from_url(cli_settings.redis_url).flushdb()
    celery = create_celery_app(cli_settings, include_tasks=False)
    logs = tmp_path_factory.mktemp("cli-worker-logs")
    s = cli_settings
    workers = [
        WorkerProcess(
            cli_env,
            f"{s.queue_interactive},{s.queue_webhooks},{s.queue_maintenance}",
            "cli-interactive",
            Path(logs / "interactive.log"),
        ),
        WorkerProcess(cli_env, s.queue_batch, "cli-batch", Path(logs / "batch.log")),
    ]
    gateway = _Gateway(cli_settings)
    try:
        for worker in workers:
            worker.start(celery)
        gateway.start()
        yield gateway.url
    finally:
        gateway.stop()
        for worker in workers:
            worker.stop()


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("EYEFLOW_URL", "EYEFLOW_TOKEN", "EYEFLOW_TENANT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(cli, "POLL_SECONDS", 0.5)
    return CliRunner()


@pytest.fixture
def fake_gateway(monkeypatch: pytest.MonkeyPatch) -> FakeGateway:
    fake = FakeGateway()
    monkeypatch.setattr(cli, "transport", fake.transport())
    monkeypatch.setattr(cli, "POLL_SECONDS", 0.02)
    return fake
