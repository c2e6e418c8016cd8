"""Shared pieces for the provider tests: settings, requests, fake servers, and one `Wire` per
provider describing how to point it at a fake and what its answers look like on the wire."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import SecretStr

from eyeflow_worker.core.llm import LLMRequest, Message
from eyeflow_worker.core.llm_config import ProviderConfig
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.providers import openai_compat
from eyeflow_worker.providers.clients import clear_clients
from tests.fakes.llm_servers import (
    FakeLLMServer,
    Reply,
    anthropic_error,
    anthropic_message,
    ollama_chat,
    openai_completion,
    openai_error,
)

SECRET = "sk-ant-test-SECRETKEY123"

RULES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "workflow_name": {"type": "string"},
        "trigger": {"type": "string", "enum": ["ON_WORKFLOW_START", "ON_EVENT"]},
        "description": {"type": "string"},
        "rules": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "condition": {"type": "string"},
                    "then": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["name", "condition", "then"],
            },
        },
    },
    "required": ["workflow_name", "trigger", "rules"],
}

RULES_JSON = '{"workflow_name": "db-memory", "trigger": "ON_WORKFLOW_START", "rules": []}'


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "llm_max_attempts": 3,
        "llm_retry_base_delay_seconds": 0.01,
        "llm_retry_max_delay_seconds": 0.05,
        "llm_retry_max_total_seconds": 30.0,
        "llm_fallback_providers": [],
        "llm_price_overrides": None,
        # The fake servers listen on loopback: listed by name, as an operator lists a local one.
        "llm_allowed_api_hosts": ["127.0.0.1"],
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def make_request(schema: dict[str, Any] | None = RULES_SCHEMA) -> LLMRequest:
    return LLMRequest(
        purpose="generate",
        system="You turn monitoring intents into Eyeflow workflow rules. Answer with JSON only.",
        messages=(Message("user", "Alert the on-call DBA when database memory exceeds 85%."),),
        json_schema=schema,
    )


class SleepRecorder:
    """Stands in for `time.sleep`: records the waits instead of sleeping."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@dataclass(frozen=True)
class Wire:
    """How one provider is reached and what its server says."""

    provider: str
    model: str
    path: str
    base_path: str  # appended to the fake's URL to form `api_url`
    needs_key: bool
    ok: Callable[[str], Reply]
    error: Callable[[int, str, dict[str, str]], Reply]

    def config(self, server: FakeLLMServer, **overrides: Any) -> ProviderConfig:
        values: dict[str, Any] = {
            "provider": self.provider,
            "model": self.model,
            "api_key": SecretStr(SECRET),
            "api_url": server.url + self.base_path,
            "request_timeout_seconds": 5.0,
            "temperature": 0.2,
            "max_tokens": 1024,
        }
        values.update(overrides)
        return ProviderConfig(**values)


WIRES = {
    "anthropic": Wire(
        provider="anthropic",
        model="claude-sonnet-4-6",
        path="/v1/messages",
        base_path="",
        needs_key=True,
        ok=lambda text: anthropic_message(text),
        error=lambda status, message, headers: anthropic_error(
            status,
            {429: "rate_limit_error", 401: "authentication_error", 500: "api_error"}.get(
                status, "invalid_request_error"
            ),
            message,
            headers,
        ),
    ),
    "openai": Wire(
        provider="openai",
        model="gpt-4o-2024-08-06",
        path="/v1/chat/completions",
        base_path="/v1",
        needs_key=True,
        ok=lambda text: openai_completion(text),
        error=lambda status, message, headers: openai_error(status, message, headers=headers),
    ),
    "llamacpp": Wire(
        provider="llamacpp",
        model="qwen2.5-7b-instruct",
        path="/v1/chat/completions",
        base_path="/v1",
        needs_key=False,
        ok=lambda text: openai_completion(text, model="qwen2.5-7b-instruct"),
        error=lambda status, message, headers: openai_error(status, message, headers=headers),
    ),
    "ollama": Wire(
        provider="ollama",
        model="llama3.1",
        path="/api/chat",
        base_path="",
        needs_key=False,
        ok=lambda text: ollama_chat(text),
        error=lambda status, message, headers: Reply(status, {"error": message}, headers),
    ),
}


@pytest.fixture(autouse=True)
def _fresh_provider_state() -> Iterator[None]:
    openai_compat._refused.clear()
    yield
    openai_compat._refused.clear()


@pytest.fixture(scope="session")
def _session_server() -> Iterator[FakeLLMServer]:
    # One server for the whole run: its URL stays the same, so the provider clients cached per
    # URL are reused from test to test, as in a worker (building one costs ~0.2 s of TLS setup).
    with FakeLLMServer() as fake:
        yield fake
    clear_clients()


@pytest.fixture
def server(_session_server: FakeLLMServer) -> FakeLLMServer:
    _session_server.reset()
    return _session_server


@pytest.fixture(params=sorted(WIRES))
def wire(request: pytest.FixtureRequest) -> Wire:
    return WIRES[request.param]


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()
