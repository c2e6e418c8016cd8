"""The configuration cache under load (one NestJS fetch for hundreds of concurrent jobs across
two worker processes) and a hot swap of a tenant's provider through POST /config/refresh."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.nestjs import DEFAULT_ROUTE
from tests.integration.conftest import (
    ANTHROPIC_KEY,
    ANTHROPIC_MODEL,
    OPENAI_MODEL,
    VALID_RULES,
    Stack,
)

BATCH_SIZE = 300
SINGLE_JOBS = 50
METRICS = ["CPU", "memory", "disk usage", "error rate", "response time"]


def _intents(count: int, tag: str) -> list[str]:
    return [
        f"Alert the on-call team when {METRICS[i % len(METRICS)]} exceeds {50 + i % 45}% "
        f"({tag} {i})"
        for i in range(count)
    ]


def test_hundreds_of_jobs_of_one_tenant_fetch_its_config_once(stack: Stack) -> None:
    tenant = "hooli"  # no other test uses it
    context_route = f"GET {stack.nestjs.context_path}"
    assert stack.nestjs.count(DEFAULT_ROUTE, tenant) == 0, "hooli must be fresh for this test"
    assert stack.redis.exists(f"eyeflow:tenantcfg:{{{tenant}}}:config") == 0

    batch = stack.request(
        "POST", "/api/rules/generate-batch", tenant, json={"intents": _intents(BATCH_SIZE, "b")}
    )
    assert batch.status_code == 202, batch.text
    assert batch.json()["total"] == BATCH_SIZE
    singles = [stack.submit(tenant, intent) for intent in _intents(SINGLE_JOBS, "s")]

    batch_task = stack.wait(tenant, batch.json()["task_id"], timeout=45)
    single_tasks = [stack.wait(tenant, task_id) for task_id in singles]

    assert batch_task["status"] == "succeeded", batch_task["progress"]
    assert batch_task["progress"] == {
        "total": BATCH_SIZE,
        "succeeded": BATCH_SIZE,
        "failed": 0,
        "cancelled": 0,
    }
    failures = [t["error"] for t in single_tasks if t["status"] != "succeeded"]
    assert failures == []
    assert {t["result"]["provider"] for t in single_tasks} == {"offline"}
    page = stack.request(
        "GET",
        f"/api/tasks/{batch.json()['task_id']}/results",
        tenant,
        params={"offset": BATCH_SIZE - 10, "limit": 10},
    ).json()
    assert [item["status"] for item in page["items"]] == ["succeeded"] * 10
    assert {item["provider"] for item in page["items"]} == {"offline"}

    # 350 jobs on two worker processes (16 threads), one fetch of each kind from NestJS.
    assert stack.nestjs.count(DEFAULT_ROUTE, tenant) == 1
    assert stack.nestjs.count(context_route, tenant) == 1
    # The LLM fakes never saw this tenant's work (offline provider).
    assert not any("(b 0)" in json.dumps(r.body) for r in stack.anthropic.requests)


def _put_config(stack: Stack, tenant: str, update: dict) -> None:
    config_id = stack.config_ids[tenant]
    response = httpx.put(
        f"{stack.nestjs.url}/api/llm-config/{config_id}",
        headers={"X-User-ID": tenant},
        json=update,
        timeout=5,
    )
    assert response.status_code == 200, response.text
    assert response.json()["apiConfig"]["apiKey"] == "***"


@pytest.fixture
def acme_swapped_to_openai(stack: Stack) -> Iterator[None]:
    # acme's (and globex's) configs are cached, fresh, before NestJS changes — whatever ran before.
    for tenant in ("acme", "globex"):
        assert stack.refresh(tenant).status_code == 200
    _put_config(
        stack,
        "acme",
        {
            "provider": "openai",
            "model": OPENAI_MODEL,
            "apiConfig": {"apiUrl": stack.openai.url + "/v1"},
        },
    )
    try:
        yield
    finally:
        _put_config(
            stack,
            "acme",
            {
                "provider": "anthropic",
                "model": ANTHROPIC_MODEL,
                "apiConfig": {"apiUrl": stack.anthropic.url},
            },
        )
        restored = stack.refresh("acme")
        assert restored.status_code == 200, restored.text
        assert restored.json()["tenants"]["acme"]["provider"] == "anthropic"


def test_a_provider_swap_in_nestjs_applies_after_refresh(
    stack: Stack, acme_swapped_to_openai: None
) -> None:
    before_cached = stack.generate("acme", "Page the DBA when db memory > 85% (swap-before)")
    # Cached config still fresh: the swap in NestJS is not seen until a refresh.
    assert before_cached["result"]["provider"] == "anthropic"

    refreshed = stack.refresh("acme")
    assert refreshed.status_code == 200, refreshed.text
    report = refreshed.json()
    assert report["ok"] is True
    assert report["tenants"]["acme"]["config"] == "ok"
    assert report["tenants"]["acme"]["provider"] == "openai"
    assert ANTHROPIC_KEY not in refreshed.text

    intent = "Page the DBA when db memory > 85% (swap-after)"
    a0, o0 = stack.anthropic.calls, stack.openai.calls
    task = stack.generate("acme", intent)

    assert task["status"] == "succeeded", task["error"]
    assert task["result"]["provider"] == "openai"
    assert task["result"]["workflow_rules"] == VALID_RULES
    calls = [r for r in stack.openai.requests[o0:] if intent in json.dumps(r.body)]
    assert len(calls) == 1
    # acme's own key (kept by the deep merge of apiConfig) went to the new provider.
    assert calls[0].headers["authorization"] == f"Bearer {ANTHROPIC_KEY}"
    assert stack.anthropic.calls == a0
    status = stack.request("GET", "/cache/status", "acme").json()
    assert status["config"]["provider"] == "openai"
    assert status["degraded"] is False
    # globex is untouched by acme's swap.
    assert stack.request("GET", "/cache/status", "globex").json()["config"]["model"] == OPENAI_MODEL


def test_acme_is_back_on_anthropic_after_the_swap(stack: Stack) -> None:
    task = stack.generate("acme", "Page the DBA when db memory > 85% (swap-restored)")
    assert task["status"] == "succeeded", task["error"]
    assert task["result"]["provider"] == "anthropic"
