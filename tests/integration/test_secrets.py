"""No API key in plain text anywhere — every key of Redis db 11 (strings, hashes, lists incl.
queued Celery messages, sets, sorted sets, streams), every gateway response, and the worker
logs. The cached key is there, but only encrypted.

Each test makes the traffic it scans, so it holds in any order; the `stack` fixture scans
everything once more when the whole session is done (`secrets_scan.assert_no_secret_leaked`)."""

from __future__ import annotations

import json

import redis
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from api_gateway.main import create_app
from tests.integration.conftest import ANTHROPIC_KEY, OPENAI_KEY, SECRETS, Stack
from tests.integration.secrets_scan import redis_values

PARKED_QUEUE = "eyeflow.integration.parked"


def test_no_api_key_in_plain_text_in_redis(stack: Stack) -> None:
    # Real provider jobs of both tenants (also when this test runs alone), so configs are cached.
    for tenant in ("acme", "globex"):
        task = stack.generate(tenant, f"Escalate when db memory exceeds 85% (scan {tenant})")
        assert task["status"] == "succeeded", task["error"]
    # A job on a queue no worker consumes: its Celery message stays in Redis to be scanned.
    parked = stack.settings.model_copy(update={"queue_interactive": PARKED_QUEUE})
    with TestClient(create_app(parked)) as gateway:
        submitted = gateway.post(
            "/api/rules/generate",
            json={"user_intent": "Escalate when db memory exceeds 85% (parked)"},
            headers={"X-User-ID": "acme"},
        )
    assert submitted.status_code == 202, submitted.text
    parked_id = submitted.json()["task_id"]

    client = redis.Redis.from_url(
        stack.settings.redis_url, decode_responses=True, encoding_errors="replace"
    )
    try:
        values = redis_values(client)
    finally:
        client.delete(PARKED_QUEUE)
        client.close()

    assert any(k.startswith("eyeflow:job:") for k in values), "no job records to scan"
    assert any(k.startswith("eyeflow:tenantcfg:") for k in values), "no cached configs to scan"
    # The scan really read the queued Celery message, body decoded.
    assert any(parked_id in value for value in values.get(PARKED_QUEUE, [])), values.keys()
    leaks = [
        (key, secret)
        for key, stored in values.items()
        for secret in SECRETS
        if secret in key or any(secret in value for value in stored)
    ]
    assert leaks == []


def test_the_cached_key_is_stored_encrypted(stack: Stack) -> None:
    assert stack.refresh("acme").status_code == 200  # cached now, whatever ran before
    record = json.loads(stack.redis.get("eyeflow:tenantcfg:{acme}:config") or "null")
    assert record is not None
    value = record["value"]
    assert value["provider"] == "anthropic"
    assert "api_key" not in value
    assert value["api_key_enc"]
    assert ANTHROPIC_KEY not in value["api_key_enc"]
    key = stack.settings.cache_encryption_key
    assert key is not None
    assert Fernet(key.get_secret_value()).decrypt(value["api_key_enc"]).decode() == ANTHROPIC_KEY


def test_no_api_key_in_gateway_responses(stack: Stack) -> None:
    for tenant in ("acme", "globex", "initech", "system"):
        for path in ("/cache/status", "/providers", "/health", "/metrics"):
            response = stack.request("GET", path, tenant)
            assert response.status_code == 200, (path, response.text)
    providers = stack.request("GET", "/providers", "acme").json()
    assert providers["active"]["provider"] == "anthropic"
    assert any(p["credentials_present"] for p in providers["providers"] if p["active"])

    assert len(stack.responses) >= 10
    leaks = [
        (secret, body[:200]) for body in stack.responses for secret in SECRETS if secret in body
    ]
    assert leaks == []


def test_no_api_key_in_worker_logs(stack: Stack) -> None:
    # Both keys have been used by the workers (and logged about, if anything leaked).
    for tenant in ("acme", "globex"):
        task = stack.generate(tenant, f"Escalate when db memory exceeds 85% (logs {tenant})")
        assert task["status"] == "succeeded", task["error"]
    for path in stack.log_paths:
        text = path.read_text(errors="replace")
        assert text.strip(), f"{path} is empty"
        assert ANTHROPIC_KEY not in text, path
        assert OPENAI_KEY not in text, path
