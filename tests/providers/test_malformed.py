"""A 200 answer the fleet cannot read, and headers it cannot parse, become `ProviderUnavailable`
(retried, then served by a fallback) — never a raw `ValueError`/`TypeError` escaping a provider,
and never with the SDK's exception (which holds the raw body) chained onto it."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from eyeflow_worker.core.errors import ProviderUnavailable
from eyeflow_worker.core.llm_config import ProviderConfig
from eyeflow_worker.providers.registry import build_llm, build_provider
from tests.fakes.llm_servers import (
    FakeLLMServer,
    Reply,
    anthropic_message,
    ollama_chat,
    openai_completion,
)
from tests.providers.conftest import (
    RULES_JSON,
    SECRET,
    WIRES,
    SleepRecorder,
    make_request,
    make_settings,
)

FAR_FUTURE_DATE = "Fri, 31 Dec 99999 23:59:59 GMT"


def _with(reply: Reply, change: Any) -> Reply:
    body = copy.deepcopy(reply.body)
    change(body)
    return Reply(reply.status, body, reply.headers)


def _set(path: tuple[Any, ...], value: Any) -> Any:
    def change(body: Any) -> None:
        for part in path[:-1]:
            body = body[part]
        body[path[-1]] = value

    return change


INVALID_JSON = Reply(200, '{"id": "x", "choices": [', content_type="application/json")
HTML_PAGE = Reply(200, "<html><body>502 Bad Gateway</body></html>", content_type="text/html")

MALFORMED: dict[str, tuple[str, Reply]] = {
    "openai-invalid-json": ("openai", INVALID_JSON),
    "openai-html": ("openai", HTML_PAGE),
    "openai-choices-str": ("openai", _with(openai_completion("{}"), _set(("choices",), "x"))),
    "openai-choices-empty": ("openai", _with(openai_completion("{}"), _set(("choices",), []))),
    "openai-content-number": (
        "openai",
        _with(openai_completion("{}"), _set(("choices", 0, "message", "content"), 7)),
    ),
    "llamacpp-invalid-json": ("llamacpp", INVALID_JSON),
    "llamacpp-html": ("llamacpp", HTML_PAGE),
    "anthropic-invalid-json": ("anthropic", INVALID_JSON),
    "anthropic-html": ("anthropic", HTML_PAGE),
    "anthropic-content-null": (
        "anthropic",
        _with(anthropic_message("{}"), _set(("content",), None)),
    ),
    "ollama-invalid-json": ("ollama", INVALID_JSON),
    "ollama-no-message": ("ollama", _with(ollama_chat("{}"), lambda body: body.pop("message"))),
    "ollama-prompt-eval-count-abc": (
        "ollama",
        _with(ollama_chat("{}"), _set(("prompt_eval_count",), "abc")),
    ),
}


def _config(provider: str, server: FakeLLMServer) -> ProviderConfig:
    return WIRES[provider].config(server)


@pytest.mark.parametrize(("provider", "reply"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_answer_is_a_provider_outage(
    provider: str, reply: Reply, server: FakeLLMServer
) -> None:
    server.default = reply
    with pytest.raises(ProviderUnavailable) as caught:
        build_provider(_config(provider, server), make_settings()).complete(make_request())

    error = caught.value
    assert error.message.startswith(f"{provider} returned a malformed response: ")
    assert error.retryable
    assert error.__context__ is None
    assert error.__cause__ is None
    assert SECRET not in error.message
    assert "Bad Gateway" not in error.message  # a reason, not the body


NULL_COUNTS: dict[str, tuple[str, Reply]] = {
    "openai-prompt-tokens-null": (
        "openai",
        _with(openai_completion(RULES_JSON), _set(("usage", "prompt_tokens"), None)),
    ),
    "anthropic-input-tokens-null": (
        "anthropic",
        _with(anthropic_message(RULES_JSON), _set(("usage", "input_tokens"), None)),
    ),
    "anthropic-usage-missing": (
        "anthropic",
        _with(anthropic_message(RULES_JSON), lambda body: body.pop("usage")),
    ),
    "ollama-counts-null": (
        "ollama",
        _with(ollama_chat(RULES_JSON), _set(("prompt_eval_count",), None)),
    ),
}


@pytest.mark.parametrize(("provider", "reply"), NULL_COUNTS.values(), ids=NULL_COUNTS.keys())
def test_a_null_token_count_counts_as_zero(
    provider: str, reply: Reply, server: FakeLLMServer
) -> None:
    server.default = reply
    response = build_provider(_config(provider, server), make_settings()).complete(make_request())

    assert response.text == RULES_JSON
    assert response.usage.input_tokens == 0
    assert response.cost_usd is not None


@pytest.mark.parametrize("provider", ["openai", "anthropic", "ollama"])
def test_a_malformed_answer_is_retried_then_served(
    provider: str, server: FakeLLMServer, sleeps: SleepRecorder
) -> None:
    server.script(INVALID_JSON)
    server.default = WIRES[provider].ok(RULES_JSON)

    response = build_llm(_config(provider, server), make_settings(), sleep=sleeps).complete(
        make_request()
    )

    assert response.text == RULES_JSON
    assert server.calls == 2
    assert len(sleeps.delays) == 1


@pytest.mark.parametrize("provider", ["openai", "llamacpp", "anthropic", "ollama"])
def test_an_unrepresentable_retry_after_date_is_ignored(
    provider: str, server: FakeLLMServer
) -> None:
    server.default = WIRES[provider].error(500, "boom", {"retry-after": FAR_FUTURE_DATE})
    with pytest.raises(ProviderUnavailable) as caught:
        build_provider(_config(provider, server), make_settings()).complete(make_request())

    assert f"{provider} is unavailable (500)" in caught.value.message
    assert caught.value.retry_after is None
    assert caught.value.__context__ is None
