"""End-to-end fixtures in NestJS mode: a fake NestJS, fake Anthropic and OpenAI servers, two
real Celery workers (interactive, batch) as subprocesses, and the gateway in-process.

Everything lives on Redis database 11 only (flushed at the start of the session). The fakes are
shared by every test in the session; tests script replies right before submitting and count
requests relative to a mark, so they do not depend on each other.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from api_gateway.main import create_app
from eyeflow_worker.core.celery_factory import create_celery_app
from eyeflow_worker.core.settings import Settings
from tests.fakes.llm_servers import FakeLLMServer, anthropic_message, openai_completion
from tests.fakes.nestjs import FakeNestJS
from tests.fleet.worker_process import WorkerProcess, fleet_environment
from tests.integration.secrets_scan import assert_no_secret_leaked

INTEGRATION_DB = 11
REDIS_URL = os.environ.get("EYEFLOW_TEST_REDIS", "redis://127.0.0.1:6379") + f"/{INTEGRATION_DB}"

ANTHROPIC_KEY = "sk-ant-integration-SECRET-0001"
OPENAI_KEY = "sk-openai-integration-SECRET-0002"
SECRETS = (ANTHROPIC_KEY, OPENAI_KEY)

ANTHROPIC_MODEL = "claude-sonnet-4-5"
OPENAI_MODEL = "gpt-4o"
ANTHROPIC_CACHE_READ = 1536
ANTHROPIC_CACHE_WRITE = 64
OPENAI_CACHED = 128

# One valid answer for the built-in sample catalogue (what jobs use: the fake NestJS serves no
# aggregated context, so the 404 makes workers fall back to the sample catalogue).
VALID_RULES: dict[str, Any] = {
    "workflow_name": "db-memory-alert",
    "trigger": "ON_METRIC_UPDATE",
    "rules": [
        {
            "name": "check-db-memory",
            "condition": "$metrics.db_memory_percent > 85",
            "then": [
                {
                    "action": "SEND_WITH_ESCALATION",
                    "params": {
                        "team": "dba-oncall",
                        "message": "Database memory above 85%",
                        "severity": "high",
                    },
                }
            ],
        }
    ],
}
VALID_JSON = json.dumps(VALID_RULES)


def anthropic_default() -> Any:
    return anthropic_message(
        VALID_JSON,
        model=ANTHROPIC_MODEL,
        input_tokens=300,
        output_tokens=90,
        cache_read=ANTHROPIC_CACHE_READ,
        cache_write=ANTHROPIC_CACHE_WRITE,
    )


def openai_default() -> Any:
    return openai_completion(
        VALID_JSON,
        model=OPENAI_MODEL + "-2024-08-06",
        prompt_tokens=400,
        completion_tokens=80,
        cached_tokens=OPENAI_CACHED,
    )


@dataclass
class Stack:
    nestjs: FakeNestJS
    anthropic: FakeLLMServer
    openai: FakeLLMServer
    settings: Settings
    redis: redis.Redis
    client: TestClient
    log_paths: list[Path]
    # Every gateway response body seen by the tests, scanned for secrets at the end.
    responses: list[str] = field(default_factory=list)
    config_ids: dict[str, str] = field(default_factory=dict)

    # --- gateway calls that record what they saw ----------------------------------------------

    def request(self, method: str, url: str, tenant: str, **kwargs: Any) -> httpx.Response:
        headers = {"X-User-ID": tenant, **kwargs.pop("headers", {})}
        response = self.client.request(method, url, headers=headers, **kwargs)
        self.responses.append(response.text)
        return response

    def submit(self, tenant: str, intent: str) -> str:
        response = self.request("POST", "/api/rules/generate", tenant, json={"user_intent": intent})
        assert response.status_code == 202, response.text
        return str(response.json()["task_id"])

    def task(self, tenant: str, task_id: str) -> dict[str, Any]:
        response = self.request("GET", f"/api/tasks/{task_id}", tenant)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def wait(self, tenant: str, task_id: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.request("GET", f"/api/tasks/{task_id}", tenant, params={"wait": 10})
            assert response.status_code in (200, 202), response.text
            body: dict[str, Any] = response.json()
            if body["status"] in ("succeeded", "failed", "cancelled"):
                return body
        raise AssertionError(f"task {task_id} of {tenant} did not finish within {timeout}s")

    def generate(self, tenant: str, intent: str, timeout: float = 30.0) -> dict[str, Any]:
        return self.wait(tenant, self.submit(tenant, intent), timeout)

    def refresh(self, tenant: str) -> httpx.Response:
        return self.request("POST", "/config/refresh", tenant)


def _configure_tenants(
    nestjs: FakeNestJS, anthropic: FakeLLMServer, openai: FakeLLMServer
) -> dict[str, str]:
    return {
        "acme": nestjs.add_config(
            "acme",
            provider="anthropic",
            model=ANTHROPIC_MODEL,
            temperature=0.2,
            maxTokens=2048,
            apiConfig={"apiKey": ANTHROPIC_KEY, "apiUrl": anthropic.url},
        ),
        "globex": nestjs.add_config(
            "globex",
            provider="openai",
            model=OPENAI_MODEL,
            temperature=0.2,
            maxTokens=2048,
            apiConfig={"apiKey": OPENAI_KEY, "apiUrl": openai.url + "/v1"},
        ),
        "initech": nestjs.add_config(
            "initech", provider="offline", model="eyeflow-offline-drafter-1"
        ),
        "system": nestjs.add_config(
            "system", provider="offline", model="eyeflow-offline-drafter-1"
        ),
        # Used by the config-fetch load test alone: it must see the tenant's first fetch.
        "hooli": nestjs.add_config("hooli", provider="offline", model="eyeflow-offline-drafter-1"),
    }


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    nestjs = FakeNestJS().start()
    anthropic = FakeLLMServer(default=anthropic_default()).start()
    openai = FakeLLMServer(default=openai_default()).start()
    config_ids = _configure_tenants(nestjs, anthropic, openai)

    env = fleet_environment(
        REDIS_URL,
        extra={
            "NESTJS_SERVER_URL": nestjs.url,
            "NESTJS_TIMEOUT_SECONDS": "2",
            "NESTJS_MAX_ATTEMPTS": "2",
            "CACHE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "LLM_MAX_ATTEMPTS": "3",
            "LLM_RETRY_BASE_DELAY_SECONDS": "0.05",
            "LLM_RETRY_MAX_DELAY_SECONDS": "0.2",
            "LLM_RETRY_MAX_TOTAL_SECONDS": "20",
            "LLM_REQUEST_TIMEOUT_SECONDS": "5",
            "LLM_FALLBACK_PROVIDERS": "",
            "RULES_MAX_REPAIR_ATTEMPTS": "1",
        },
    )
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        **{k.lower(): v for k, v in env.items() if k.lower() in Settings.model_fields},
    )
    assert settings.nestjs_server_url == nestjs.url
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    assert client.connection_pool.connection_kwargs["db"] == INTEGRATION_DB
    client.flushdb()

    stack: Stack | None = None
    logs = tmp_path_factory.mktemp("integration-worker-logs")
    log_paths = [logs / "interactive.log", logs / "batch.log"]
    s = settings
    workers = [
        WorkerProcess(
            env,
            f"{s.queue_interactive},{s.queue_webhooks},{s.queue_maintenance}",
            "interactive",
            log_paths[0],
        ),
        WorkerProcess(env, s.queue_batch, "batch", log_paths[1]),
    ]
    try:
        # Both start at once (each takes seconds to import and answer a ping).
        with ThreadPoolExecutor(max_workers=len(workers)) as pool:
            # One Celery app per thread: control.ping is not shared across threads.
            pings = [create_celery_app(settings, include_tasks=False) for _ in workers]
            for started in [
                pool.submit(w.start, app) for w, app in zip(workers, pings, strict=True)
            ]:
                started.result()
        with TestClient(create_app(settings)) as test_client:
            stack = Stack(
                nestjs=nestjs,
                anthropic=anthropic,
                openai=openai,
                settings=settings,
                redis=client,
                client=test_client,
                log_paths=log_paths,
                config_ids=config_ids,
            )
            yield stack
    finally:
        for worker in workers:
            worker.stop()
        anthropic.stop()
        openai.stop()
        nestjs.stop()
    try:
        # After every integration test, in whatever order they ran: no key leaked anywhere.
        if stack is not None:
            assert_no_secret_leaked(SECRETS, client, stack.responses, log_paths)
    finally:
        client.close()
