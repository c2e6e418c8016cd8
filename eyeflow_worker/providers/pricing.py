"""What a call cost, in USD, from a per-model price table (USD per million tokens).

Lookup order for a model: `settings.llm_price_overrides` (exact name), then local providers
(Ollama, llama.cpp, the offline drafter: 0.0), then the built-in table by exact name or by the
name with a dated suffix removed (`claude-sonnet-4-5-20250929` → `claude-sonnet-4-5`,
`gpt-4o-2024-08-06` → `gpt-4o`). An unknown cloud model costs `None`: we never guess.

The built-in prices are list prices at the time of writing; operators correct or extend them
without a release through `LLM_PRICE_OVERRIDES`, e.g.
`{"claude-sonnet-4-6": {"input": 3, "output": 15, "cache_read": 0.3, "cache_write": 3.75}}`
(`cache_read`/`cache_write` default to the input price when omitted).

Batch APIs (`batch=True`): both Anthropic and OpenAI bill batch requests at 50 % of the realtime
price, and the discount stacks with the cache multipliers (every token kind is halved). An
Anthropic batch marks its shared prefix with the 1-hour cache TTL, whose writes bill at 2× input
instead of 1.25× (`cache_write_ttl="1h"`; an override's `cache_write` is used for both TTLs).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from eyeflow_worker.core.llm import Usage
from eyeflow_worker.core.settings import ModelPrice, Settings

LOCAL_PROVIDERS = frozenset({"ollama", "llamacpp", "offline"})
_DATED_SUFFIX = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2})$")
# Both providers' batch APIs bill at half the realtime price.
BATCH_DISCOUNT = 0.5
CacheTTL = Literal["5m", "1h"]


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float
    cache_read: float
    cache_write: float
    # 1-hour cache writes (Anthropic); None: same as `cache_write`.
    cache_write_1h: float | None = None

    def cost(self, usage: Usage, *, batch: bool = False, cache_write_ttl: CacheTTL = "5m") -> float:
        cache_write = self.cache_write
        if cache_write_ttl == "1h" and self.cache_write_1h is not None:
            cache_write = self.cache_write_1h
        total = (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_read_input_tokens * self.cache_read
            + usage.cache_creation_input_tokens * cache_write
        ) / 1_000_000
        return total * BATCH_DISCOUNT if batch else total


def _anthropic(input_price: float, output_price: float) -> Price:
    # Cache hits bill at 10 % of input, 5-minute cache writes at 125 %, 1-hour writes at 200 %.
    return Price(
        input_price, output_price, input_price * 0.1, input_price * 1.25, input_price * 2.0
    )


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
    "claude-3-opus": _anthropic(15.0, 75.0),  # the seed's claude-3-opus-20240229
    "gpt-5": _openai(1.25, 10.0, 0.125),
    "gpt-5-mini": _openai(0.25, 2.0, 0.025),
    "gpt-4.1": _openai(2.0, 8.0, 0.5),
    "gpt-4.1-mini": _openai(0.4, 1.6, 0.1),
    "gpt-4o": _openai(2.5, 10.0, 1.25),
    "gpt-4o-mini": _openai(0.15, 0.6, 0.075),
    # The seed's model; it has no prompt-caching discount (cached tokens bill as input).
    "gpt-4-turbo": _openai(10.0, 30.0, 10.0),
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


def cost_usd(
    provider: str,
    model: str,
    usage: Usage,
    settings: Settings,
    *,
    batch: bool = False,
    cache_write_ttl: CacheTTL = "5m",
) -> float | None:
    """What `usage` cost; `batch=True`: at the batch rate (see the module docstring)."""
    price = price_for(provider, model, settings.llm_price_overrides)
    if price is None:
        return None
    return round(price.cost(usage, batch=batch, cache_write_ttl=cache_write_ttl), 8)
