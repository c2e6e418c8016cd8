"""Rate-limit headers → `RateLimitObservation`: both wires, garbage ignored, and the observation
carried by the providers' answers and errors (the real SDKs against a loopback fake)."""

from __future__ import annotations

import pytest

from eyeflow_worker.core.errors import ProviderRateLimited
from eyeflow_worker.core.llm import RateLimitObservation, RateLimitWindow
from eyeflow_worker.providers.http_errors import error_from_status
from eyeflow_worker.providers.ratelimit_headers import duration_seconds, parse_rate_limits
from eyeflow_worker.providers.registry import build_provider
from tests.fakes.llm_servers import FakeLLMServer, Reply
from tests.providers.conftest import WIRES, make_request, make_settings

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
ANTHROPIC = {
    "anthropic-ratelimit-requests-limit": "50",
    "anthropic-ratelimit-requests-remaining": "49",
    "anthropic-ratelimit-requests-reset": "2027-01-15T08:00:01.5Z",
    "anthropic-ratelimit-tokens-limit": "30000",
    "anthropic-ratelimit-tokens-remaining": "29000",
    "anthropic-ratelimit-tokens-reset": "2027-01-15T08:00:02Z",
    "anthropic-ratelimit-input-tokens-limit": "30000",
    "anthropic-ratelimit-input-tokens-remaining": "29500",
    "anthropic-ratelimit-input-tokens-reset": "2027-01-15T08:00:01+00:00",
    "Anthropic-RateLimit-Output-Tokens-Limit": "8000",
    "anthropic-ratelimit-output-tokens-remaining": "7000",
    "anthropic-ratelimit-output-tokens-reset": "2027-01-15T08:00:07.5Z",
}
OPENAI = {
    "x-ratelimit-limit-requests": "500",
    "x-ratelimit-remaining-requests": "499",
    "x-ratelimit-reset-requests": "120ms",
    "x-ratelimit-limit-tokens": "30000",
    "x-ratelimit-remaining-tokens": "29000",
    "x-ratelimit-reset-tokens": "1m30.5s",
}


def test_anthropic_headers_per_dimension() -> None:
    observed = parse_rate_limits(ANTHROPIC, now=NOW)
    assert observed == RateLimitObservation(
        requests=RateLimitWindow(50, 49, 1.5),
        input_tokens=RateLimitWindow(30000, 29500, 1.0),
        output_tokens=RateLimitWindow(8000, 7000, 7.5),
    )  # `tokens` is the stricter of the two split limits: not a budget of its own


def test_anthropic_combined_tokens_alone_are_kept() -> None:
    headers = {k: v for k, v in ANTHROPIC.items() if "put-tokens" not in k.lower()}
    observed = parse_rate_limits(headers, now=NOW)
    assert observed is not None
    assert observed.tokens == RateLimitWindow(30000, 29000, 2.0)


def test_openai_headers_and_durations() -> None:
    assert parse_rate_limits(OPENAI) == RateLimitObservation(
        requests=RateLimitWindow(500, 499, 0.12),
        tokens=RateLimitWindow(30000, 29000, 90.5),
    )
    assert duration_seconds("6m0s") == 360.0
    assert duration_seconds("1s") == 1.0
    assert duration_seconds("20ms") == pytest.approx(0.02)
    assert duration_seconds("2.5") == 2.5


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-ratelimit-limit-requests": "lots"},
        {"x-ratelimit-limit-requests": "-5", "x-ratelimit-remaining-requests": "1"},
        {"x-ratelimit-limit-requests": "0"},
        {"x-ratelimit-limit-requests": "1e400"},
        {"x-ratelimit-limit-requests": "9" * 30},
        {"anthropic-ratelimit-requests-remaining": "3"},  # no limit: nothing to pace by
        {"retry-after": "5", "content-type": "application/json"},
    ],
)
def test_garbage_or_absent_headers_say_nothing(headers: dict[str, str]) -> None:
    assert parse_rate_limits(headers, now=NOW) is None


def test_garbage_parts_are_dropped_and_the_rest_kept() -> None:
    observed = parse_rate_limits(
        {
            "x-ratelimit-limit-requests": " 60 ",
            "x-ratelimit-remaining-requests": "many",
            "x-ratelimit-reset-requests": "soon",
            "anthropic-ratelimit-input-tokens-limit": "1000",
            "anthropic-ratelimit-input-tokens-remaining": "5000",  # more than the limit
            "anthropic-ratelimit-input-tokens-reset": "2027-01-15T09:00:00",  # no zone
            "anthropic-ratelimit-output-tokens-limit": "1000",
            "anthropic-ratelimit-output-tokens-reset": "9999-12-31T23:59:59Z",  # absurd
        },
        now=NOW,
    )
    assert observed == RateLimitObservation(
        requests=RateLimitWindow(60, None, None),
        input_tokens=RateLimitWindow(1000, 1000, None),
        output_tokens=RateLimitWindow(1000, None, None),
    )


def test_an_error_answer_carries_what_its_headers_said() -> None:
    error = error_from_status("openai", 429, "slow down", {**OPENAI, "retry-after": "1"})
    assert isinstance(error, ProviderRateLimited)
    assert error.rate_limits is not None
    assert error.rate_limits.requests == RateLimitWindow(500, 499, 0.12)
    assert error_from_status("openai", 500, "oops", {}).rate_limits is None


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_providers_read_the_headers_of_answers_and_errors(
    provider: str, server: FakeLLMServer
) -> None:
    wire = WIRES[provider]
    headers = ANTHROPIC if provider == "anthropic" else OPENAI
    ok = wire.ok("{}")
    server.script(
        Reply(ok.status, ok.body, {**ok.headers, **headers}),
        wire.error(429, "slow down", {**headers, "retry-after": "1"}),
    )
    llm = build_provider(wire.config(server), make_settings())

    limit = int(next(iter(headers.values())))
    answered = llm.complete(make_request())
    assert answered.rate_limits is not None
    assert answered.rate_limits.requests is not None
    assert answered.rate_limits.requests.limit == limit

    with pytest.raises(ProviderRateLimited) as raised:
        llm.complete(make_request())
    observed = raised.value.rate_limits
    assert observed is not None
    assert observed.requests is not None
    assert observed.requests.limit == limit


def test_servers_without_headers_give_no_observation(server: FakeLLMServer) -> None:
    for name in ("ollama", "llamacpp"):
        wire = WIRES[name]
        server.reset(wire.ok("{}"))
        answered = build_provider(wire.config(server), make_settings()).complete(make_request())
        assert answered.rate_limits is None
