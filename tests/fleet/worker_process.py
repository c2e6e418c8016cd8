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


def fleet_environment(redis_url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "NESTJS_"))}
    env.update(
        ENVIRONMENT="test",
        REDIS_URL=redis_url,
        WEBHOOK_SECRET="whsec_ZXllZmxvdy10ZXN0LXdlYmhvb2stc2VjcmV0",
        WEBHOOK_ALLOWED_HOSTS="127.0.0.1,localhost",
        WEBHOOK_BACKOFF_BASE_SECONDS="0.2",
        WEBHOOK_MAX_ATTEMPTS="4",
        LOG_LEVEL="INFO",
        PYTHONPATH=str(ROOT),
    )
    env.pop("GATEWAY_API_TOKEN", None)
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
                "8",
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
