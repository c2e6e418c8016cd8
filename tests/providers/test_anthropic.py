"""Anthropic specifics: the request the SDK sends, prompt-cache usage and cost, overload."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from eyeflow_worker.core.errors import ProviderAuthError, ProviderRateLimited, ProviderUnavailable
from eyeflow_worker.core.llm import LLMRequest, Message
from eyeflow_worker.providers.registry import build_llm, build_provider
from tests.fakes.llm_servers import FakeLLMServer, anthropic_error, anthropic_message
from tests.providers.conftest import (
    RULES_JSON,
    SECRET,
    WIRES,
    SleepRecorder,
    make_request,
    make_settings,
)

WIRE = WIRES["anthropic"]


def test_system_prefix_is_one_cacheable_block(server: FakeLLMServer) -> None:
    server.default = anthropic_message(RULES_JSON)
    request = LLMRequest(
        purpose="refine",
        system="Long stable instructions and capability catalogue.",
        messages=(
            Message("user", "Alert when memory > 85%"),
            Message("assistant", "{not json"),
            Message("user", "That was not valid JSON; answer again."),
        ),
    )
    build_provider(WIRE.config(server), make_settings()).complete(request)

    sent = server.requests[0]
    assert sent.path == "/v1/messages"
    assert sent.body["system"] == [
        {
            "type": "text",
            "text": "Long stable instructions and capability catalogue.",
            "cache_control": {"type": "ephemeral"},
        }
    ]
    assert sent.body["messages"] == [
        {"role": "user", "content": "Alert when memory > 85%"},
        {"role": "assistant", "content": "{not json"},
        {"role": "user", "content": "That was not valid JSON; answer again."},
    ]
    assert sent.body["model"] == WIRE.model
    assert sent.body["max_tokens"] == 1024
    # API version 2026-10-21 answers 400 to any sampling parameter.
    assert "temperature" not in sent.body
    assert sent.headers["anthropic-version"]
    assert sent.headers["authorization"] == f"Bearer {SECRET}"
    assert sent.headers["x-stainless-retry-count"] == "0"


def test_cache_usage_and_cost(server: FakeLLMServer) -> None:
    server.default = anthropic_message(
        RULES_JSON, input_tokens=120, output_tokens=40, cache_read=1000, cache_write=500
    )
    response = build_provider(WIRE.config(server), make_settings()).complete(make_request())

    assert response.usage.to_dict() == {
        "input_tokens": 120,
        "output_tokens": 40,
        "cache_read_input_tokens": 1000,
        "cache_creation_input_tokens": 500,
    }
    # claude-sonnet-4-6: $3 in, $15 out, $0.30 cache read, $3.75 cache write per MTok.
    assert response.cost_usd == pytest.approx((120 * 3 + 40 * 15 + 1000 * 0.3 + 500 * 3.75) / 1e6)


def test_unknown_model_has_no_cost(server: FakeLLMServer) -> None:
    server.default = anthropic_message(RULES_JSON, model="claude-experimental-9")
    config = WIRE.config(server, model="claude-experimental-9")

    response = build_provider(config, make_settings()).complete(make_request())

    assert response.model == "claude-experimental-9"
    assert response.cost_usd is None


def test_price_overrides_apply(server: FakeLLMServer) -> None:
    server.default = anthropic_message(RULES_JSON, model="claude-experimental-9")
    settings = make_settings(
        llm_price_overrides='{"claude-experimental-9": {"input": 1000000, "output": 0}}'
    )
    config = WIRE.config(server, model="claude-experimental-9")

    assert build_provider(config, settings).complete(make_request()).cost_usd == 120.0


def test_overloaded_529_is_unavailable_then_retried(
    server: FakeLLMServer, sleeps: SleepRecorder
) -> None:
    server.script(anthropic_error(529, "overloaded_error", "Overloaded"))
    with pytest.raises(ProviderUnavailable) as info:
        build_provider(WIRE.config(server), make_settings()).complete(make_request())
    assert "Overloaded" in info.value.message
    assert info.value.details == {"provider": "anthropic", "status": 529}

    server.script(anthropic_error(529, "overloaded_error", "Overloaded"))
    server.default = anthropic_message(RULES_JSON)
    llm = build_llm(WIRE.config(server), make_settings(), sleep=sleeps)
    assert llm.complete(make_request()).text == RULES_JSON
    assert len(sleeps.delays) == 1


def test_rate_limit_reset_headers_when_no_retry_after(server: FakeLLMServer) -> None:
    reset = (datetime.now(UTC) + timedelta(seconds=30)).isoformat().replace("+00:00", "Z")
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat().replace("+00:00", "Z")
    server.script(
        anthropic_error(
            429,
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit",
            {
                "anthropic-ratelimit-tokens-remaining": "0",
                "anthropic-ratelimit-tokens-reset": reset,
                "anthropic-ratelimit-requests-remaining": "40",
                "anthropic-ratelimit-requests-reset": soon,
            },
        )
    )
    with pytest.raises(ProviderRateLimited) as info:
        build_provider(WIRE.config(server), make_settings()).complete(make_request())

    assert info.value.retry_after == pytest.approx(30, abs=2)


def test_missing_key_fails_without_calling(server: FakeLLMServer) -> None:
    config = WIRE.config(server, api_key=None)

    with pytest.raises(ProviderAuthError) as info:
        build_provider(config, make_settings()).complete(make_request())

    assert "No LLM API key is configured for anthropic" in info.value.message
    assert server.calls == 0
