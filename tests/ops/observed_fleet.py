"""A real fleet as `make up` runs it — `python -m eyeflow_worker.worker interactive|batch` and
the gateway under uvicorn, each a subprocess logging with LOG_FORMAT=json — against a loopback
fake Anthropic that answers the first call 429. A few jobs go through it; then every process
is stopped, so its log is complete, and what was seen is handed to the tests.

Records and broker on Redis database 5 of EYEFLOW_TEST_REDIS (flushed first), used by nothing
else.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis

from eyeflow_worker.core.celery_factory import create_celery_app
from eyeflow_worker.core.settings import Settings
from tests.fakes.llm_servers import FakeLLMServer, anthropic_error, anthropic_message
from tests.fleet.worker_process import ROOT, fleet_environment
from tests.integration.conftest import VALID_JSON  # valid rules for the sample catalogue

OPS_DB = 5
REDIS_URL = os.environ.get("EYEFLOW_TEST_REDIS", "redis://127.0.0.1:6379") + f"/{OPS_DB}"
LLM_KEY = "sk-ant-ops-test-SECRET-5151"
OPERATOR_TOKEN = "operator-ops-test-SECRET-5252"
SERVICE_TOKEN = "service-ops-test-SECRET-5353"
SECRETS = (LLM_KEY, OPERATOR_TOKEN, SERVICE_TOKEN)
INTENT = "Alert team when database memory exceeds 85%"
BATCH_SIZE = 6


@dataclass
class Observed:
    """What the fleet did: job ids by kind, the scrape, each process's log lines."""

    jobs: dict[str, str]
    metrics_text: str
    worker_logs: list[str]
    gateway_log: list[str]
    request_id: str
    answered_request_id: str | None
    provider_calls: int


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _environment(llm_url: str) -> dict[str, str]:
    return fleet_environment(
        REDIS_URL,
        {
            "LOG_FORMAT": "json",
            "LLM_PROVIDER": "anthropic",
            "LLM_MODEL": "claude-sonnet-4-5",
            "LLM_API_KEY": LLM_KEY,
            "LLM_API_URL": llm_url,
            "LLM_RETRY_BASE_DELAY_SECONDS": "0.05",
            # The fake states no limits: learning would pace the batch adaptively after the 429.
            "LLM_RATE_LEARNING": "false",
            "OPERATOR_API_TOKEN": OPERATOR_TOKEN,
            "GATEWAY_API_TOKEN": SERVICE_TOKEN,
            "WORKER_CONCURRENCY_INTERACTIVE": "2",
            # Three items at once, each answer held 0.2 s: lines of concurrent jobs interleave.
            "WORKER_CONCURRENCY_BATCH": "3",
            "WORKER_NICE_BATCH": "0",
        },
    )


class _Processes:
    def __init__(self, env: Mapping[str, str], logs: Path) -> None:
        self._env = dict(env)
        self._logs = logs
        self._running: list[tuple[subprocess.Popen[bytes], Path]] = []

    def spawn(self, name: str, argv: list[str]) -> Path:
        log = self._logs / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv, cwd=ROOT, env=self._env, stdout=out, stderr=subprocess.STDOUT
            )
        self._running.append((process, log))
        return log

    def check_alive(self) -> None:
        for process, log in self._running:
            if process.poll() is not None:
                raise RuntimeError(f"{log.name} exited early:\n{log.read_text()[-3000:]}")

    def stop_all(self) -> None:
        for process, _ in self._running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process, _ in self._running:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait(check: Any, what: str, processes: _Processes, seconds: float = 60.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        processes.check_alive()
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _workers_answer(settings: Settings) -> Any:
    celery = create_celery_app(settings, include_tasks=False)

    def answered() -> bool:
        names = {name for reply in celery.control.ping(timeout=0.5) or [] for name in reply}
        return any(n.startswith("interactive@") for n in names) and any(
            n.startswith("batch@") for n in names
        )

    return answered


def _ended(client: httpx.Client, job_id: str) -> Any:
    def check() -> dict[str, Any] | None:
        task: dict[str, Any] = client.get(f"/api/tasks/{job_id}").json()
        return task if task["status"] in ("succeeded", "failed", "cancelled") else None

    return check


def _submit_jobs(client: httpx.Client, processes: _Processes, request_id: str) -> Any:
    """generate (its first provider call answered 429), a batch, an evaluate; all must succeed."""
    generate = client.post(
        "/api/rules/generate?wait=30",
        json={"user_intent": INTENT},
        headers={"X-Request-ID": request_id},
    )
    assert generate.status_code == 200, generate.text
    batch = client.post("/api/rules/generate-batch", json={"intents": [INTENT] * BATCH_SIZE})
    assert batch.status_code == 202, batch.text
    evaluate = client.post(
        "/api/conditions/evaluate?wait=30",
        json={"condition": "$metrics.cpu > 80", "context": {"metrics": {"cpu": 91}}},
    )
    assert evaluate.status_code == 200, evaluate.text
    jobs = {
        "generate": generate.json()["task_id"],
        "batch": batch.json()["task_id"],
        "evaluate": evaluate.json()["task_id"],
    }
    for kind, job_id in jobs.items():
        task = _wait(_ended(client, job_id), f"the {kind} job", processes)
        assert task["status"] == "succeeded", task
    return jobs, generate.headers.get("x-request-id")


def observe(logs: Path) -> Observed:
    redis.Redis.from_url(REDIS_URL).flushdb()
    answer = dataclasses.replace(
        anthropic_message(VALID_JSON, model="claude-sonnet-4-5"), hang_seconds=0.2
    )
    with FakeLLMServer(default=answer) as llm:
        llm.script(anthropic_error(429, "rate_limit_error", "slow down", {"retry-after": "0"}))
        env = _environment(llm.url)
        fields: dict[str, Any] = {
            k.lower(): v for k, v in env.items() if k.lower() in Settings.model_fields
        }
        settings = Settings(_env_file=None, **fields)
        processes = _Processes(env, logs)
        port = _free_port()
        try:
            worker_logs = [
                processes.spawn(role, [sys.executable, "-m", "eyeflow_worker.worker", role])
                for role in ("interactive", "batch")
            ]
            gateway_log = processes.spawn(
                "gateway",
                [sys.executable, "-m", "uvicorn", "--factory", "api_gateway.main:create_app",
                 "--host", "127.0.0.1", "--port", str(port)],
            )  # fmt: skip
            _wait(_workers_answer(settings), "both workers to answer a ping", processes)
            headers = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as client:
                _wait(lambda: _health(client), "the gateway", processes)
                request_id = "ops-test-request-0001"
                jobs, answered_id = _submit_jobs(client, processes, request_id)
                scrape = client.get(
                    "/metrics", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}
                )
                assert scrape.status_code == 200, scrape.text
        finally:
            processes.stop_all()
        return Observed(
            jobs=jobs,
            metrics_text=scrape.text,
            worker_logs=[line for log in worker_logs for line in _lines(log)],
            gateway_log=_lines(gateway_log),
            request_id=request_id,
            answered_request_id=answered_id,
            provider_calls=llm.calls,
        )


def _health(client: httpx.Client) -> bool:
    try:
        return client.get("/health").status_code < 500
    except httpx.TransportError:
        return False


def _lines(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if line.strip()]
