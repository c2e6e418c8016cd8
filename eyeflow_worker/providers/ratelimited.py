"""A `Provider` that takes a slot from the fleet-wide limiter (`ratelimit.py`) before each call,
tells it what the answer said (rate-limit headers, usage, a 429), and tells the fleet when the
server asked everyone to back off.

`build_llm` puts it inside the retry loop, so every attempt takes a slot of its own. Only
providers that call a server (they have a `base_url`) are limited; the offline drafter is not.
The cap comes from `Settings.llm_rate_limits` (provider → requests/minute), else
`Settings.llm_rate_limit_rpm`; 0 means no cap. With `Settings.llm_rate_learning` (the default)
the limiter also learns the account's limits from its answers, so an unconfigured fleet paces
itself to the provider's tier; the shared cooldown always applies.

A call's token cost is estimated before it (input: the prompt's characters / 4; output: the
configured `max_tokens`) and settled with the usage the answer reports.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import redis

from eyeflow_worker.core.deadline import Deadline
from eyeflow_worker.core.errors import ProviderError, ProviderRateLimited
from eyeflow_worker.core.llm import LLMRequest, LLMResponse, Provider, Usage
from eyeflow_worker.core.llm_config import ProviderConfig
from eyeflow_worker.core.metrics import Metrics
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.providers.http_errors import ABSURD_RETRY_AFTER_SECONDS
from eyeflow_worker.providers.ratelimit import (
    LimitKey,
    Outcome,
    Rate,
    RateLimiter,
    TokenCost,
)

# The usual rough count of tokens in English prose (and JSON) per character.
CHARS_PER_TOKEN = 4


class RateLimitedProvider:
    """`inner` behind `limiter`. A server's absurd retry-after (see `ABSURD_RETRY_AFTER_SECONDS`)
    cools the fleet down for `max_delay_seconds` (the retry policy's longest backoff) only."""

    def __init__(
        self,
        inner: Provider,
        limiter: RateLimiter,
        *,
        max_delay_seconds: float = 60.0,
        deadline: Deadline | None = None,
        max_output_tokens: int = 0,
        metrics: Metrics | None = None,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.limiter = limiter
        self.max_delay_seconds = max_delay_seconds
        self.deadline = deadline or Deadline.never()
        self.max_output_tokens = max_output_tokens
        self.metrics = metrics

    def complete(self, request: LLMRequest) -> LLMResponse:
        # A wait for a slot that would not end before the job's time limit is refused at once.
        # (The retry loop around this has just checked the deadline itself.)
        ticket = self.limiter.reserve(
            estimated_cost(request, self.max_output_tokens),
            max_wait=min(self.limiter.max_wait_seconds, self.deadline.remaining()),
        )
        try:
            response = self.inner.complete(request)
        except ProviderError as error:
            outcome = outcome_of(error)
            self.limiter.feedback(ticket, outcome, observed=error.rate_limits)
            if outcome == "limited" and self.metrics is not None:
                # Every 429, retried or not (the retry counter sees only those retried).
                self.metrics.count("eyeflow_provider_rate_limited", provider=self.name)
            if error.retryable and error.retry_after is not None and error.retry_after > 0:
                self.limiter.cool_down(self._cooldown(error.retry_after))
            raise
        except BaseException:
            # No answer at all (the job's time limit fired mid-call, a worker stopping): refund
            # the reserved tokens and release a probe, so nobody waits on a call that is gone.
            self.limiter.feedback(ticket, "none")
            raise
        self.limiter.feedback(
            ticket, "ok", usage=actual_cost(response.usage), observed=response.rate_limits
        )
        return response

    def _cooldown(self, retry_after: float) -> float:
        if retry_after > ABSURD_RETRY_AFTER_SECONDS:
            return self.max_delay_seconds
        return retry_after


def estimated_cost(request: LLMRequest, max_output_tokens: int) -> TokenCost:
    """What a call may take from each token bucket, before it is sent."""
    chars = len(request.system) + sum(len(message.content) for message in request.messages)
    prompt = math.ceil(chars / CHARS_PER_TOKEN)
    output = max(0, max_output_tokens)
    return TokenCost(tokens=prompt + output, input_tokens=prompt, output_tokens=output)


def actual_cost(usage: Usage) -> TokenCost:
    """What a call took, from the usage its answer reports. Anthropic's input-tokens limit
    counts cache writes but not cache reads."""
    return TokenCost(
        tokens=usage.total_tokens,
        input_tokens=usage.input_tokens + usage.cache_creation_input_tokens,
        output_tokens=usage.output_tokens,
    )


def outcome_of(error: ProviderError) -> Outcome:
    """The server's 429, another HTTP error answer, or no answer to learn from."""
    status = error.details.get("status") if isinstance(error.details, dict) else None
    if isinstance(error, ProviderRateLimited) and status == 429:
        return "limited"
    if status is not None or error.rate_limits is not None:
        return "error"
    return "none"


def rate_for(provider: str, settings: Settings) -> Rate | None:
    """The provider's configured requests-per-minute cap, or None for no cap."""
    rpm = settings.llm_rate_limits.get(provider.lower(), settings.llm_rate_limit_rpm)
    return Rate(rpm, 60.0) if rpm > 0 else None


def rate_limited(
    provider: Provider,
    config: ProviderConfig,
    settings: Settings,
    client: redis.Redis,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] | None = None,
    deadline: Deadline | None = None,
) -> Provider:
    """`provider` behind the fleet's limiter for its account, or as is when it calls no server.

    A wait longer than the retry budget, or than what is left of the job's time
    (its `deadline`), is refused at once (the fallback chain can serve).
    """
    base_url = getattr(provider, "base_url", None)
    if not isinstance(base_url, str):
        return provider
    limiter = RateLimiter(
        client,
        LimitKey.of(provider.name, config.api_key, base_url),
        rate_for(provider.name, settings),
        max_wait_seconds=settings.llm_retry_max_total_seconds,
        learning=settings.llm_rate_learning,
        clock=clock,
        sleep=sleep,
    )
    return RateLimitedProvider(
        provider,
        limiter,
        max_delay_seconds=settings.llm_retry_max_delay_seconds,
        deadline=deadline,
        max_output_tokens=config.max_tokens,
        metrics=Metrics(client),
    )
