"""Shared by the /health tests: the real Redis (database 15, the gateway tests' own; these tests
never flush it — they delete only the fleet-health keys and their own tenants' keys, named
per test), a controllable worker ping, and gateways built around them."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis
from cryptography.fernet import Fernet
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api_gateway.main import create_app
from api_gateway.worker_liveness import LOCK_KEY, PING_KEY, WorkerLiveness
from eyeflow_worker.core.fleet_health import NESTJS_KEY
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.tenant_config.cache import PREFIX, TENANTS_KEY

REDIS_URL = os.environ.get("EYEFLOW_TEST_REDIS", "redis://127.0.0.1:6379") + "/15"
HEALTH_KEYS = (NESTJS_KEY, PING_KEY, LOCK_KEY)


def connect() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    assert client.connection_pool.connection_kwargs["db"] == 15
    return client


def forget(client: redis.Redis, tenants: list[str]) -> None:
    """Delete the fleet-health keys and everything cached for `tenants` (never FLUSHDB)."""
    client.delete(*HEALTH_KEYS)
    for tenant in tenants:
        keys = list(client.scan_iter(match=f"{PREFIX}:{{{tenant}}}:*"))
        if keys:
            client.delete(*keys)
        client.srem(TENANTS_KEY, tenant)


def new_tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:10]}"


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "redis_url": REDIS_URL,
        "environment": "test",
        # Outside dev the settings need both (fixed test values, never real ones).
        "webhook_secret": "whsec_ZXllZmxvdy10ZXN0LXdlYmhvb2stc2VjcmV0",
        "cache_encryption_key": "dGVzdC1vbmx5LWZlcm5ldC1rZXktMzItYnl0ZXMtISE=",
    }
    if overrides.get("nestjs_server_url"):
        values |= {
            "cache_encryption_key": Fernet.generate_key().decode(),
            "nestjs_timeout_seconds": 1.0,
            "nestjs_max_attempts": 1,
        }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class FakePing:
    """Stands for Celery's ping: counts calls, answers `names`, blocks while `gate` is shut."""

    def __init__(self, names: tuple[str, ...] = ("interactive@host-a",)) -> None:
        self.names = list(names)
        self.calls = 0
        self.gate = threading.Event()
        self.gate.set()
        self._lock = threading.Lock()

    def __call__(self, timeout: float) -> list[str]:
        with self._lock:
            self.calls += 1
        self.gate.wait(timeout=30)
        return list(self.names)


def gateway_app(
    settings: Settings, ping: FakePing | None = None, *, max_age: float = 60.0
) -> FastAPI:
    """The real gateway app; with `ping`, its worker ping is the fake (else Celery's own)."""
    app = create_app(settings)
    if ping is not None:
        state = app.state.gateway
        liveness = WorkerLiveness(state.redis, ping, max_age_seconds=max_age, timeout_seconds=0.05)
        health = dataclasses.replace(state.health, liveness=liveness)
        app.state.gateway = dataclasses.replace(state, health=health)
    return app


def wait_for(
    http: TestClient, done: Callable[[dict[str, Any]], bool], seconds: float = 10.0
) -> dict[str, Any]:
    """GET /health until `done(body)`; the last body. Fails past `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        body: dict[str, Any] = http.get("/health").json()
        if done(body):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.02)
