"""Auth, tenancy, idempotency and input validation at the gateway (real Redis, real broker)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api_gateway.main import create_app
from eyeflow_worker.core.settings import Settings

GENERATE = {"user_intent": "Alert the team when database memory exceeds 85%"}


@pytest.fixture
def secured(fleet_settings: Settings, fleet_redis: object) -> Iterator[TestClient]:
    settings = fleet_settings.model_copy(update={"gateway_api_token": SecretStr("t0ken-for-tests")})
    with TestClient(create_app(settings)) as client:
        yield client


def test_token_is_required_on_api_routes_when_configured(secured: TestClient) -> None:
    assert secured.post("/api/rules/generate", json=GENERATE).status_code == 401
    wrong = secured.post(
        "/api/rules/generate", json=GENERATE, headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"] == "Bearer"
    ok = secured.post(
        "/api/rules/generate", json=GENERATE, headers={"Authorization": "Bearer t0ken-for-tests"}
    )
    assert ok.status_code == 202
    assert secured.get(ok.json()["status_url"]).status_code == 401
    assert secured.get("/cache/status").status_code == 401
    assert secured.post("/config/refresh").status_code == 401
    assert secured.post("/cache/invalidate").status_code == 401


def test_health_docs_and_openapi_stay_open(secured: TestClient) -> None:
    assert secured.get("/health").status_code in (200, 503)
    assert secured.get("/docs").status_code == 200
    spec = secured.get("/openapi.json").json()
    for path in (
        "/api/rules/generate",
        "/api/rules/generate-batch",
        "/api/rules/refine",
        "/api/conditions/evaluate",
        "/api/tasks/{task_id}",
        "/api/tasks/{task_id}/results",
        "/health",
        "/providers",
        "/cache/status",
        "/config/refresh",
        "/cache/invalidate",
        "/metrics",
    ):
        assert path in spec["paths"], path


def test_another_tenants_task_is_indistinguishable_from_a_missing_one(
    app_client: TestClient,
) -> None:
    task_id = app_client.post(
        "/api/rules/generate", json=GENERATE, headers={"X-User-ID": "alice"}
    ).json()["task_id"]

    as_bob = app_client.get(f"/api/tasks/{task_id}", headers={"X-User-ID": "bob"})
    missing = app_client.get(
        "/api/tasks/00000000-0000-0000-0000-000000000000", headers={"X-User-ID": "bob"}
    )

    assert as_bob.status_code == missing.status_code == 404
    assert as_bob.json() == missing.json()
    assert (
        app_client.delete(f"/api/tasks/{task_id}", headers={"X-User-ID": "bob"}).status_code == 404
    )
    assert (
        app_client.get(f"/api/tasks/{task_id}", headers={"X-User-ID": "alice"}).status_code == 200
    )
    # With no X-User-ID the tenant is `system`, which is not alice either.
    assert app_client.get(f"/api/tasks/{task_id}").status_code == 404


def test_idempotency_key_returns_the_original_task_or_409(app_client: TestClient) -> None:
    headers = {"Idempotency-Key": "nightly-42", "X-User-ID": "carol"}
    first = app_client.post("/api/rules/generate", json=GENERATE, headers=headers)
    second = app_client.post("/api/rules/generate", json=GENERATE, headers=headers)
    changed = app_client.post(
        "/api/rules/generate", json={"user_intent": "Something else"}, headers=headers
    )
    other_tenant = app_client.post(
        "/api/rules/generate",
        json=GENERATE,
        headers={"Idempotency-Key": "nightly-42", "X-User-ID": "dave"},
    )

    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json()["task_id"] == first.json()["task_id"]
    assert changed.status_code == 409
    assert other_tenant.status_code == 202
    assert other_tenant.json()["task_id"] != first.json()["task_id"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/rules/generate", {}, "user_intent"),
        ("/api/rules/generate", {"user_intent": 42}, "user_intent"),
        ("/api/rules/generate", {"user_intent": "   "}, "user_intent"),
        ("/api/rules/generate", {"user_intent": "x" * 4001}, "user_intent"),
        (
            "/api/rules/generate",
            {"user_intent": "ok", "aggregated_context": []},
            "aggregated_context",
        ),
        ("/api/rules/generate", {"user_intent": "ok", "surprise": 1}, "surprise"),
        ("/api/rules/generate-batch", {"intents": []}, "intents"),
        ("/api/rules/generate-batch", {"intents": ["fine", ""]}, "intents"),
        ("/api/rules/generate-batch", {"intents": "not a list"}, "intents"),
        ("/api/rules/refine", {"feedback": "more"}, "current_rules"),
        ("/api/rules/refine", {"current_rules": {}, "feedback": ""}, "feedback"),
        ("/api/conditions/evaluate", {"condition": "$a > 1"}, "context"),
        ("/api/conditions/evaluate", {"condition": "", "context": {}}, "condition"),
        (
            "/api/rules/generate",
            {"user_intent": "ok", "webhook_url": "http://169.254.169.254/latest/meta-data/"},
            "webhook_url",
        ),
        (
            "/api/rules/generate",
            {"user_intent": "ok", "webhook_url": "ftp://127.0.0.1/x"},
            "webhook_url",
        ),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    app_client: TestClient, path: str, body: dict, field: str
) -> None:
    response = app_client.post(path, json=body)

    assert response.status_code == 422, response.text
    locations = [error["loc"] for error in response.json()["detail"]]
    assert any(field in location for location in locations), locations


def test_bad_query_headers_and_json_are_422_not_500(app_client: TestClient) -> None:
    for wait in ("0", "61", "soon"):
        response = app_client.post("/api/rules/generate", params={"wait": wait}, json=GENERATE)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", "wait"]
    bad_tenant = app_client.post(
        "/api/rules/generate", json=GENERATE, headers={"X-User-ID": "a b/c"}
    )
    assert bad_tenant.status_code == 422
    assert bad_tenant.json()["detail"][0]["loc"] == ["header", "X-User-ID"]
    not_json = app_client.post(
        "/api/rules/generate", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 422
    assert app_client.get("/api/tasks/x/results", params={"limit": 0}).status_code == 422


def test_too_many_intents_and_oversize_bodies_are_refused(
    fleet_settings: Settings, fleet_redis: object
) -> None:
    small = fleet_settings.model_copy(update={"max_body_bytes": 2048, "max_batch_intents": 3})
    gateway = TestClient(create_app(small))

    too_many = gateway.post("/api/rules/generate-batch", json={"intents": ["a", "b", "c", "d"]})
    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["loc"] == ["body", "intents"]

    huge = gateway.post("/api/rules/generate", json={"user_intent": "x" * 3000})
    assert huge.status_code == 413

    def chunks():  # no Content-Length: the limit must hold on the stream too
        for _ in range(10):
            yield b"x" * 1000

    streamed = gateway.post(
        "/api/rules/generate", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413


def test_providers_and_metrics_need_the_token_too(secured: TestClient) -> None:
    assert secured.get("/providers").status_code == 401
    assert secured.get("/metrics").status_code == 401
    bearer = {"Authorization": "Bearer t0ken-for-tests"}
    assert secured.get("/providers", headers=bearer).status_code == 200
    # /metrics names every tenant: the operator's token only (tests/api_gateway/test_auth_scopes).
    assert secured.get("/metrics", headers=bearer).status_code == 403


def test_blank_secrets_from_the_environment_mean_unset() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, gateway_api_token="", webhook_secret="  ", cache_encryption_key=""
    )
    assert settings.gateway_api_token is None
    assert settings.cache_encryption_key is None
    assert settings.webhook_signing_secret  # the dev secret, never an empty HMAC key


def test_idempotency_covers_the_whole_body(app_client: TestClient) -> None:
    headers = {"Idempotency-Key": "batch-7", "X-User-ID": "erin"}
    first = app_client.post("/api/rules/generate-batch", json={"intents": ["one"]}, headers=headers)
    more_intents = app_client.post(
        "/api/rules/generate-batch", json={"intents": ["two", "three"]}, headers=headers
    )
    other_hook = app_client.post(
        "/api/rules/generate-batch",
        json={"intents": ["one"], "webhook_url": "http://127.0.0.1:9/hook"},
        headers=headers,
    )
    again = app_client.post("/api/rules/generate-batch", json={"intents": ["one"]}, headers=headers)

    assert first.status_code == 202
    assert more_intents.status_code == 409
    assert other_hook.status_code == 409
    assert again.status_code == 200
    assert again.json()["total"] == 1


def test_ids_that_are_not_task_ids_are_404_never_500(app_client: TestClient) -> None:
    batch_id = app_client.post("/api/rules/generate-batch", json={"intents": ["x"]}).json()[
        "task_id"
    ]
    for task_id in (f"{batch_id}:intents", f"{batch_id}:items", "not-a-task", "*"):
        assert app_client.get(f"/api/tasks/{task_id}").status_code == 404
        assert app_client.delete(f"/api/tasks/{task_id}").status_code == 404
        assert app_client.get(f"/api/tasks/{task_id}/results").status_code == 404


def test_undecodable_text_and_odd_urls_are_422(app_client: TestClient) -> None:
    surrogate = app_client.post(
        "/api/rules/generate",
        content=b'{"user_intent": "\\ud800"}',
        headers={"content-type": "application/json"},
    )
    assert surrogate.status_code == 422
    assert "input" not in surrogate.json()["detail"][0]
    for url in ("http://localhost:abc/", "http://127.0.0.1/\x00", "http://user:pw@localhost/"):
        response = app_client.post(
            "/api/rules/generate", json={"user_intent": "x", "webhook_url": url}
        )
        assert response.status_code == 422, url
        assert response.json()["detail"][0]["loc"] == ["body", "webhook_url"]


def test_refine_needs_a_rules_document(app_client: TestClient) -> None:
    for current_rules in ({}, {"rules": "x"}, {"workflow_name": "w", "trigger": "t", "rules": []}):
        response = app_client.post(
            "/api/rules/refine", json={"current_rules": current_rules, "feedback": "more"}
        )
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "current_rules"]
        assert "not a workflow rules document" in response.json()["detail"][0]["msg"]


def test_refine_tolerates_metadata_around_the_rules_document(app_client: TestClient) -> None:
    rules = {
        "id": "rules-42",
        "createdAt": "2026-11-01T00:00:00Z",
        "workflow_name": "w",
        "trigger": "ON_WORKFLOW_START",
        "rules": [{"name": "r", "condition": "true", "then": [{"action": "A", "params": {}}]}],
    }
    response = app_client.post("/api/rules/refine", json={"current_rules": rules, "feedback": "x"})
    assert response.status_code == 202


def test_waits_beyond_the_cap_answer_at_once(fleet_settings: Settings, fleet_redis: object) -> None:
    capped = fleet_settings.model_copy(
        update={"max_concurrent_waits": 0, "queue_interactive": "eyeflow.test.parked"}
    )
    with TestClient(create_app(capped)) as gateway:
        response = gateway.post("/api/rules/generate", params={"wait": 60}, json=GENERATE)

    assert response.status_code == 202  # it did not hold the request for 60 s
    assert response.json()["status"] == "queued"
