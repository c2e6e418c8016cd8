"""NestJS goes down mid-run: cached tenants keep working on their last-known-good config, the
outage is reported (refresh 502, /cache/status and /health degraded), a tenant never fetched
fails with `config_missing`. NestJS is restarted on the same port afterwards.

Named to run after the other modules that need NestJS (pytest runs modules alphabetically)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.nestjs import DEFAULT_ROUTE
from tests.integration.conftest import ANTHROPIC_KEY, VALID_RULES, Stack


@pytest.fixture
def nestjs_down(stack: Stack) -> Iterator[None]:
    # Before the outage: acme and system are cached and healthy.
    for tenant in ("acme", "system"):
        response = stack.refresh(tenant)
        assert response.status_code == 200, response.text
    health = stack.request("GET", "/health", "system").json()
    assert health["config_cache"]["degraded"] is False, health["reasons"]
    assert health["provider"] == "offline"
    port = stack.nestjs.port
    stack.nestjs.stop()
    try:
        yield
    finally:
        stack.nestjs.start()
        assert stack.nestjs.port == port


def test_nestjs_outage_serves_cached_configs_and_reports_degraded(
    stack: Stack, nestjs_down: None
) -> None:
    refresh = stack.refresh("acme")
    assert refresh.status_code == 502, refresh.text
    report = refresh.json()
    assert report["ok"] is False
    assert report["tenants"]["acme"]["config"] == "upstream_unavailable"
    assert "NestJS" in report["tenants"]["acme"]["errors"]["config"]

    status = stack.request("GET", "/cache/status", "acme").json()
    assert status["degraded"] is True
    assert "last-known-good" in status["reason"]
    assert status["config"]["cached"] is True
    assert status["config"]["provider"] == "anthropic"
    assert status["config"]["last_error"]["code"] == "upstream_unavailable"

    # acme's jobs still run, on the cached (decrypted) config.
    a0 = stack.anthropic.calls
    task = stack.generate("acme", "Escalate when db memory exceeds 85% (nestjs-down)")
    assert task["status"] == "succeeded", task["error"]
    assert task["result"]["provider"] == "anthropic"
    assert task["result"]["workflow_rules"] == VALID_RULES
    assert stack.anthropic.calls == a0 + 1

    # The system tenant's refresh fails too: /health turns degraded and says why.
    assert stack.refresh("system").status_code == 502
    health = stack.request("GET", "/health", "system")
    assert health.status_code == 200
    assert health.json()["status"] == "degraded"
    assert health.json()["config_cache"]["degraded"] is True
    assert any("fetch failed" in reason for reason in health.json()["reasons"])
    assert health.json()["provider"] == "offline"


def test_a_tenant_never_fetched_fails_with_config_missing_while_nestjs_is_down(
    stack: Stack, nestjs_down: None
) -> None:
    task = stack.generate("umbrella", "Escalate when db memory exceeds 85% (never fetched)")

    assert task["status"] == "failed"
    assert task["error"]["code"] == "config_missing"
    assert "umbrella" in task["error"]["message"]
    assert ANTHROPIC_KEY not in str(task)


def test_after_nestjs_is_back_a_refresh_clears_the_degraded_state(stack: Stack) -> None:
    before = stack.nestjs.count(DEFAULT_ROUTE, "acme")
    for tenant in ("acme", "system"):
        response = stack.refresh(tenant)
        assert response.status_code == 200, response.text
    assert stack.nestjs.count(DEFAULT_ROUTE, "acme") == before + 1

    status = stack.request("GET", "/cache/status", "acme").json()
    assert status["degraded"] is False, status["reason"]
    assert status["config"]["last_error"] is None
    health = stack.request("GET", "/health", "system").json()
    assert health["config_cache"]["degraded"] is False, health["reasons"]
    assert not any("fetch failed" in reason for reason in health["reasons"])
    task = stack.generate("acme", "Escalate when db memory exceeds 85% (nestjs-back)")
    assert task["status"] == "succeeded", task["error"]
