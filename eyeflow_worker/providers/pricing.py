"""What a call cost, in USD, from a per-model price table (USD per million tokens).

Lookup order for a model: `settings.llm_price_overrides` (exact name), then local providers
(Ollama, llama.cpp, the offline drafter: 0.0), then the built-in table by exact name or by the
name with a dated suffix removed (`claude-sonnet-4-5-20250929` → `claude-sonnet-4-5`,
`gpt-4o-2024-08-06` → `gpt-4o`). An unknown cloud model costs `None`: we never guess.

The built-in prices are list prices at the time of writing; operators correct or extend them
without a release through `LLM_PRICE_OVERRIDES`, e.g.
`{"claude-sonnet-4-6": {"input": 3, "output": 15, "cache_read": 0.3, "cache_write": 3.75}}`
(`cache_read`/`cache_write` default to the input price when omitted).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from eyeflow_worker.core.llm import Usage
from eyeflow_worker.core.settings import ModelPrice, Settings

LOCAL_PROVIDERS = frozenset({"ollama", "llamacpp", "offline"})
_DATED_SUFFIX = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float
    cache_read: float
    cache_write: float

    def cost(self, usage: Usage) -> float:
        return (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_read_input_tokens * self.cache_read
            + usage.cache_creation_input_tokens * self.cache_write
        ) / 1_000_000


def _anthropic(input_price: float, output_price: float) -> Price:
    # Cache hits bill at 10 % of input, 5-minute cache writes at 125 %.
    return Price(input_price, output_price, input_price * 0.1, input_price * 1.25)


def _openai(input_price: float, output_price: float, cached: float) -> Price:
    # OpenAI caches automatically: no write surcharge.
    return Price(input_price, output_price, cached, input_price)


PRICES: dict[str, Price] = {
    "claude-opus-4-6": _anthropic(5.0, 25.0),
    "claude-opus-4-5": _anthropic(5.0, 25.0),
    "claude-opus-4-1": _anthropic(15.0, 75.0),
    "claude-sonnet-4-6": _anthropic(3.0, 15.0),
    "claude-sonnet-4-5": _anthropic(3.0, 15.0),
    "claude-haiku-4-5": _anthropic(1.0, 5.0),
    "gpt-5": _openai(1.25, 10.0, 0.125),
    "gpt-5-mini": _openai(0.25, 2.0, 0.025),
    "gpt-4.1": _openai(2.0, 8.0, 0.5),
    "gpt-4.1-mini": _openai(0.4, 1.6, 0.1),
    "gpt-4o": _openai(2.5, 10.0, 1.25),
    "gpt-4o-mini": _openai(0.15, 0.6, 0.075),
}


def price_for(
    provider: str, model: str, overrides: Mapping[str, ModelPrice] | None = None
) -> Price | None:
    override = (overrides or {}).get(model)
    if override is not None:
        return Price(
            input=override.input,
            output=override.output,
            cache_read=override.input if override.cache_read is None else override.cache_read,
            cache_write=override.input if override.cache_write is None else override.cache_write,
        )
    if provider.lower() in LOCAL_PROVIDERS:
        return Price(0.0, 0.0, 0.0, 0.0)
    return PRICES.get(model) or PRICES.get(_DATED_SUFFIX.sub("", model))


def cost_usd(provider: str, model: str, usage: Usage, settings: Settings) -> float | None:
    price = price_for(provider, model, settings.llm_price_overrides)
    return None if price is None else round(price.cost(usage), 8)
