"""Fallbacks: the next provider serves when the configured one fails, and says so."""

from __future__ import annotations

import json
from typing import ClassVar

import pytest
from pydantic import ValidationError

from eyeflow_worker.core.errors import ProviderAuthError, ProviderRequestError, ProviderUnavailable
from eyeflow_worker.core.llm import LLMRequest, LLMResponse, Usage
from eyeflow_worker.core.llm_config import ProviderConfig
from eyeflow_worker.core.provider_catalogue import (
    describe_providers,
    fallback_configs,
    supported_providers,
)
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.providers import registry
from eyeflow_worker.providers.registry import build_llm
from tests.fakes.llm_servers import FakeLLMServer, anthropic_error, ollama_chat, openai_completion
from tests.providers.conftest import (
    RULES_JSON,
    SECRET,
    WIRES,
    SleepRecorder,
    make_request,
    make_settings,
)

ANTHROPIC = WIRES["anthropic"]


class StubOffline:
    name = "offline"
    built: ClassVar[list[ProviderConfig]] = []

    def __init__(self, config: ProviderConfig, settings: Settings) -> None:
        self.config = config
        StubOffline.built.append(config)

    def complete(self, request: LLMRequest) -> LLMResponse:
        return LLMResponse(RULES_JSON, "offline", self.config.model, Usage(), 0, 0.0)


@pytest.fixture
def stub_offline(monkeypatch: pytest.MonkeyPatch) -> type[StubOffline]:
    StubOffline.built = []
    monkeypatch.setitem(registry.PROVIDERS, "offline", StubOffline)
    return StubOffline


def test_a_refused_key_is_not_served_by_the_fleets_fallbacks(
    server: FakeLLMServer, sleeps: SleepRecorder, stub_offline: type[StubOffline]
) -> None:
    server.default = anthropic_error(401, "authentication_error", "invalid x-api-key")
    settings = make_settings(
        llm_fallback_providers=["openai", "offline"],
        llm_fallback_credentials=json.dumps({"openai": {"api_key": "sk-fleet-own"}}),
    )
    retries: list[float] = []

    llm = build_llm(
        ANTHROPIC.config(server), settings, lambda d, e: retries.append(d), sleep=sleeps
    )
    with pytest.raises(ProviderAuthError):
        llm.complete(make_request())

    assert server.calls == 1  # only the tenant's own provider was asked
    assert retries == []
    assert stub_offline.built == [] or all(c.provider == "offline" for c in stub_offline.built)


def test_a_refused_request_is_not_retried_elsewhere(
    server: FakeLLMServer, sleeps: SleepRecorder, stub_offline: type[StubOffline]
) -> None:
    server.default = anthropic_error(400, "invalid_request_error", "max_tokens: too large")
    settings = make_settings(llm_fallback_providers=["offline"])
    llm = build_llm(ANTHROPIC.config(server), settings, lambda d, e: None, sleep=sleeps)
    with pytest.raises(ProviderRequestError):
        llm.complete(make_request())
    assert server.calls == 1


def test_exhausted_retries_fall_back_after_waiting(
    server: FakeLLMServer, sleeps: SleepRecorder, stub_offline: type[StubOffline]
) -> None:
    server.default = anthropic_error(529, "overloaded_error", "Overloaded")
    settings = make_settings(llm_fallback_providers=["offline"], llm_max_attempts=2)
    retries: list[float] = []

    llm = build_llm(
        ANTHROPIC.config(server), settings, lambda d, e: retries.append(d), sleep=sleeps
    )

    assert llm.complete(make_request()).provider == "offline"
    assert server.calls == 2
    assert retries == sleeps.delays
    assert len(retries) == 1


def test_explicit_fallback_config_is_used(server: FakeLLMServer, sleeps: SleepRecorder) -> None:
    with FakeLLMServer(default=ollama_chat(RULES_JSON, model="qwen3")) as ollama:
        server.default = anthropic_error(529, "overloaded_error", "Overloaded")
        fallback = ProviderConfig(provider="ollama", model="qwen3", api_url=ollama.url)

        llm = build_llm(
            ANTHROPIC.config(server),
            make_settings(llm_max_attempts=1),
            sleep=sleeps,
            fallbacks=[fallback],
        )
        response = llm.complete(make_request())

        assert (response.provider, response.model) == ("ollama", "qwen3")
        assert ollama.calls == 1


