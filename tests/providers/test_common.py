"""Behaviour every provider shares, run against each provider's real client and a loopback fake
speaking its wire format: success, pass-through of prose, retries, timeouts, refused keys."""

from __future__ import annotations

import logging
import socket
import time

import pytest

from eyeflow_worker.core.errors import (
    ProviderAuthError,
    ProviderRateLimited,
    ProviderRequestError,
    ProviderTimeout,
    ProviderUnavailable,
)
from eyeflow_worker.providers.registry import build_llm, build_provider
from tests.fakes.llm_servers import FakeLLMServer, Reply
from tests.providers.conftest import (
    RULES_JSON,
    SECRET,
    SleepRecorder,
    Wire,
    make_request,
    make_settings,
)

_SDK_LOGGERS = (
    "anthropic",
    "openai",
    "httpx",
    "httpx2",
    "httpcore",
    "httpcore2",
    "eyeflow_worker",
)


def test_success_reports_text_usage_latency_and_cost(wire: Wire, server: FakeLLMServer) -> None:
    server.default = wire.ok(RULES_JSON)
    provider = build_provider(wire.config(server), make_settings())

    response = provider.complete(make_request())

    assert response.text == RULES_JSON
    assert (response.provider, response.model) == (wire.provider, wire.model)
    assert response.usage.input_tokens > 0
    assert response.usage.output_tokens > 0
    assert response.latency_ms >= 0
    if wire.provider in ("ollama", "llamacpp"):
        assert response.cost_usd == 0.0
    else:
        assert response.cost_usd is not None
        assert response.cost_usd > 0
    assert [r.path for r in server.requests] == [wire.path]


@pytest.mark.parametrize(
    "text",
    [
        f"Here are your rules:\n```json\n{RULES_JSON}\n```\nLet me know if you need changes.",
        f"Sure! {RULES_JSON} -- generated for you.",
    ],
    ids=["code-fence", "prose"],
)
def test_text_around_the_json_comes_through_unchanged(
    wire: Wire, server: FakeLLMServer, text: str
) -> None:
    server.default = wire.ok(text)
    provider = build_provider(wire.config(server), make_settings())

    assert provider.complete(make_request()).text == text


def test_a_zero_or_past_retry_after_still_backs_off(
    wire: Wire, server: FakeLLMServer, sleeps: SleepRecorder
) -> None:
    past = "Thu, 01 Jan 2015 00:00:00 GMT"
    server.script(
        wire.error(503, "busy", {"retry-after": "0"}),
        wire.error(503, "busy", {"retry-after": past}),
    )
    server.default = wire.ok(RULES_JSON)
    settings = make_settings(llm_retry_base_delay_seconds=0.5, llm_retry_max_delay_seconds=4.0)

    assert build_llm(wire.config(server), settings, sleep=sleeps).complete(make_request()).text
    assert sleeps.delays == [0.5, 0.5]


def test_rate_limit_waits_what_retry_after_says(
    wire: Wire, server: FakeLLMServer, sleeps: SleepRecorder
) -> None:
    server.script(wire.error(429, "Too many requests, slow down", {"retry-after": "2"}))
    server.default = wire.ok(RULES_JSON)
    notified: list[tuple[float, str]] = []
    llm = build_llm(
        wire.config(server),
        make_settings(),
        on_retry=lambda delay, error: notified.append((delay, type(error).__name__)),
        sleep=sleeps,
    )

    response = llm.complete(make_request())

    assert response.text == RULES_JSON
    assert server.calls == 2
    assert sleeps.delays == [2.0]
    assert notified == [(2.0, ProviderRateLimited.__name__)]


def test_rate_limit_beyond_the_budget_is_not_waited_for(
    wire: Wire, server: FakeLLMServer, sleeps: SleepRecorder
) -> None:
    server.default = wire.error(429, "Daily quota exhausted", {"retry-after": "3600"})
    llm = build_llm(
        wire.config(server), make_settings(llm_retry_max_total_seconds=60), sleep=sleeps
    )

    with pytest.raises(ProviderRateLimited) as info:
        llm.complete(make_request())

    assert info.value.retry_after == 3600.0
    assert server.calls == 1
    assert sleeps.delays == []


def test_server_error_then_success(
    wire: Wire, server: FakeLLMServer, sleeps: SleepRecorder
) -> None:
    server.script(wire.error(500, "Internal error", {}))
    server.default = wire.ok(RULES_JSON)
    llm = build_llm(wire.config(server), make_settings(), sleep=sleeps)

    assert llm.complete(make_request()).text == RULES_JSON
    assert server.calls == 2
    assert len(sleeps.delays) == 1
    assert 0.0 <= sleeps.delays[0] <= 0.01  # full jitter under the first backoff step


