"""The LLM request/response protocol: what `rules` and `evaluation` call and every provider
implements, so neither side imports the other.

It also holds `RateLimitObservation`, what a provider read from its server's rate-limit headers:
plain numbers that the fleet-wide limiter learns from (never the headers themselves, which could
carry anything).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Purpose = Literal["generate", "refine", "evaluate"]


@dataclass(frozen=True)
class Message:
    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True)
class LLMRequest:
    """A provider call.

    `system` is the long, stable prefix (instructions, schema, catalogue) that providers with
    prompt caching mark cacheable; `messages` hold the variable part (the intent last, plus
    repair turns). `inputs` keeps the structured inputs the prompt was rendered from, so that a
    non-LLM provider (the embedded offline drafter) can work from data instead of prose.
    """

    purpose: Purpose
    system: str
    messages: tuple[Message, ...]
    json_schema: Mapping[str, Any] | None = None
    inputs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_input_tokens
            + self.cache_creation_input_tokens
        )

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_input_tokens + other.cache_read_input_tokens,
            self.cache_creation_input_tokens + other.cache_creation_input_tokens,
        )

    def to_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
        }


@dataclass(frozen=True)
class RateLimitWindow:
    """One dimension of a server's rate limit, as its headers stated it at answer time.

    `limit` per minute (requests or tokens); `remaining` left in the server's bucket;
    `reset_seconds` until the bucket is whole again (from the answer's arrival).
    """

    limit: int
    remaining: int | None = None
    reset_seconds: float | None = None


@dataclass(frozen=True)
class RateLimitObservation:
    """What one answer (success or error) said about the account's limits, per dimension.

    `tokens` is a combined limit (OpenAI's TPM); Anthropic states input and output tokens apart.
    """

    requests: RateLimitWindow | None = None
    tokens: RateLimitWindow | None = None
    input_tokens: RateLimitWindow | None = None
    output_tokens: RateLimitWindow | None = None

    def windows(self) -> dict[str, RateLimitWindow]:
        """The dimensions present, by name."""
        named = {
            "requests": self.requests,
            "tokens": self.tokens,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }
        return {name: window for name, window in named.items() if window is not None}


@dataclass(frozen=True)
class LLMResponse:
    text: str
    provider: str
    model: str
    usage: Usage
    latency_ms: int
    cost_usd: float | None = None
    # None: the server sent no rate-limit headers (Ollama, llama.cpp, the offline drafter).
    rate_limits: RateLimitObservation | None = None


class Provider(Protocol):
    """An LLM provider. Implementations raise only `eyeflow_worker.core.errors.ProviderError`s."""

    name: str

    def complete(self, request: LLMRequest) -> LLMResponse: ...
