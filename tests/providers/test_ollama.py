"""Ollama specifics: the `/api/chat` body, token counts, its error shapes."""

from __future__ import annotations

import email.utils
import time

import pytest

from eyeflow_worker.core.errors import ProviderRequestError, ProviderUnavailable
from eyeflow_worker.providers.registry import build_provider
from tests.fakes.llm_servers import FakeLLMServer, Reply, ollama_chat, ollama_error
from tests.providers.conftest import RULES_JSON, RULES_SCHEMA, WIRES, make_request, make_settings

WIRE = WIRES["ollama"]


def test_sends_schema_format_without_streaming(server: FakeLLMServer) -> None:
    server.default = ollama_chat(RULES_JSON, prompt_eval_count=321, eval_count=45)
    config = WIRE.config(server, api_key=None)

    response = build_provider(config, make_settings()).complete(make_request())

    sent = server.requests[0]
    assert sent.path == "/api/chat"
    assert sent.body["model"] == "llama3.1"
    assert sent.body["stream"] is False
    assert sent.body["format"] == RULES_SCHEMA
    assert sent.body["options"] == {"temperature": 0.2, "num_predict": 1024}
    assert [m["role"] for m in sent.body["messages"]] == ["system", "user"]
    assert "authorization" not in sent.headers
    assert (response.usage.input_tokens, response.usage.output_tokens) == (321, 45)
    assert response.cost_usd == 0.0


def test_without_schema_asks_for_json(server: FakeLLMServer) -> None:
    server.default = ollama_chat(RULES_JSON)
    build_provider(WIRE.config(server), make_settings()).complete(make_request(None))

    assert server.requests[0].body["format"] == "json"


def test_unknown_model_is_a_request_error_with_ollamas_message(server: FakeLLMServer) -> None:
    server.default = ollama_error(404, "model 'llama9' not found, try pulling it first")

    with pytest.raises(ProviderRequestError, match="model 'llama9' not found"):
        build_provider(WIRE.config(server), make_settings()).complete(make_request())


def test_retry_after_as_http_date(server: FakeLLMServer) -> None:
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    server.script(Reply(503, {"error": "server busy"}, {"retry-after": when}))

    with pytest.raises(ProviderUnavailable) as info:
        build_provider(WIRE.config(server), make_settings()).complete(make_request())

    assert info.value.retry_after == pytest.approx(20, abs=2)
