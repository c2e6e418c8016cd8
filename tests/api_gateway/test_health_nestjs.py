"""/health reports NestJS reachability as the fleet last observed it: every fetch (on-demand
refresh, beat's refresh, a worker's cache miss) records its outcome; a failure degrades the
fleet with its reason and age until a fetch of the same kind reaches NestJS — for any tenant.
It never shows a tenant's name, a URL's credentials or an API key."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from eyeflow_worker.core.errors import ConfigMissing
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.tenant_config.source import ConfigSource
from tests.api_gateway.health_helpers import (
    FakePing,
    connect,
    forget,
    gateway_app,
    make_settings,
    new_tenant,
)
from tests.fakes.nestjs import DEFAULT_ROUTE, FakeNestJS

API_KEY = "sk-ant-HEALTHTEST-k3y-DISTINCTIVE-71d0"


@pytest.fixture
def tenants() -> Iterator[list[str]]:
    client = connect()
    names: list[str] = [new_tenant(), new_tenant()]
    forget(client, names)
    yield names
    forget(client, names)
    client.close()


@pytest.fixture
def fake() -> Iterator[FakeNestJS]:
    server = FakeNestJS().start()
    yield server
    server.stop()


@pytest.fixture
def settings(fake: FakeNestJS) -> Settings:
    return make_settings(nestjs_server_url=fake.url)


@pytest.fixture
def http(settings: Settings) -> Iterator[TestClient]:
    with TestClient(gateway_app(settings, FakePing())) as client:
        yield client


def _configs(http: TestClient) -> ConfigSource:
    configs: ConfigSource = http.app.state.gateway.configs  # type: ignore[attr-defined]
    return configs


def _health(http: TestClient) -> dict[str, Any]:
    response = http.get("/health")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def _add_config(fake: FakeNestJS, tenant: str) -> None:
    fake.add_config(tenant, provider="anthropic", model="claude-x", apiConfig={"apiKey": API_KEY})


def _refresh(http: TestClient, tenant: str) -> int:
    return http.post("/config/refresh", headers={"X-User-ID": tenant}).status_code


def test_a_failed_refresh_degrades_with_reason_and_age_until_a_fetch_succeeds(
    fake: FakeNestJS, http: TestClient, tenants: list[str]
) -> None:
    tenant = tenants[0]
    _add_config(fake, tenant)
    assert _health(http)["nestjs"]["reachable"] is None  # nothing observed yet
    assert _refresh(http, tenant) == 200
    body = _health(http)
    assert body["status"] == "healthy", body["reasons"]
    assert body["nestjs"]["reachable"] is True
    assert 0 <= body["nestjs"]["config"]["last_success_age_seconds"] < 5

    fake.overrides[DEFAULT_ROUTE] = (503, b"{}")
    assert _refresh(http, tenant) == 502
    assert _refresh(http, tenant) == 502
    body = _health(http)
    nestjs = body["nestjs"]
    assert body["status"] == "degraded"
    assert nestjs["reachable"] is False
    # The context route answered in the same refreshes: it says nothing about the config route.
    assert nestjs["context"]["reachable"] is True
    config = nestjs["config"]
    assert config["reachable"] is False
    assert config["consecutive_failures"] == 2
    failure = config["last_failure"]
    assert failure["code"] == "upstream_unavailable"
    assert failure["reason"] == "LLM config fetch failed: HTTP 503"
    assert 0 <= failure["age_seconds"] <= config["failing_for_seconds"] < 5
    assert re.fullmatch(r"[0-9a-f]{12}", failure["tenant_digest"])
    [reason] = body["reasons"]
    assert reason.startswith("NestJS unreachable: LLM config fetch failed: HTTP 503; the last of 2")

    del fake.overrides[DEFAULT_ROUTE]
    assert _refresh(http, tenant) == 200
    body = _health(http)
    assert body["status"] == "healthy", body["reasons"]
    assert body["nestjs"]["config"]["reachable"] is True
    assert body["nestjs"]["config"]["consecutive_failures"] == 0
    assert body["nestjs"]["config"]["failing_for_seconds"] is None
    assert body["nestjs"]["config"]["last_failure"]["reason"] == failure["reason"]  # history


def test_a_success_for_another_tenant_clears_the_failure(
    fake: FakeNestJS, http: TestClient, tenants: list[str]
) -> None:
    failing, other = tenants
    _add_config(fake, other)
    port = fake.port
    fake.stop()
    # A worker's cache miss, NestJS down: the job's error is config_missing; /health says why.
    with pytest.raises(ConfigMissing):
        _configs(http).llm_config(failing)
    body = _health(http)
    assert (
        body["nestjs"]["config"]["last_failure"]["reason"]
        == "LLM config fetch failed: ConnectError"
    )
    assert body["nestjs"]["config"]["last_success_age_seconds"] is None
    assert body["status"] == "degraded"

    fake.start()
    assert fake.port == port
    _configs(http).llm_config(other)  # another tenant's fetch reaches NestJS: that is the news
    body = _health(http)
    assert body["nestjs"]["config"]["reachable"] is True
    assert body["status"] == "healthy", body["reasons"]


def test_an_answer_about_a_tenants_data_is_nestjs_answering(
    fake: FakeNestJS, http: TestClient, tenants: list[str]
) -> None:
    fake.overrides[DEFAULT_ROUTE] = (500, b"")
    with pytest.raises(ConfigMissing):
        _configs(http).llm_config(tenants[0])
    assert _health(http)["nestjs"]["reachable"] is False

    del fake.overrides[DEFAULT_ROUTE]
    with pytest.raises(ConfigMissing):  # 404: no default configuration for this tenant
        _configs(http).llm_config(tenants[1])
    assert _health(http)["nestjs"]["config"]["reachable"] is True


def test_beats_refresh_records_its_outcome_too(
    fake: FakeNestJS, http: TestClient, tenants: list[str]
) -> None:
    tenant = tenants[0]
    _add_config(fake, tenant)
    assert _refresh(http, tenant) == 200  # now a known tenant, for beat to refresh
    fake.overrides[DEFAULT_ROUTE] = (502, b"")
    report = _configs(http).refresh_due(horizon_seconds=10**9)  # what the beat task runs
    assert report[tenant]["config"] == "upstream_unavailable"
    body = _health(http)
    assert body["nestjs"]["config"]["last_failure"]["reason"] == "LLM config fetch failed: HTTP 502"
    assert body["status"] == "degraded"


def test_refused_fetches_say_so_and_health_leaks_no_tenant_url_credentials_or_key(
    fake: FakeNestJS, tenants: list[str]
) -> None:
    # Credentials in the URL, and the default tenant's own error shown in `config_cache`.
    url = fake.url.replace("http://", "http://ops:hunter2-PASSWORD@")
    client = connect()
    forget(client, ["system"])
    try:
        with TestClient(gateway_app(make_settings(nestjs_server_url=url), FakePing())) as http:
            for tenant in (*tenants, "system"):
                _add_config(fake, tenant)
                assert _refresh(http, tenant) == 200
            fake.overrides[DEFAULT_ROUTE] = (403, b"{}")
            for tenant in (*tenants, "system"):
                assert _refresh(http, tenant) == 502
            text = http.get("/health").text
            body = http.get("/health").json()
            again = http.get("/health").json()
    finally:
        forget(client, ["system"])
        client.close()
    assert body["status"] == "degraded"
    assert body["nestjs"]["config"]["last_failure"]["reason"] == (
        "LLM config fetch refused: HTTP 403 (check NESTJS_SERVICE_TOKEN)"
    )
    assert body["config_cache"]["degraded"] is True
    assert "***@" in body["config_cache"]["reason"]
    for secret in ("hunter2-PASSWORD", API_KEY, *tenants):
        assert secret not in text
    # The digest is keyed: the same tenant gives the same one; a plain hash would not do.
    digest = body["nestjs"]["config"]["last_failure"]["tenant_digest"]
    assert digest == again["nestjs"]["config"]["last_failure"]["tenant_digest"]
    assert digest != hashlib.sha256(b"system").hexdigest()[:12]


def test_without_nestjs_there_is_nothing_to_reach(tenants: list[str]) -> None:
    with TestClient(gateway_app(make_settings(), FakePing())) as http:
        assert _health(http)["nestjs"] == {"configured": False}
