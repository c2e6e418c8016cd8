"""A fleet as `make up` runs it, for the README's examples: the gateway under uvicorn as a
subprocess on a free loopback port (the socket is bound here and handed over, so no other
process can take the port in between), one interactive and one batch Celery worker, on the
embedded offline provider, with no gateway token (the README's examples send none)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import redis

from eyeflow_worker.core.celery_factory import create_celery_app
from eyeflow_worker.core.settings import Settings
from tests.fleet.worker_process import ROOT, WorkerProcess, fleet_environment

# Redis database 4: these tests' own (README "Tests use Redis databases …"), flushed at start.
README_DB = 4
REDIS_URL = os.environ.get("EYEFLOW_TEST_REDIS", "redis://127.0.0.1:6379") + f"/{README_DB}"


def readme_environment() -> dict[str, str]:
    """The workers' and the gateway's environment: `fleet_environment` (test secrets, loopback
    webhooks allowed), the offline provider, no gateway token."""
    env = fleet_environment(REDIS_URL, {"LLM_PROVIDER": "offline"})
    for name in ("GATEWAY_API_TOKEN", "OPERATOR_API_TOKEN", "GATEWAY_JWT_SECRET"):
        env.pop(name, None)
    return env


def _settings(env: Mapping[str, str]) -> Settings:
    fields: dict[str, Any] = {
        k.lower(): v for k, v in env.items() if k.lower() in Settings.model_fields
    }
    return Settings(_env_file=None, **fields)


class GatewayProcess:
    """`uvicorn --factory api_gateway.main:create_app` on a socket bound here (`--fd`)."""

    def __init__(self, env: Mapping[str, str], log_path: Path) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.set_inheritable(True)
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._env = dict(env)
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_seconds: float = 30.0) -> None:
        fd = self._socket.fileno()
        command = [sys.executable, "-m", "uvicorn", "--factory", "api_gateway.main:create_app"]
        with self._log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [*command, "--fd", str(fd), "--log-level", "warning"],
                cwd=ROOT,
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(fd,),
            )
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"gateway exited:\n{self._log_path.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"the gateway did not answer /health within {timeout_seconds}s")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._socket.close()


def _start_worker(worker: WorkerProcess, settings: Settings) -> None:
    # A Celery app of its own per thread: its ping (control) connection is not shared.
    celery = create_celery_app(settings, include_tasks=False)
    try:
        worker.start(celery)
    finally:
        celery.close()


@contextlib.contextmanager
def running_fleet(env: Mapping[str, str], logs: Path) -> Iterator[str]:
    """Records database flushed, two workers answering a ping, the gateway healthy: its URL.
    The three start at once (each takes seconds to import and connect)."""
    s = _settings(env)
    redis.Redis.from_url(s.redis_url).flushdb()
    interactive = f"{s.queue_interactive},{s.queue_webhooks},{s.queue_maintenance}"
    workers = [
        WorkerProcess(env, interactive, "readme-interactive", logs / "interactive.log"),
        WorkerProcess(env, s.queue_batch, "readme-batch", logs / "batch.log"),
    ]
    gateway = GatewayProcess(env, logs / "gateway.log")
    with contextlib.ExitStack() as stack:
        for worker in workers:
            stack.callback(worker.stop)
        stack.callback(gateway.stop)
        with ThreadPoolExecutor(max_workers=len(workers)) as pool:
            started = [pool.submit(_start_worker, worker, s) for worker in workers]
            gateway.start()
            for future in started:
                future.result()
        yield gateway.url
