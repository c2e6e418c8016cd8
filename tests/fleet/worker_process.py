"""Start and stop a real Celery worker (and wait until it answers) for the fleet tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from celery import Celery

ROOT = Path(__file__).resolve().parents[2]


# Read from the caller's shell by a worker, never meant for the test fleets: the broker is what a
# test asks for (Redis unless `broker_url`), and SIGTERM is a warm shutdown unless a test says.
_NOT_INHERITED = ("BROKER_URL", "RESULT_BACKEND_URL", "REMAP_SIGTERM", "GATEWAY_API_TOKEN")


def fleet_environment(
    redis_url: str, extra: Mapping[str, str] | None = None, *, broker_url: str | None = None
) -> dict[str, str]:
    """A worker's environment: records on `redis_url`, the broker there too unless
    `broker_url` (e.g. a RabbitMQ vhost's amqp:// URL), then `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LLM_", "NESTJS_")) and k not in _NOT_INHERITED
    }
    if broker_url is not None:
        env["BROKER_URL"] = broker_url
    env.update(
        ENVIRONMENT="test",
        REDIS_URL=redis_url,
        WEBHOOK_SECRET="whsec_ZXllZmxvdy10ZXN0LXdlYmhvb2stc2VjcmV0",
        # Outside dev every secret must be set; a fixed test key (never a real one).
        CACHE_ENCRYPTION_KEY="dGVzdC1vbmx5LWZlcm5ldC1rZXktMzItYnl0ZXMtISE=",
        WEBHOOK_ALLOWED_HOSTS="127.0.0.1,localhost",
        # Tenants' LLM apiUrls (NestJS mode) name the loopback fakes: listed, as an operator lists
        # a local Ollama. (LLM_API_URL, the operator's own, needs no entry.)
        LLM_ALLOWED_API_HOSTS="127.0.0.1,localhost",
        WEBHOOK_BACKOFF_BASE_SECONDS="0.2",
        WEBHOOK_MAX_ATTEMPTS="4",
        LOG_LEVEL="INFO",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra or {})
    return env


class WorkerProcess:
    """`celery worker` in a subprocess, consuming the given queues with the threads pool."""

    def __init__(self, env: Mapping[str, str], queues: str, name: str, log_path: Path) -> None:
        self._env = dict(env)
        self._queues = queues
        self._name = name
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, celery: Celery, timeout_seconds: float = 60.0) -> None:
        with self._log_path.open("wb") as log:
            self._process = self._spawn(log)
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self._log_path.read_text()[-3000:]}")
            replies = celery.control.ping(timeout=0.5) or []
            if any(self._name in name for reply in replies for name in reply):
                return
        raise RuntimeError(f"worker did not answer a ping within {timeout_seconds}s")

    def _spawn(self, log: IO[bytes]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "eyeflow_worker.celery_app",
                "worker",
                "-Q",
                self._queues,
                "-P",
                "threads",
                "-c",
                # Threads: 8 unless a test needs more in flight at once (its env says so).
                self._env.get("TEST_WORKER_THREADS", "8"),
                "-n",
                f"{self._name}@%h",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "INFO",
            ],
            cwd=ROOT,
            env=self._env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
