"""Scaling out: two gateways and three workers, each its own process, against one broker and one
Redis (database 14), as N hosts would run them — and one batch worker killed with SIGKILL in the
middle. Jobs submitted to either gateway are read back from the other; nothing is lost and no
item is stored twice.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from eyeflow_worker.core.records import job_key
from tests.reliability.conftest import (
    WorkerFactory,
    ollama_env,
    settings_from,
    wait_until,
)
from tests.reliability.holding_llm import HoldingOllama

ROOT = Path(__file__).resolve().parents[2]
TERMINAL = {"succeeded", "failed", "cancelled"}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def gateways(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], list[str]]]:
    """Start two gateway processes (uvicorn, the app factory) on free loopback ports."""
    started: list[subprocess.Popen[bytes]] = []

    def start(env: dict[str, str]) -> list[str]:
        urls = []
        for n in range(2):
            port = _free_port()
            with (tmp_path / f"gateway-{n}.log").open("wb") as log:
                started.append(subprocess.Popen(
                    [sys.executable, "-m", "uvicorn", "--factory", "api_gateway.main:create_app",
                     "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                    cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                ))  # fmt: skip
            url = f"http://127.0.0.1:{port}"
            wait_until(lambda url=url: _answers(url), 30, f"gateway {n} on {url}")
            urls.append(url)
        return urls

    yield start
    for process in started:
        process.terminate()
    for process in started:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code in (200, 503)
    except httpx.HTTPError:
        return False


def _wait_all(clients: list[httpx.Client], task_ids: list[str], timeout: float) -> list[Any]:
    """Each task read from the gateway it was NOT submitted to, until all are terminal."""
    deadline = time.monotonic() + timeout
    done: dict[str, Any] = {}
    while time.monotonic() < deadline and len(done) < len(task_ids):
        for n, task_id in enumerate(task_ids):
            if task_id not in done:
                response = clients[(n + 1) % 2].get(f"/api/tasks/{task_id}")
                assert response.status_code == 200, (task_id, response.status_code, response.text)
                body = response.json()
                if body["status"] in TERMINAL:
                    done[task_id] = body
        time.sleep(0.2)
    missing = [t for t in task_ids if t not in done]
    assert not missing, f"{len(missing)} tasks did not end within {timeout}s"
    return [done[t] for t in task_ids]


def test_two_gateways_three_workers_one_broker_lose_nothing_when_a_worker_dies(
    db14: redis.Redis, worker_factory: WorkerFactory, gateways: Callable[..., list[str]]
) -> None:
    intents = [f"Alert the team when CPU exceeds 85% (item {i})" for i in range(40)]
    with HoldingOllama(hold=0, serve_delay=0.15) as fake:
        env = ollama_env(
            fake.url,
            VISIBILITY_TIMEOUT_SECONDS="3600",  # the default: recovery from the leases
            LEASE_SECONDS="6",  # short, to keep the suite quick (the default is measured elsewhere)
        )
        settings = settings_from(env)
        interactive = f"{settings.queue_interactive},{settings.queue_webhooks}"
        worker_factory(env, f"{interactive},{settings.queue_maintenance}", "scale-interactive")
        doomed = worker_factory(env, settings.queue_batch, "scale-batch-1")
        worker_factory(env, settings.queue_batch, "scale-batch-2")
        urls = gateways(env)
        clients = [httpx.Client(base_url=url, timeout=10) for url in urls]
        try:
            batch = clients[0].post("/api/rules/generate-batch", json={"intents": intents})
            assert batch.status_code == 202, batch.text
            batch_id = batch.json()["task_id"]
            jobs = []
            for n in range(20):
                response = clients[n % 2].post(
                    "/api/rules/generate",
                    json={"user_intent": f"Page the DBA when memory exceeds 85% (job {n})"},
                )
                assert response.status_code == 202, response.text
                jobs.append(response.json()["task_id"])
            wait_until(lambda: int(db14.hget(job_key(batch_id), "succeeded") or 0) >= 5, 60,
                       "5 batch items done")  # fmt: skip
            doomed.kill()

            try:
                ended = _wait_all(clients, [*jobs, batch_id], timeout=90)
            except AssertionError as missing:
                from eyeflow_worker.core.admission import admission_status

                record = db14.hgetall(job_key(batch_id))
                leases = db14.zrange("eyeflow:leases", 0, -1, withscores=True)
                raise AssertionError(
                    f"{missing}; batch {record.get('status')} {record.get('succeeded')}/"
                    f"{record.get('total')}; admission "
                    f"{admission_status(db14, settings.queue_batch)}; leases {leases}; "
                    f"queue {db14.llen(settings.queue_batch)}; now {time.time()}"
                ) from None
        finally:
            for client in clients:
                client.close()

    assert [t["status"] for t in ended] == ["succeeded"] * 21, [
        (t["task_id"], t["status"], t["error"]) for t in ended if t["status"] != "succeeded"
    ]
    assert ended[-1]["progress"]["succeeded"] == len(intents)
    assert db14.hlen(f"{job_key(batch_id)}:items") == len(intents)  # each item stored once
    calls = Counter(call.intent for call in fake.snapshot())
    assert set(intents) <= set(calls)  # every item reached the provider
    assert max(calls.values()) <= 2  # at most once more: the calls in flight at the kill
