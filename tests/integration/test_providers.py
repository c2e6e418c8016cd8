"""Jobs reach the tenant's own provider with the tenant's own (decrypted) key; retries are
visible as `retrying`; a refused key fails at once without leaking."""

from __future__ import annotations

import json
import time

from tests.fakes.llm_servers import anthropic_error
from tests.integration.conftest import (
    ANTHROPIC_CACHE_READ,
    ANTHROPIC_CACHE_WRITE,
    ANTHROPIC_KEY,
    ANTHROPIC_MODEL,
    OPENAI_CACHED,
    OPENAI_KEY,
    OPENAI_MODEL,
    VALID_RULES,
    Stack,
    anthropic_default,
)


def _intent(tag: str) -> str:
    return f"Escalate to the DBA on-call when database memory exceeds 85% ({tag})"


def _requests_for(server_requests: list, intent: str) -> list:
    """The recorded requests whose body carries `intent` (one job's calls)."""
    return [r for r in server_requests if intent in json.dumps(r.body)]


def _sent_key(headers: dict[str, str]) -> str | None:
    """The API key a request carried: `x-api-key` (Anthropic SDK 0.x/1.x) or a bearer token
    (Anthropic SDK 2.x, OpenAI)."""
    if "x-api-key" in headers:
        return headers["x-api-key"]
    auth = headers.get("authorization", "")
    return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None


def test_acme_generates_through_anthropic_with_its_decrypted_key(stack: Stack) -> None:
    intent = _intent("acme-basic")
    before = stack.anthropic.calls

    task = stack.generate("acme", intent)

    assert task["status"] == "succeeded", task["error"]
    result = task["result"]
    assert result["provider"] == "anthropic"
    assert result["model_used"] == ANTHROPIC_MODEL
    assert result["workflow_rules"] == VALID_RULES
    assert result["usage"]["cache_read_input_tokens"] == ANTHROPIC_CACHE_READ
    assert result["usage"]["cache_creation_input_tokens"] == ANTHROPIC_CACHE_WRITE
    assert result["usage"]["input_tokens"] == 300
    assert result["usage"]["output_tokens"] == 90
    assert isinstance(result["cost_usd"], float)
    assert result["cost_usd"] > 0
    assert isinstance(result["tokens_used"], int)
    assert result["tokens_used"] > 0

    calls = _requests_for(stack.anthropic.requests[before:], intent)
    assert len(calls) == 1
    call = calls[0]
    assert call.path == "/v1/messages"
    assert _sent_key(call.headers) == ANTHROPIC_KEY
    assert call.body["model"] == ANTHROPIC_MODEL
    assert call.body["max_tokens"] == 2048  # the tenant's maxTokens from NestJS
    system = call.body["system"]
    assert isinstance(system, list)
    assert system
    assert system[0]["cache_control"] == {"type": "ephemeral"}


def test_globex_generates_through_openai_with_its_decrypted_key(stack: Stack) -> None:
    intent = _intent("globex-basic")
    before = stack.openai.calls

    task = stack.generate("globex", intent)

    assert task["status"] == "succeeded", task["error"]
    result = task["result"]
    assert result["provider"] == "openai"
    assert result["model_used"].startswith(OPENAI_MODEL)
    assert result["workflow_rules"] == VALID_RULES
    assert result["usage"]["cache_read_input_tokens"] == OPENAI_CACHED
    assert result["usage"]["input_tokens"] == 400 - OPENAI_CACHED
    assert result["usage"]["output_tokens"] == 80
    assert isinstance(result["cost_usd"], float)
    assert result["cost_usd"] > 0

    calls = _requests_for(stack.openai.requests[before:], intent)
    assert len(calls) == 1
    call = calls[0]
    assert call.path == "/v1/chat/completions"
    assert _sent_key(call.headers) == OPENAI_KEY
    assert call.body["model"] == OPENAI_MODEL
    assert call.body["response_format"]["type"] == "json_schema"


def test_tenants_never_see_each_others_configuration(stack: Stack) -> None:
    acme_intent, globex_intent = _intent("iso-acme"), _intent("iso-globex")
    a0, o0 = stack.anthropic.calls, stack.openai.calls

    acme_id = stack.submit("acme", acme_intent)
    globex_id = stack.submit("globex", globex_intent)
    acme, globex = stack.wait("acme", acme_id), stack.wait("globex", globex_id)

    assert acme["status"] == "succeeded"
    assert acme["result"]["provider"] == "anthropic"
    assert globex["status"] == "succeeded"
    assert globex["result"]["provider"] == "openai"
    anthropic_new, openai_new = stack.anthropic.requests[a0:], stack.openai.requests[o0:]
    assert len(_requests_for(anthropic_new, acme_intent)) == 1
    assert len(_requests_for(openai_new, globex_intent)) == 1
    assert _requests_for(anthropic_new, globex_intent) == []
    assert _requests_for(openai_new, acme_intent) == []
    assert {_sent_key(r.headers) for r in anthropic_new} == {ANTHROPIC_KEY}
    assert {_sent_key(r.headers) for r in openai_new} == {OPENAI_KEY}
    # A task is readable only by its own tenant.
    assert stack.request("GET", f"/api/tasks/{acme_id}", "globex").status_code == 404
    assert stack.request("GET", f"/api/tasks/{globex_id}", "acme").status_code == 404
    # Each tenant's cache status names its own provider.
    acme_status = stack.request("GET", "/cache/status", "acme").json()
    globex_status = stack.request("GET", "/cache/status", "globex").json()
    assert acme_status["config"]["provider"] == "anthropic"
    assert globex_status["config"]["provider"] == "openai"


def test_a_rate_limited_call_shows_retrying_then_succeeds(stack: Stack) -> None:
    intent = _intent("retry-429")
    before = stack.anthropic.calls
    stack.anthropic.script(
        anthropic_error(
            429,
            "rate_limit_error",
            f"Rate limit reached for key {ANTHROPIC_KEY}",  # a server echoing the key
            {"retry-after": "2"},
        ),
        anthropic_default(),
    )

    task_id = stack.submit("acme", intent)
    seen: list[str] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = stack.task("acme", task_id)["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in ("retrying", "succeeded", "failed"):
            break
        time.sleep(0.05)
    assert "retrying" in seen, f"never observed retrying; statuses seen: {seen}"

    task = stack.wait("acme", task_id)

    assert task["status"] == "succeeded", task["error"]
    assert task["attempts"] == 1  # one run of the job; the retry happened inside it
    assert task["result"]["provider"] == "anthropic"
    assert task["result"]["attempts"] == 1  # one valid answer, no repair turn
    assert task["result"]["workflow_rules"] == VALID_RULES
    assert len(_requests_for(stack.anthropic.requests[before:], intent)) == 2
    assert ANTHROPIC_KEY not in json.dumps(task)


def test_a_refused_key_fails_at_once_without_leaking_it(stack: Stack) -> None:
    intent = _intent("auth-401")
    before = stack.anthropic.calls
    stack.anthropic.script(
        anthropic_error(401, "authentication_error", f"invalid x-api-key {ANTHROPIC_KEY}")
    )

    task_id = stack.submit("acme", intent)
    task = stack.wait("acme", task_id)

    assert task["status"] == "failed"
    error = task["error"]
    assert error["code"] == "provider_auth_failed"
    assert "key was refused" in error["message"]
    assert len(_requests_for(stack.anthropic.requests[before:], intent)) == 1
    raw = stack.request("GET", f"/api/tasks/{task_id}", "acme").text
    assert ANTHROPIC_KEY not in raw
    assert "SECRET-0001" not in raw
