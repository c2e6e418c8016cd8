"""OpenAI specifics: strict structured output and its fallback, cached-token usage and cost."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from eyeflow_worker.core.errors import ProviderAuthError, ProviderRateLimited, ProviderRequestError
from eyeflow_worker.core.llm_config import ProviderConfig
from eyeflow_worker.providers.registry import build_llm, build_provider
from tests.fakes.llm_servers import FakeLLMServer, Reply, openai_completion, openai_error
from tests.providers.conftest import (
    RULES_JSON,
    SECRET,
    WIRES,
    SleepRecorder,
    make_request,
    make_settings,
)

WIRE = WIRES["openai"]


def test_sends_strict_json_schema(server: FakeLLMServer) -> None:
    server.default = openai_completion(RULES_JSON)
    build_provider(WIRE.config(server), make_settings()).complete(make_request())

    body = server.requests[0].body
    assert server.requests[0].path == "/v1/chat/completions"
    assert server.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    assert body["messages"][0]["role"] == "system"
    assert body["messages"][1] == {
        "role": "user",
        "content": "Alert the on-call DBA when database memory exceeds 85%.",
    }
    assert body["temperature"] == 0.2
    assert body["max_completion_tokens"] == 1024
    assert "max_tokens" not in body
    response_format = body["response_format"]
    assert response_format["type"] == "json_schema"
    json_schema = response_format["json_schema"]
    assert json_schema["name"] == "workflow_rules"
    assert json_schema["strict"] is True
    schema = json_schema["schema"]
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["workflow_name", "trigger", "description", "rules"]
    assert schema["properties"]["description"]["type"] == ["string", "null"]
    assert schema["properties"]["rules"]["items"]["additionalProperties"] is False


def test_schema_refused_falls_back_to_json_object_and_remembers(
    server: FakeLLMServer, sleeps: SleepRecorder
) -> None:
    server.script(
        openai_error(
            400,
            "Invalid parameter: 'response_format' of type 'json_schema' is not supported "
            "with this model.",
            param="response_format",
        )
    )
    server.default = openai_completion(RULES_JSON)
    llm = build_llm(WIRE.config(server), make_settings(), sleep=sleeps)

    assert llm.complete(make_request()).text == RULES_JSON
    assert [r.body["response_format"] for r in server.requests] == [
        server.requests[0].body["response_format"],
        {"type": "json_object"},
    ]
    assert server.requests[0].body["response_format"]["type"] == "json_schema"
    assert sleeps.delays == []

    llm.complete(make_request())  # the refusal is remembered for this model
    assert server.requests[2].body["response_format"] == {"type": "json_object"}
    assert server.calls == 3


def test_free_form_schema_is_sent_non_strict(server: FakeLLMServer) -> None:
    server.default = openai_completion(RULES_JSON)
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"params": {"type": "object"}},
        "required": ["params"],
    }
    build_provider(WIRE.config(server), make_settings()).complete(make_request(schema))

    json_schema = server.requests[0].body["response_format"]["json_schema"]
    assert json_schema["strict"] is False
    assert json_schema["schema"] == schema


def test_no_schema_asks_for_json_object(server: FakeLLMServer) -> None:
    server.default = openai_completion(RULES_JSON)
    build_provider(WIRE.config(server), make_settings()).complete(make_request(None))

    assert server.requests[0].body["response_format"] == {"type": "json_object"}


def test_temperature_refused_is_dropped(server: FakeLLMServer) -> None:
    server.script(
        openai_error(
            400,
            "Unsupported value: 'temperature' does not support 0.2 with this model. "
            "Only the default (1) value is supported.",
            param="temperature",
            code="unsupported_value",
        )
    )
    server.default = openai_completion(RULES_JSON, model="gpt-5-mini")
    provider = build_provider(WIRE.config(server, model="gpt-5-mini"), make_settings())

    assert provider.complete(make_request()).text == RULES_JSON
    provider.complete(make_request())

    assert [("temperature" in r.body) for r in server.requests] == [True, False, False]


def test_a_temperature_out_of_range_fails_that_call_and_is_not_remembered(
    server: FakeLLMServer, sleeps: SleepRecorder
) -> None:
    server.script(
        openai_error(
            400,
            "Invalid 'temperature': decimal above maximum value. Expected a value <= 1, "
            "but got 1.5 instead.",
            param="temperature",
            code="decimal_above_max_value",
        )
    )
    server.default = openai_completion(RULES_JSON)
    one_tenant = build_llm(WIRE.config(server, temperature=1.5), make_settings(), sleep=sleeps)

    with pytest.raises(ProviderRequestError) as raised:
        one_tenant.complete(make_request())
    assert "temperature=1.5" in raised.value.message
    assert "Expected a value <= 1" in raised.value.message
    assert raised.value.details["field"] == "temperature"
    assert server.calls == 1  # neither retried nor asked again without it
    assert sleeps.delays == []

    other_tenant = build_provider(WIRE.config(server, temperature=0.2), make_settings())
    other_tenant.complete(make_request())
    assert server.requests[1].body["temperature"] == 0.2


@pytest.mark.parametrize("temperature", [-0.1, 2.5, float("nan")])
def test_a_temperature_outside_0_to_2_is_a_config_error(temperature: float) -> None:
    with pytest.raises(ValidationError, match="temperature"):
        ProviderConfig(provider="openai", model="gpt-4.1-mini", temperature=temperature)


def test_cached_tokens_usage_and_cost(server: FakeLLMServer) -> None:
    server.default = openai_completion(
        RULES_JSON, prompt_tokens=200, completion_tokens=50, cached_tokens=150
    )
    response = build_provider(WIRE.config(server), make_settings()).complete(make_request())

    assert response.usage.to_dict() == {
        "input_tokens": 50,
        "output_tokens": 50,
        "cache_read_input_tokens": 150,
        "cache_creation_input_tokens": 0,
    }
    # gpt-4o (dated name): $2.50 in, $10 out, $1.25 cached per MTok.
    assert response.model == "gpt-4o-2024-08-06"
    assert response.cost_usd == pytest.approx((50 * 2.5 + 50 * 10 + 150 * 1.25) / 1e6)


def test_unknown_model_has_no_cost(server: FakeLLMServer) -> None:
    server.default = openai_completion(RULES_JSON, model="gpt-9-turbo")
    config = WIRE.config(server, model="gpt-9-turbo")

    assert build_provider(config, make_settings()).complete(make_request()).cost_usd is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "250"}, 0.25),
        (
            {
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": "1m6s",
                "x-ratelimit-remaining-tokens": "5000",
                "x-ratelimit-reset-tokens": "20ms",
            },
            66.0,
        ),
    ],
    ids=["retry-after-ms", "x-ratelimit-reset"],
)
def test_rate_limit_wait_from_headers(
    server: FakeLLMServer, headers: dict[str, str], expected: float
) -> None:
    server.script(openai_error(429, "Rate limit reached", error_type="requests", headers=headers))

    with pytest.raises(ProviderRateLimited) as info:
        build_provider(WIRE.config(server), make_settings()).complete(make_request())

    assert info.value.retry_after == pytest.approx(expected)


def test_model_refusal_is_a_request_error(server: FakeLLMServer) -> None:
    server.default = Reply(
        200,
        {
            "id": "x",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": None, "refusal": "I can't."},
                }
            ],
        },
    )

    with pytest.raises(ProviderRequestError, match="refused to answer: I can't"):
        build_provider(WIRE.config(server), make_settings()).complete(make_request())


def test_missing_key_fails_without_calling(server: FakeLLMServer) -> None:
    with pytest.raises(ProviderAuthError):
        build_provider(WIRE.config(server, api_key=None), make_settings()).complete(make_request())
    assert server.calls == 0
