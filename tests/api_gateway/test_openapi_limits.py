"""The OpenAPI document states the limits the gateway enforces — the fixed ones from the request
models, the operator's from the app's own settings — and a request within them is not refused
for a rule the document does not state."""

from __future__ import annotations

from typing import Any

import pytest

from eyeflow_worker.core.settings import Settings
from tests.api_gateway.submit_helpers import Gateway, gateway
from tests.rules.scripted import rules_doc

VALID: dict[str, dict[str, Any]] = {
    "/api/rules/generate": {"user_intent": "Alert me"},
    "/api/rules/generate-batch": {"intents": ["Alert me"]},
    "/api/rules/refine": {"current_rules": rules_doc(), "feedback": "more"},
    "/api/conditions/evaluate": {"condition": "$a > 1", "context": {"a": 2}},
}
OPERATOR = {
    "max_batch_intents": 7,
    "max_json_elements": 1234,
    "max_json_depth": 9,
    "max_catalogue_bytes": 4321,
    "max_body_bytes": 99_999,
    "tenant_submit_rate_per_minute": 30,
    "tenant_submit_burst": 5,
}


def _spec(gw: Gateway) -> dict[str, Any]:
    answer = gw.http.get("/openapi.json")
    assert answer.status_code == 200
    spec: dict[str, Any] = answer.json()
    return spec


def _body_model(spec: dict[str, Any], path: str) -> dict[str, Any]:
    ref = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    model: dict[str, Any] = spec["components"]["schemas"][ref["$ref"].rsplit("/", 1)[-1]]
    return model


def test_the_document_states_the_apps_own_settings() -> None:
    with gateway(**OPERATOR) as gw:
        spec = _spec(gw)
    for path in VALID:
        model = _body_model(spec, path)
        assert model["x-max-json-elements"] == 1234
        assert model["x-max-json-depth"] == 9
        if "aggregated_context" in model["properties"]:
            assert model["properties"]["aggregated_context"]["x-max-bytes"] == 4321
        responses = spec["paths"][path]["post"]["responses"]
        assert "99999 bytes" in responses["413"]["description"]
        assert "30 per minute, 5 at once" in responses["429"]["description"]
        assert "Retry-After" in responses["429"]["headers"]
        assert "422" in responses
    batch = _body_model(spec, "/api/rules/generate-batch")
    assert batch["properties"]["intents"]["maxItems"] == 7


def test_the_default_document_matches_the_default_settings() -> None:
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    with gateway() as gw:
        spec = _spec(gw)
    intents = _body_model(spec, "/api/rules/generate-batch")["properties"]["intents"]
    assert intents["maxItems"] == defaults.max_batch_intents == 5000
    assert intents["items"]["maxLength"] == 4000
    assert _body_model(spec, "/api/rules/generate")["x-max-json-depth"] == defaults.max_json_depth


def test_without_a_rate_limit_no_429_is_promised() -> None:
    with gateway(tenant_submit_rate_per_minute=0) as gw:
        spec = _spec(gw)
    for path in VALID:
        assert "429" not in spec["paths"][path]["post"]["responses"]


def _string_limits(model: dict[str, Any]) -> list[tuple[str, int, bool]]:
    """(property, maxLength, inside a list) for every length-limited string property."""
    found = []
    for name, schema in model["properties"].items():
        for option in [schema, *schema.get("anyOf", [])]:
            if option.get("type") == "string" and "maxLength" in option:
                found.append((name, option["maxLength"], False))
            items = option.get("items", {})
            if option.get("type") == "array" and "maxLength" in items:
                found.append((name, items["maxLength"], True))
    return found


@pytest.mark.parametrize("path", list(VALID))
def test_each_stated_string_length_is_the_one_enforced(path: str) -> None:
    with gateway() as gw:
        model = _body_model(_spec(gw), path)
        limits = _string_limits(model)
        assert limits, path
        for name, limit, listed in limits:

            def body(length: int, name: str = name, listed: bool = listed) -> dict[str, Any]:
                text = "x" * length
                return VALID[path] | {name: [text] if listed else text}

            # Other rules may refuse the filler text (a webhook URL must be one): only the
            # length error is looked for.
            too_long = ("string_too_long", ["body", name, 0] if listed else ["body", name])
            within = gw.post(path, body(limit))
            assert within.status_code == 202 or too_long not in _errors(within), within.text
            over = gw.post(path, body(limit + 1))
            assert over.status_code == 422
            assert too_long in _errors(over), (name, over.text)


def _errors(answer: Any) -> list[tuple[str, list[Any]]]:
    return [(error["type"], error["loc"]) for error in answer.json().get("detail", [])]


def _locations(answer: Any) -> list[list[Any]]:
    return [error["loc"] for error in answer.json().get("detail", [])]


def test_the_stated_number_of_intents_is_the_one_enforced() -> None:
    with gateway(max_batch_intents=3) as gw:
        limit = _body_model(_spec(gw), "/api/rules/generate-batch")["properties"]["intents"]
        assert limit["maxItems"] == 3
        assert gw.post("/api/rules/generate-batch", {"intents": ["a", "b", "c"]}).status_code == 202
        over = gw.post("/api/rules/generate-batch", {"intents": ["a", "b", "c", "d"]})
        assert over.status_code == 422
        assert _locations(over) == [["body", "intents"]]
        assert "MAX_BATCH_INTENTS" in over.json()["detail"][0]["msg"]


def test_the_stated_depth_is_the_one_enforced() -> None:
    with gateway(max_json_depth=3) as gw:
        depth = _body_model(_spec(gw), "/api/conditions/evaluate")["x-max-json-depth"]
        nested: Any = 1
        for _ in range(depth):
            nested = [nested]  # the context is level 0, so `depth` lists put 1 at level depth+1
        body = {"condition": "$a", "context": {"a": nested[0]}}
        assert gw.post("/api/conditions/evaluate", body).status_code == 202
        body = {"condition": "$a", "context": {"a": nested}}
        assert gw.post("/api/conditions/evaluate", body).status_code == 422
