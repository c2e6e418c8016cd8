"""The price table: exact and dated names, local providers, overrides, unknown models."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from eyeflow_worker.core.llm import Usage
from eyeflow_worker.providers.pricing import PRICES, cost_usd, price_for
from tests.providers.conftest import make_settings

USAGE = Usage(input_tokens=1_000_000, output_tokens=1_000_000)


@pytest.mark.parametrize(
    ("provider", "model", "expected"),
    [
        ("anthropic", "claude-sonnet-4-6", "claude-sonnet-4-6"),
        ("anthropic", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("openai", "gpt-4o-2024-08-06", "gpt-4o"),
        ("openai", "gpt-4o-mini", "gpt-4o-mini"),
        ("openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("openai", "gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"),
    ],
)
def test_known_models(provider: str, model: str, expected: str) -> None:
    assert price_for(provider, model) == PRICES[expected]


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("anthropic", "claude-next"),
        ("openai", "gpt-4o-turbo-x"),
        ("openai", "gpt-4o-audio-preview"),
    ],
)
def test_unknown_cloud_models_are_never_guessed(provider: str, model: str) -> None:
    assert price_for(provider, model) is None
    assert cost_usd(provider, model, USAGE, make_settings()) is None


@pytest.mark.parametrize("provider", ["ollama", "llamacpp", "offline"])
def test_local_providers_cost_nothing(provider: str) -> None:
    assert cost_usd(provider, "whatever", USAGE, make_settings()) == 0.0


def test_cost_adds_every_token_kind() -> None:
    usage = Usage(
        input_tokens=1000,
        output_tokens=100,
        cache_read_input_tokens=10_000,
        cache_creation_input_tokens=2000,
    )
    # claude-haiku-4-5: $1 in, $5 out, $0.10 cache read, $1.25 cache write.
    assert cost_usd("anthropic", "claude-haiku-4-5", usage, make_settings()) == pytest.approx(
        (1000 * 1 + 100 * 5 + 10_000 * 0.1 + 2000 * 1.25) / 1e6
    )


def test_overrides_win_and_default_cache_prices_to_input() -> None:
    settings = make_settings(
        llm_price_overrides=json.dumps(
            {"gpt-4o": {"input": 1, "output": 2}, "llama3.1": {"input": 0.5, "output": 0.5}}
        )
    )
    usage = Usage(
        input_tokens=1_000_000, output_tokens=1_000_000, cache_read_input_tokens=1_000_000
    )
    assert cost_usd("openai", "gpt-4o", usage, settings) == 4.0
    assert cost_usd("ollama", "llama3.1", usage, settings) == 1.5


@pytest.mark.parametrize(
    "raw",
    ['{"gpt-4o": {"output": 1}}', "{not json", '{"gpt-4o": {"input": -1, "output": 1}}', "[]"],
)
def test_bad_overrides_are_refused_at_start_up(raw: str) -> None:
    # A price table that cannot be read is a configuration error, not a silent full-price bill.
    with pytest.raises(ValidationError, match="llm_price_overrides"):
        make_settings(llm_price_overrides=raw)


# --- the seed's models and the batch rate ---------------------------------------------------

EVERY_KIND = Usage(
    input_tokens=1000,
    output_tokens=300,
    cache_read_input_tokens=50_000,
    cache_creation_input_tokens=4000,
)


@pytest.mark.parametrize(
    ("provider", "model", "input_price", "output_price"),
    [
        ("anthropic", "claude-3-opus-20240229", 15.0, 75.0),
        ("openai", "gpt-4-turbo", 10.0, 30.0),
        ("openai", "gpt-4-turbo-2024-04-09", 10.0, 30.0),
    ],
)
def test_the_seeds_own_models_are_priced(
    provider: str, model: str, input_price: float, output_price: float
) -> None:
    assert cost_usd(provider, model, USAGE, make_settings()) == input_price + output_price


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("anthropic", "claude-sonnet-4-6"),
        ("anthropic", "claude-3-opus-20240229"),
        ("openai", "gpt-4o-2024-08-06"),
        ("openai", "gpt-4-turbo"),
    ],
)
def test_the_batch_rate_is_exactly_half_of_realtime(provider: str, model: str) -> None:
    settings = make_settings()
    realtime = cost_usd(provider, model, EVERY_KIND, settings)
    assert realtime is not None
    assert cost_usd(provider, model, EVERY_KIND, settings, batch=True) == pytest.approx(
        realtime / 2, abs=1e-8
    )


def test_the_batch_discount_stacks_with_the_cache_multipliers() -> None:
    settings = make_settings()
    # claude-haiku-4-5: $1 in; cache hits 10 %, 5-minute writes 125 %, 1-hour writes 200 %.
    reads = Usage(cache_read_input_tokens=1_000_000)
    writes = Usage(cache_creation_input_tokens=1_000_000)
    assert cost_usd("anthropic", "claude-haiku-4-5", reads, settings, batch=True) == 0.05
    assert cost_usd("anthropic", "claude-haiku-4-5", writes, settings, batch=True) == 0.625
    batch_1h = cost_usd(
        "anthropic", "claude-haiku-4-5", writes, settings, batch=True, cache_write_ttl="1h"
    )
    assert batch_1h == 1.0
    assert cost_usd("anthropic", "claude-haiku-4-5", writes, settings, cache_write_ttl="1h") == 2.0
    # gpt-4o: cached input $1.25 → $0.625 in a batch.
    assert cost_usd("openai", "gpt-4o", reads, settings, batch=True) == 0.625


def test_overrides_and_local_providers_follow_the_batch_rate() -> None:
    settings = make_settings(llm_price_overrides=json.dumps({"gpt-4o": {"input": 1, "output": 2}}))
    assert cost_usd("openai", "gpt-4o", USAGE, settings, batch=True) == 1.5
    assert cost_usd("ollama", "llama3.1", USAGE, settings, batch=True) == 0.0
    assert cost_usd("anthropic", "claude-next", USAGE, settings, batch=True) is None
