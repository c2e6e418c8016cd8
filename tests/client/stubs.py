"""Answers of the gateway's shapes (as `core.task_view` builds them), and clients wired to an
httpx.MockTransport that serves them: no socket is opened."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from eyeflow_worker.client import AsyncEyeflowClient, EyeflowClient

TASK_ID = "0b7e2f5c-3d1a-4f6e-9a8b-1c2d3e4f5a6b"
TOKEN = "tok-SECRET-0123456789"
Handler = Callable[[httpx.Request], httpx.Response]

RULES: dict[str, Any] = {
    "workflow_name": "database-memory-alert",
    "trigger": "ON_WORKFLOW_START",
    "rules": [
        {
            "name": "check-memory",
            "condition": "$metrics.db_memory_percent > 85",
            "then": [{"action": "SEND_WITH_ESCALATION", "params": {}}],
            "else": [{"action": "LOG"}],
        }
    ],
}


def task(kind: str = "generate", status: str = "succeeded", **extra: Any) -> dict[str, Any]:
    done = status in ("succeeded", "failed", "cancelled")
    body: dict[str, Any] = {
        "task_id": TASK_ID,
        "kind": kind,
        "status": status,
        "created_at": "2025-01-01T00:00:00+00:00",
        "started_at": "2025-01-01T00:00:01+00:00" if status != "queued" else None,
        "finished_at": "2025-01-01T00:00:02+00:00" if done else None,
        "attempts": 1,
        "progress": {
            "total": 1,
            "succeeded": int(status == "succeeded"),
            "failed": int(status == "failed"),
            "cancelled": int(status == "cancelled"),
        },
        "result": None,
        "error": None,
    }
    body.update(extra)
    return body


def rules_result(**extra: Any) -> dict[str, Any]:
    return {
        "workflow_rules": RULES,
        "model_used": "offline-drafter",
        "provider": "offline",
        "tokens_used": 0,
        "usage": {"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": 0},
        "generation_time_ms": 3,
        **extra,
    }


def client(handler: Handler, **options: Any) -> EyeflowClient:
    return EyeflowClient(
        "http://gw.test",
        token=TOKEN,
        tenant="acme",
        transport=httpx.MockTransport(handler),
        **options,
    )


def async_client(handler: Handler, **options: Any) -> AsyncEyeflowClient:
    return AsyncEyeflowClient(
        "http://gw.test",
        token=TOKEN,
        tenant="acme",
        transport=httpx.MockTransport(handler),
        **options,
    )


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Handler:
    def handle(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)

    return handle


class FakeClock:
    """`clock` and `sleep` for a client: sleeping moves the clock, nothing waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)
