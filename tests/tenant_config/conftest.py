"""Fixtures: the real Redis (database 10 only, flushed around each test), a fake NestJS on
loopback, a controllable clock, and stores built on them."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from cryptography.fernet import Fernet

from eyeflow_worker.core.settings import Settings
from eyeflow_worker.tenant_config.nestjs import NestJSClient
from eyeflow_worker.tenant_config.nestjs_source import NestJSSource
from tests.fakes.nestjs import FakeNestJS

REDIS_URL = os.environ.get("EYEFLOW_TEST_REDIS", "redis://127.0.0.1:6379") + "/10"
API_KEY = "sk-ant-TESTKEY-zq81xv-DISTINCTIVE-9f3c"
OTHER_KEY = "sk-openai-OTHERKEY-u7w2-DISTINCTIVE-44ab"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance_minutes(self, minutes: float) -> None:
        self.now += minutes * 60.0


@pytest.fixture
def redis_db() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    assert client.connection_pool.connection_kwargs["db"] == 10
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def fake() -> Iterator[FakeNestJS]:
    server = FakeNestJS().start()
    yield server
    server.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_settings(nestjs_url: str | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "redis_url": REDIS_URL,
        "nestjs_server_url": nestjs_url,
        "cache_encryption_key": Fernet.generate_key().decode(),
        "webhook_secret": "whsec_ZXllZmxvdy10ZXN0LXdlYmhvb2stc2VjcmV0",
        "nestjs_timeout_seconds": 2.0,
        "nestjs_max_attempts": 2,
        "config_fetch_interval_minutes": 60.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(fake: FakeNestJS) -> Settings:
    return make_settings(fake.url)


StoreFactory = Callable[..., NestJSSource]


@pytest.fixture
def make_store(redis_db: redis.Redis, clock: Clock) -> Iterator[StoreFactory]:
    # One HTTP client per Settings (creating an httpx.Client costs ~0.25 s); the stores built
    # on it share nothing else, so each one stands for a separate worker process.
    clients: dict[int, NestJSClient] = {}

    def build(settings: Settings, **kwargs: Any) -> NestJSSource:
        client = None
        if settings.nestjs_server_url:
            client = clients.get(id(settings))
            if client is None:
                client = clients[id(settings)] = NestJSClient(settings, backoff_seconds=0.0)
        kwargs.setdefault("clock", clock)
        return NestJSSource(redis_db, settings, client, **kwargs)

    yield build
    for client in clients.values():
        client.close()


@pytest.fixture
def store(make_store: StoreFactory, settings: Settings) -> NestJSSource:
    return make_store(settings)


def anthropic_config(key: str = API_KEY, **extra: Any) -> dict[str, Any]:
    return {
        "provider": "anthropic",
        "model": "claude-3-opus-20240229",
        "temperature": 0.3,
        "maxTokens": 4096,
        "isDefault": True,
        "apiConfig": {"apiKey": key},
        **extra,
    }


def openai_config(key: str = OTHER_KEY) -> dict[str, Any]:
    return {
        "provider": "openai",
        "model": "gpt-4-turbo",
        "temperature": 0.2,
        "maxTokens": 2048,
        "isDefault": True,
        "apiConfig": {"apiKey": key, "apiUrl": "https://api.openai.com/v1"},
    }


SAMPLE_CONTEXT = {
    "condition_types": [{"type": "METRIC_THRESHOLD"}],
    "action_types": [{"type": "SEND_WITH_ESCALATION"}],
    "triggers": ["ON_WORKFLOW_START"],
}
