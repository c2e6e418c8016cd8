"""The per-tenant submission rate limit: 429 with Retry-After once a tenant's bucket is empty,
shared by every gateway on the same Redis, a batch counting once, other tenants untouched,
nothing written for a refused submission, and off when the rate is 0."""

from __future__ import annotations

import time
import uuid

from pydantic import SecretStr

from eyeflow_worker.core.submit_rate import SubmitRate, bucket_key
from tests.api_gateway.submit_helpers import connect, forget, gateway

GENERATE = {"user_intent": "Alert me"}
LIMITED = {"tenant_submit_rate_per_minute": 2, "tenant_submit_burst": 2}


def test_over_the_rate_is_a_429_with_retry_after_across_gateways() -> None:
    with gateway(**LIMITED) as first, gateway(first.tenant, **LIMITED) as second:
        assert first.post("/api/rules/generate", GENERATE).status_code == 202
        # A batch is one submission, whatever its size.
        batch = second.post("/api/rules/generate-batch", {"intents": ["a", "b", "c", "d"]})
        assert batch.status_code == 202

        refused = second.post("/api/rules/generate", GENERATE, **{"Idempotency-Key": "again"})
        assert refused.status_code == 429
        # 2 per minute: the next token is ~30 s away.
        assert 25 <= int(refused.headers["Retry-After"]) <= 30
        assert "TENANT_SUBMIT_RATE_PER_MINUTE" in refused.json()["detail"]
        evaluate = {"condition": "1", "context": {}}
        assert first.post("/api/conditions/evaluate", evaluate).status_code == 429
        # Nothing was written for the refused ones: two jobs, and the key was never claimed.
        assert len(first.sent) + len(second.sent) == 2
        client = connect()
        try:
            assert list(client.scan_iter(match=f"eyeflow:idempotency:{first.tenant}:*")) == []
        finally:
            client.close()
        # Another tenant has a bucket of its own.
        other = {"X-User-ID": f"t-{uuid.uuid4().hex[:12]}"}
        answer = first.http.post("/api/rules/generate", json=GENERATE, headers=other)
        assert answer.status_code == 202
        forget(other["X-User-ID"], [answer.json()["task_id"]])


def test_calls_without_the_token_take_nothing_from_the_tenant() -> None:
    with gateway(
        gateway_api_token=SecretStr("t0ken"), tenant_submit_rate_per_minute=2, tenant_submit_burst=1
    ) as gw:
        for _ in range(3):
            assert gw.post("/api/rules/generate", GENERATE).status_code == 401
        bearer = {"Authorization": "Bearer t0ken"}
        assert gw.post("/api/rules/generate", GENERATE, **bearer).status_code == 202
        assert gw.post("/api/rules/generate", GENERATE, **bearer).status_code == 429


def test_a_rate_of_zero_is_no_limit() -> None:
    with gateway(tenant_submit_rate_per_minute=0, tenant_submit_burst=1) as gw:
        for _ in range(5):
            assert gw.post("/api/rules/generate", GENERATE).status_code == 202
        client = connect()
        try:
            assert not client.exists(bucket_key(gw.tenant))
        finally:
            client.close()


def test_the_bucket_refills_at_the_rate_and_expires_when_full() -> None:
    client = connect()
    tenant = f"t-{uuid.uuid4().hex[:12]}"
    limiter = SubmitRate(client, per_minute=600, burst=1)  # one every 0.1 s
    try:
        assert limiter.take(tenant) is None
        wait = limiter.take(tenant)
        assert wait is not None
        assert 0 < wait <= 0.1
        time.sleep(wait + 0.05)
        assert limiter.take(tenant) is None
        # Full again after burst / rate (0.1 s): the key does not outlive that by much.
        assert 0 < client.pttl(bucket_key(tenant)) <= 1100
    finally:
        client.delete(bucket_key(tenant))
        client.close()