def test_when_everything_fails_the_primary_error_is_raised(
    server: FakeLLMServer, sleeps: SleepRecorder
) -> None:
    server.default = anthropic_error(529, "overloaded_error", "Overloaded")
    # Nothing listens on the default llama.cpp port in the test environment... point it at
    # a closed one explicitly to be sure.
    dead = ProviderConfig(provider="llamacpp", model="m", api_url="http://127.0.0.1:9/v1")

    llm = build_llm(
        ANTHROPIC.config(server),
        make_settings(llm_max_attempts=1),
        sleep=sleeps,
        fallbacks=[dead],
    )
    with pytest.raises(ProviderUnavailable) as info:
        llm.complete(make_request())

    assert info.value.details["fallbacks"] == [
        {
            "provider": "llamacpp",
            "code": ProviderUnavailable.code,
            "message": info.value.details["fallbacks"][0]["message"],
        }
    ]
    assert SECRET not in repr(info.value.details)


def test_fallback_list_rules() -> None:
    primary = ProviderConfig(provider="ollama", model="llama3.1", temperature=0.1, maxTokens=99)
    settings = make_settings(
        llm_fallback_providers="ollama, anthropic, nope, llamacpp, offline, llamacpp"
    )

    configs = fallback_configs(primary, settings)

    assert [c.provider for c in configs] == ["llamacpp", "offline"]
    assert all(c.api_key is None and c.api_url is None for c in configs)
    assert all((c.temperature, c.max_tokens) == (0.1, 99) for c in configs)


def test_describe_providers_never_shows_the_key() -> None:
    config = ProviderConfig(
        provider="anthropic", model="claude-sonnet-4-6", api_key=SECRET, api_url=None
    )
    settings = make_settings(llm_fallback_providers="openai,offline")

    described = {p["name"]: p for p in describe_providers(config, settings)}

    assert set(described) == {"anthropic", "openai", "ollama", "llamacpp", "offline"}
    assert described["anthropic"] == {
        "name": "anthropic",
        "active": True,
        "configured": True,
        "fallback_position": None,
        "requires_credentials": True,
        "credentials_present": True,
        "model": "claude-sonnet-4-6",
    }
    assert described["offline"]["configured"] is True
    assert described["offline"]["fallback_position"] == 1
    assert described["openai"]["configured"] is False
    assert described["openai"]["credentials_present"] is False
    assert described["ollama"]["active"] is False
    assert SECRET not in repr(described)


def test_describe_providers_without_a_config() -> None:
    described = describe_providers(None, make_settings())

    assert not any(p["active"] for p in described)
    assert {p["name"] for p in described} == set(supported_providers())


def test_anthropic_then_openai_with_fleet_credentials_then_offline(
    server: FakeLLMServer, sleeps: SleepRecorder, stub_offline: type[StubOffline]
) -> None:
    openai_key = "sk-fleet-fallback-OPENAIKEY42"
    with FakeLLMServer() as openai_server:
        server.default = anthropic_error(529, "overloaded_error", "Overloaded")  # an outage
        openai_server.default = openai_completion(RULES_JSON, model="gpt-4.1-mini")
        credentials = {
            "openai": {
                "api_key": openai_key,
                "api_url": openai_server.url + "/v1",
                "model": "gpt-4.1-mini",
            }
        }
        settings = make_settings(
            llm_fallback_providers="openai,offline",
            llm_fallback_credentials=json.dumps(credentials),
            llm_max_attempts=1,
        )

        response = build_llm(ANTHROPIC.config(server), settings, sleep=sleeps).complete(
            make_request()
        )

        assert (response.provider, response.model) == ("openai", "gpt-4.1-mini")
        (call,) = openai_server.requests
        # The fleet's own OpenAI key went to OpenAI; the tenant's Anthropic key never did.
        assert call.headers["authorization"] == f"Bearer {openai_key}"
        assert SECRET not in json.dumps(call.headers)
        assert openai_key not in repr(fallback_configs(None, settings))


def test_malformed_fleet_credentials_are_refused_loudly() -> None:
    with pytest.raises(ValidationError, match="llm_fallback_credentials"):
        make_settings(llm_fallback_providers="openai", llm_fallback_credentials="{not json")
