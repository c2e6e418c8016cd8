"""llama.cpp specifics: the schema as llama-server takes it, and the older servers' fallbacks."""

from __future__ import annotations

from eyeflow_worker.providers.registry import build_provider
from tests.fakes.llm_servers import FakeLLMServer, openai_completion, openai_error
from tests.providers.conftest import RULES_JSON, RULES_SCHEMA, WIRES, make_request, make_settings

WIRE = WIRES["llamacpp"]


def test_sends_the_schema_unchanged_without_a_key(server: FakeLLMServer) -> None:
    server.default = WIRE.ok(RULES_JSON)
    config = WIRE.config(server, api_key=None)

    response = build_provider(config, make_settings()).complete(make_request())

    sent = server.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "workflow_rules", "schema": RULES_SCHEMA},
    }
    assert sent.body["max_tokens"] == 1024
    assert sent.body["temperature"] == 0.2
    assert sent.headers["authorization"] == "Bearer no-key-required"
    assert response.provider == "llamacpp"
    assert response.cost_usd == 0.0


def test_older_servers_get_json_object_with_schema(server: FakeLLMServer) -> None:
    server.script(
        openai_error(
            500,
            'response_format type must be one of "text" or "json_object", but got: json_schema',
            error_type="server_error",
        )
    )
    server.default = openai_completion(RULES_JSON, model=WIRE.model)
    provider = build_provider(WIRE.config(server), make_settings())

    assert provider.complete(make_request()).text == RULES_JSON
    provider.complete(make_request())

    formats = [r.body["response_format"] for r in server.requests]
    assert formats[0]["type"] == "json_schema"
    assert formats[1] == {"type": "json_object", "schema": RULES_SCHEMA}
    assert formats[2] == formats[1]
