"""A whole fleet for the operator benchmarks (rate limits, fair shares, interactive latency).

`running_fleet(env)` starts a real gateway (uvicorn), an interactive worker and a batch worker
(the documented commands) as separate processes on a flushed database 12, waits until both
workers answer, and stops them all at the end. The helpers submit a batch as a tenant
(`X-User-ID`), long-poll a task, read a batch's items, and time an interactive `evaluate`.
`beat=True` also runs Celery beat (the economy sweep, the admission tick); `kill_worker` and
`start_worker` crash a worker with SIGKILL and start a fresh one (the crash bench).
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis
from processes import ROOT, free_port, gateway_command, spawn, stop, wait_until

# The benches' own database: flushed before every run. EYEFLOW_BENCH_REDIS points a run at a
# private server instead, so that two engineers' runs do not flush each other.
REDIS_URL = os.environ.get("EYEFLOW_BENCH_REDIS", "redis://127.0.0.1:6379/12")
TERMINAL = {"succeeded", "failed", "cancelled"}
_SCRUBBED = (
    "NESTJS_SERVER_URL",
    "GATEWAY_API_TOKEN",
    "BROKER_URL",
    "RESULT_BACKEND_URL",
    "LLM_API_KEY",
    "LLM_API_URL",
    "LLM_PROVIDER",
    "LLM_MODEL",
    "LLM_FALLBACK_PROVIDERS",
    "LLM_RATE_LIMIT_RPM",
    "LLM_RATE_LIMITS",
)


def bench_env(**settings: str) -> dict[str, str]:
    """The shell's environment without anything that would change the figures (NestJS, auth,
    broker overrides, keys, fallbacks, rate limits), plus db 12 and `settings`."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    env.update(REDIS_URL=REDIS_URL, PYTHONPATH=str(ROOT), LOG_LEVEL="WARNING", **settings)
    return env


@dataclass
class Fleet:
    base_url: str
    client: httpx.Client
    processes: list[subprocess.Popen[bytes]]
    env: dict[str, str] = field(default_factory=dict)
    name: str = ""
    restarts: int = 0


@contextmanager
def running_fleet(env: dict[str, str], *, name: str, beat: bool = False) -> Iterator[Fleet]:
    redis.Redis.from_url(REDIS_URL).flushdb()
    port = free_port()
    py = sys.executable
    logs = Path("/tmp")
    processes = [
        spawn(gateway_command(port), env, logs / f"eyeflow-{name}-bench-gateway.log"),
        spawn(
            [py, "-m", "eyeflow_worker.worker", "interactive"],
            env,
            logs / f"eyeflow-{name}-bench-interactive.log",
        ),
        spawn(
            [py, "-m", "eyeflow_worker.worker", "batch"],
            env,
            logs / f"eyeflow-{name}-bench-batch.log",
        ),
    ]
    if beat:
        schedule = logs / f"eyeflow-{name}-bench-celerybeat-schedule"
        for stale in logs.glob(f"{schedule.name}*"):
            stale.unlink()  # a fresh schedule: beat's intervals start at its start
        command = ["-m", "celery", "-A", "eyeflow_worker.celery_app", "beat", "--schedule"]
        processes.append(
            spawn([py, *command, str(schedule)], env, logs / f"eyeflow-{name}-bench-beat.log")
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base_url, timeout=60) as client:
            wait_until(
                # `online` is None until the gateway's first ping of the workers has answered.
                lambda: (client.get("/health").json()["workers"]["online"] or 0) >= 2,
                processes,
                logs=f"/tmp/eyeflow-{name}-bench-*.log",
            )
            yield Fleet(base_url, client, processes, env, name)
    finally:
        stop(processes)


def _is_worker(process: subprocess.Popen[bytes], role: str) -> bool:
    args = [str(a) for a in process.args] if isinstance(process.args, list) else []
    return args[-2:] == ["eyeflow_worker.worker", role]


def kill_worker(fleet: Fleet, role: str = "batch") -> float:
    """SIGKILL the running `role` worker (no warm shutdown, nothing acked or restored) and wait
    until it is gone; the `time.time()` of the kill."""
    process = next(p for p in fleet.processes if p.poll() is None and _is_worker(p, role))
    killed_at = time.time()
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    return killed_at


def start_worker(fleet: Fleet, role: str = "batch") -> subprocess.Popen[bytes]:
    """A fresh `role` worker in `fleet` (stopped with it), logging to its own file."""
    fleet.restarts += 1
    log = Path("/tmp") / f"eyeflow-{fleet.name}-bench-{role}-{fleet.restarts}.log"
    process = spawn([sys.executable, "-m", "eyeflow_worker.worker", role], fleet.env, log)
    fleet.processes.append(process)
    return process


def submit_batch(
    client: httpx.Client, intents: list[str], tenant: str = "system", **extra: Any
) -> str:
    response = client.post(
        "/api/rules/generate-batch",
        json={"intents": intents, **extra},
        headers={"X-User-ID": tenant},
    )
    if response.status_code != 202:
        raise SystemExit(f"batch refused: {response.status_code} {response.text[:300]}")
    task_id: str = response.json()["task_id"]
    return task_id


def task(
    client: httpx.Client, task_id: str, wait: float = 0, tenant: str = "system"
) -> dict[str, Any]:
    params = {"wait": wait} if wait else {}
    response = client.get(f"/api/tasks/{task_id}", params=params, headers={"X-User-ID": tenant})
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def wait_terminal(client: httpx.Client, task_id: str, tenant: str = "system") -> dict[str, Any]:
    while True:
        body = task(client, task_id, wait=30, tenant=tenant)
        if body["status"] in TERMINAL:
            return body


def batch_items(client: httpx.Client, task_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None:
        page = client.get(f"/api/tasks/{task_id}/results", params={"offset": offset, "limit": 500})
        page.raise_for_status()
        body = page.json()
        items.extend(body["items"])
        offset = body["next_offset"]
    return items


def evaluate_round_trip(client: httpx.Client) -> float:
    """Seconds for one trivial `evaluate` job submitted with `?wait` until it is answered."""
    started = time.perf_counter()
    response = client.post(
        "/api/conditions/evaluate", params={"wait": 10}, json={"condition": "1 < 2", "context": {}}
    )
    elapsed = time.perf_counter() - started
    if response.status_code != 200 or response.json()["status"] != "succeeded":
        raise SystemExit(f"evaluate failed: {response.status_code} {response.text[:300]}")
    return elapsed


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def p50(samples: list[float]) -> float:
    return statistics.median(samples)
