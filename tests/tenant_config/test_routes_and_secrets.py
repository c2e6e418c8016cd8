"""The gateway routes of the config cache, and the promise that an API key appears nowhere:
not in Redis, not in logs, not in any response."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from redis.backoff import NoBackoff
from redis.retry import Retry

from api_gateway.routes.cache import router
from api_gateway.state import build_state
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.tenant_config.nestjs_source import NestJSSource
from tests.fakes.nestjs import DEFAULT_ROUTE, FakeNestJS
from tests.tenant_config.conftest import (
    API_KEY,
    OTHER_KEY,
    SAMPLE_CONTEXT,
    Clock,
    StoreFactory,
    anthropic_config,
    make_settings,
    openai_config,
)


def make_app(settings: Settings, store: NestJSSource | None = None) -> FastAPI:
    app = FastAPI()
    app.include_router(router)
    app.state.gateway = build_state(settings, configs=store)
    return app


@pytest.fixture
def http(settings: Settings, store: NestJSSource) -> Iterator[TestClient]:
    with TestClient(make_app(settings, store)) as client:
        yield client


def test_status_shows_masked_config_and_ages(
    fake: FakeNestJS, store: NestJSSource, http: TestClient, clock: Clock
) -> None:
    fake.add_config("alice", **anthropic_config())
    fake.contexts["alice"] = SAMPLE_CONTEXT
    store.llm_config("alice")
    store.aggregated_context("alice")
    clock.advance_minutes(12)
    body = http.get("/cache/status", headers={"X-User-ID": "alice"}).json()
    assert body["source"] == "nestjs"
    assert body["tenant"] == "alice"
    assert body["config"]["public"]["apiKey"] == "***"
    assert body["config"]["provider"] == "anthropic"
    assert body["config"]["valid"] is True
    assert body["config"]["age_minutes"] == 12.0
    assert body["config"]["fresh"] is True
    assert body["context"]["age_minutes"] == 12.0
    assert body["context"]["available"] is True
    assert body["degraded"] is False
    other = http.get("/cache/status").json()  # no X-User-ID → system, nothing cached
    assert other["tenant"] == "system"
    assert other["config"]["cached"] is False


def test_refresh_caller_tenant_all_and_upstream_failure(
    fake: FakeNestJS, store: NestJSSource, http: TestClient
) -> None:
    fake.add_config("alice", **anthropic_config())
    fake.add_config("bob", **openai_config())
    answer = http.post("/config/refresh", headers={"X-User-ID": "alice"})
    assert answer.status_code == 200
    assert answer.json() == {
        "ok": True,
        "source": "nestjs",
        "tenants": {
            "alice": {
                "config": "ok",
                "context": "absent",
                "provider": "anthropic",
                "model": "claude-3-opus-20240229",
            }
        },
    }
    store.llm_config("bob")
    # Every tenant: queued for a worker (202), and the answer names no tenant.
    everyone = http.post("/config/refresh", params={"all": "true"})
    assert everyone.status_code == 202
    assert everyone.json()["scope"] == "all"
    assert "tenants" not in everyone.json()
    assert sorted(store.refresh_due(horizon_seconds=10 * 365 * 24 * 3600.0)) == ["alice", "bob"]

    fake.stop()
    down = http.post("/config/refresh", headers={"X-User-ID": "alice"})
    assert down.status_code == 502
    report = down.json()
    assert report["ok"] is False
    assert report["tenants"]["alice"]["config"] == "upstream_unavailable"
    assert (
        "Failed to fetch LLM config from NestJS" in report["tenants"]["alice"]["errors"]["config"]
    )
    status = http.get("/cache/status", headers={"X-User-ID": "alice"}).json()
    assert status["degraded"] is True
    assert status["config"]["cached"] is True


def test_refresh_of_a_tenant_without_config_is_502_with_the_fix(http: TestClient) -> None:
    answer = http.post("/config/refresh", headers={"X-User-ID": "nobody"})
    assert answer.status_code == 502
    item = answer.json()["tenants"]["nobody"]
    assert item["config"] == "config_missing"
    assert "POST" in item["errors"]["config"]
    assert "isDefault" in item["errors"]["config"]


def test_invalidate(fake: FakeNestJS, store: NestJSSource, http: TestClient) -> None:
    for tenant in ("alice", "bob"):
        fake.contexts[tenant] = SAMPLE_CONTEXT
        store.aggregated_context(tenant)
    mine = http.post("/cache/invalidate", headers={"X-User-ID": "alice"})
    assert mine.json() == {"invalidated": 1, "scope": "alice"}
    everyone = http.post("/cache/invalidate", params={"all": "true"})
    assert everyone.json() == {"invalidated": 1, "scope": "all"}


def test_redis_down_is_503(settings: Settings, fake: FakeNestJS) -> None:
    dead = redis.Redis(
        host="127.0.0.1", port=1, db=10, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    store = NestJSSource(dead, settings)
    with TestClient(make_app(settings, store)) as client:
        for method, path in [
            ("GET", "/cache/status"),
            ("POST", "/config/refresh"),
            ("POST", "/cache/invalidate"),
        ]:
            answer = client.request(method, path)
            assert answer.status_code == 503, path
            assert "Redis (configuration cache) is unreachable" in answer.json()["detail"]


def test_environment_mode_and_misconfiguration_of_the_gateways_source(
    fake: FakeNestJS, redis_db: redis.Redis
) -> None:
    env = make_settings(None, cache_encryption_key=None, environment="dev")
    with TestClient(make_app(env)) as client:
        assert client.get("/cache/status").json()["source"] == "environment"
        refreshed = client.post("/config/refresh")
        assert refreshed.status_code == 200
        assert refreshed.json()["source"] == "environment"
    # Outside dev the settings themselves refuse to load without the key.
    with pytest.raises(ValidationError, match="CACHE_ENCRYPTION_KEY must be set"):
        make_settings(fake.url, cache_encryption_key=None)


def test_api_keys_appear_nowhere(
    fake: FakeNestJS,
    make_store: StoreFactory,
    settings: Settings,
    redis_db: redis.Redis,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every path a key could leak through: Redis values, log records (DEBUG, httpx included),
    every route's response, error messages, failed and invalid fetches."""
    caplog.set_level(logging.DEBUG)
    store = make_store(settings)
    alice_id = fake.add_config("alice", **anthropic_config())
    fake.add_config("bob", **openai_config())
    fake.contexts["alice"] = SAMPLE_CONTEXT
    responses: list[str] = []
    with TestClient(make_app(settings, store)) as client:
        for tenant in ("alice", "bob"):
            store.llm_config(tenant)
            store.aggregated_context(tenant)
            for method, path in [
                ("GET", "/cache/status"),
                ("POST", "/config/refresh"),
                ("POST", "/config/refresh?all=true"),
            ]:
                responses.append(client.request(method, path, headers={"X-User-ID": tenant}).text)
        # an invalid update (the key is in the body NestJS sends) and an outage
        fake.configs["alice"][alice_id]["maxTokens"] = "lots"
        responses.append(client.post("/config/refresh", headers={"X-User-ID": "alice"}).text)
        fake.overrides[DEFAULT_ROUTE] = (500, f'{{"leak": "{API_KEY}"}}'.encode())
        clock.advance_minutes(61)
        store.llm_config("alice")
        responses.append(client.get("/cache/status", headers={"X-User-ID": "alice"}).text)
        responses.append(client.post("/cache/invalidate?all=true").text)
        fake.stop()
        responses.append(client.post("/config/refresh?all=true").text)
        responses.append(client.get("/cache/status", headers={"X-User-ID": "bob"}).text)

    stored: list[str] = []
    for key in redis_db.scan_iter("*"):
        stored.append(str(key))
        kind = redis_db.type(key)
        if kind == "string":
            stored.append(str(redis_db.get(key)))
        elif kind == "set":
            stored.extend(str(m) for m in redis_db.smembers(key))
        elif kind == "hash":
            stored.extend(str(v) for v in redis_db.hgetall(key).values())
        elif kind == "list":
            stored.extend(str(v) for v in redis_db.lrange(key, 0, -1))
        else:
            pytest.fail(f"unexpected key type {kind} for {key}")
    assert any("api_key_enc" in value for value in stored)  # the keys are there, encrypted
    for secret in (API_KEY, OTHER_KEY):
        assert all(secret not in value for value in stored)
        assert secret not in caplog.text
        assert all(secret not in r.getMessage() for r in caplog.records)
        assert all(secret not in response for response in responses)
    assert any(r.name == "eyeflow_worker.tenant_config.nestjs" for r in caplog.records)
    assert "***" in responses[0]
