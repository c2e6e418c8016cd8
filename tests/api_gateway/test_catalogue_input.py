"""An inline aggregated context no reading can use is a 422 at submission naming the field —
never a job, never a paid call — and the catalogue's schema is published (behind the token).
Nothing here reaches Redis or the broker: every request is refused, or reads no store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api_gateway.main import create_app
from api_gateway.schemas import GenerateRequest
from eyeflow_worker.core.catalogue_model import aggregated_context_schema
from eyeflow_worker.core.settings import Settings
from tests.rules.scripted import rules_doc

REDIS_URL = "redis://127.0.0.1:6379/15"
TOKEN = "t0ken-for-catalogue-tests"


def _settings(**overrides: Any) -> Settings:
    return Settings(_env_file=None, redis_url=REDIS_URL, **overrides)  # type: ignore[call-arg]


@pytest.fixture
def http() -> Iterator[TestClient]:
    with TestClient(create_app(_settings(max_catalogue_bytes=2048))) as client:
        yield client


def _body(path: str, context: Any) -> dict[str, Any]:
    if path == "/api/rules/generate":
        return {"user_intent": "Alert me", "aggregated_context": context}
    if path == "/api/rules/generate-batch":
        return {"intents": ["Alert me"], "aggregated_context": context}
    return {"current_rules": rules_doc(), "feedback": "more", "aggregated_context": context}


SUBMISSIONS = ["/api/rules/generate", "/api/rules/generate-batch", "/api/rules/refine"]


@pytest.mark.parametrize("path", SUBMISSIONS)
@pytest.mark.parametrize(
    ("context", "loc", "message"),
    [
        ({"variables": 42}, ["variables"], "expected a list or an object (variables), got number"),
        ({"actionTypes": "SEND_EMAIL"}, ["actionTypes"], "got string"),
        (
            {"data": {"capabilities": {"triggers": True}}},
            ["data", "capabilities", "triggers"],
            "got boolean",
        ),
        (["not", "an", "object"], [], "valid dictionary"),
        ({"variables": ["x" * 3000]}, [], "over MAX_CATALOGUE_BYTES (2048)"),
    ],
)
def test_unreadable_inline_catalogue_is_a_422_naming_the_field(
    http: TestClient, path: str, context: Any, loc: list[str], message: str
) -> None:
    answer = http.post(path, json=_body(path, context))
    assert answer.status_code == 422, answer.text
    errors = answer.json()["detail"]
    assert len(errors) == 1, errors
    assert errors[0]["loc"] == ["body", "aggregated_context", *loc]
    assert message in errors[0]["msg"]


def test_every_problem_is_reported() -> None:
    with TestClient(create_app(_settings())) as http:
        answer = http.post(
            "/api/rules/generate", json=_body("/api/rules/generate", {"variables": 1, "actions": 2})
        )
    assert answer.status_code == 422
    assert {tuple(e["loc"]) for e in answer.json()["detail"]} == {
        ("body", "aggregated_context", "variables"),
        ("body", "aggregated_context", "actions"),
    }


def test_the_bound_is_each_apps_own() -> None:
    big = {"variables": ["x" * 3000]}
    with TestClient(create_app(_settings(max_catalogue_bytes=2048))) as small_app:
        refused = small_app.post("/api/rules/generate", json=_body("/api/rules/generate", big))
    assert refused.status_code == 422
    assert "MAX_CATALOGUE_BYTES (2048)" in refused.text
    # Under the default bound (1 MiB) the same request body is a readable catalogue.
    assert GenerateRequest.model_validate(_body("/api/rules/generate", big)).aggregated_context


def test_readable_shapes_and_entries_the_reader_skips_are_accepted() -> None:
    """Entries the reader cannot use are reported in the job's catalogue_warnings, not refused."""
    for context in (
        {"availableVariables": [{"path": "$a", "type": "number"}], "actionTypes": ["PING"]},
        {"data": {"capabilities": {"variables": {"metrics": {"cpu": "number"}}}}},
        {"action_types": [42, {"type": "string"}]},
        {},
    ):
        body = GenerateRequest.model_validate(_body("/api/rules/generate", context))
        assert body.aggregated_context == context


def test_schema_route_publishes_the_model_behind_the_token() -> None:
    with TestClient(create_app(_settings(gateway_api_token=SecretStr(TOKEN)))) as http:
        assert http.get("/schemas/aggregated-context").status_code == 401
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        answer = http.get("/schemas/aggregated-context", headers=bearer)
        assert answer.status_code == 200
        assert answer.json() == aggregated_context_schema()
        spec = http.get("/openapi.json").json()
    assert "/schemas/aggregated-context" in spec["paths"]


def test_a_catalogue_nested_too_deep_is_a_422_not_a_crash(http: TestClient) -> None:
    deep: dict[str, Any] = {}
    cursor = deep
    for _ in range(200):
        cursor["x"] = {}
        cursor = cursor["x"]
    answer = http.post(
        "/api/rules/generate", json=_body("/api/rules/generate", {"variables": [], "k": deep})
    )
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["detail"]
    assert error["loc"] == ["body", "aggregated_context"]
    assert "nested deeper than 32 levels" in error["msg"]