def test_server_errors_stop_after_max_attempts(
    wire: Wire, server: FakeLLMServer, sleeps: SleepRecorder
) -> None:
    server.default = wire.error(503, "Service unavailable", {})
    llm = build_llm(wire.config(server), make_settings(llm_max_attempts=3), sleep=sleeps)

    with pytest.raises(ProviderUnavailable):
        llm.complete(make_request())

    assert server.calls == 3
    assert len(sleeps.delays) == 2


def test_hanging_server_times_out(wire: Wire, server: FakeLLMServer) -> None:
    server.default = Reply(hang_seconds=2)
    provider = build_provider(wire.config(server, request_timeout_seconds=0.3), make_settings())

    started = time.monotonic()
    with pytest.raises(ProviderTimeout) as info:
        provider.complete(make_request())

    assert 0.25 <= time.monotonic() - started < 2.0
    assert info.value.retryable
    assert "0.3 s" in info.value.message


def test_unreachable_server_is_unavailable(wire: Wire) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with FakeLLMServer() as server:
        config = wire.config(server).model_copy(
            update={"api_url": f"http://127.0.0.1:{port}{wire.base_path}"}
        )
    provider = build_provider(config, make_settings())

    with pytest.raises(ProviderUnavailable) as info:
        provider.complete(make_request())

    assert not isinstance(info.value, ProviderTimeout)
    assert SECRET not in str(info.value)


def test_refused_key_fails_once_clearly_and_never_leaks(
    wire: Wire, server: FakeLLMServer, sleeps: SleepRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    for name in _SDK_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    server.default = wire.error(401, f"Incorrect API key provided: {SECRET}", {})
    config = wire.config(server)
    llm = build_llm(config, make_settings(), sleep=sleeps)

    with pytest.raises(ProviderAuthError) as info:
        llm.complete(make_request())

    error = info.value
    assert server.calls == 1
    assert sleeps.delays == []
    assert error.message == (
        f"The LLM API key was refused by {wire.provider} (401). Update the key in the NestJS "
        "LLM configuration and call POST /config/refresh."
    )
    # The key really went out (so the checks below mean something)...
    sent = server.requests[0].headers
    assert SECRET in sent.get("authorization", "") + sent.get("x-api-key", "")
    # ...and comes back nowhere: not in the error, its chain, the config's repr, or the logs.
    assert error.__cause__ is None
    assert error.__context__ is None
    for text in (str(error), repr(error), repr(error.to_dict()), repr(config), caplog.text):
        assert SECRET not in text
    assert caplog.records, "debug logging was captured"


def test_provider_messages_are_passed_on_with_the_key_masked(
    wire: Wire, server: FakeLLMServer, sleeps: SleepRecorder
) -> None:
    server.default = wire.error(400, f"model 'nope' not found for key {SECRET}", {})
    llm = build_llm(wire.config(server), make_settings(), sleep=sleeps)

    with pytest.raises(ProviderRequestError) as info:
        llm.complete(make_request(schema=None))

    assert "model 'nope' not found for key ***" in info.value.message
    assert SECRET not in str(info.value)
    assert server.calls == 1
    assert info.value.details == {"provider": wire.provider, "status": 400}


def test_clients_are_created_once_and_reused(wire: Wire, server: FakeLLMServer) -> None:
    from eyeflow_worker.providers import clients

    clients.clear_clients()
    server.default = wire.ok(RULES_JSON)
    settings = make_settings()
    for _ in range(3):
        build_provider(wire.config(server), settings).complete(make_request())

    assert len(clients._clients) == 1
    assert all(SECRET not in repr(key) for key in clients._clients)


class SoftTimeLimit(Exception):
    """Stands in for Celery's `SoftTimeLimitExceeded`, raised into a job mid-request."""


def test_a_time_limit_firing_mid_request_is_not_taken_for_an_outage(
    wire: Wire, server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.default = wire.ok(RULES_JSON)
    provider = build_provider(wire.config(server), make_settings())
    client = provider._client()  # type: ignore[attr-defined]
    transport = getattr(client, "_client", client)  # the SDK's HTTP client, or httpx's own

    def fire(*args: object, **kwargs: object) -> None:
        raise SoftTimeLimit("soft time limit exceeded")

    monkeypatch.setattr(transport, "send", fire)

    with pytest.raises(SoftTimeLimit):
        provider.complete(make_request())
