"""A `Provider` that takes a slot from the fleet-wide limiter (`ratelimit.py`) before each call
and tells the fleet when the server asked everyone to back off.

`build_llm` puts it inside the retry loop, so every attempt takes a slot of its own. Only
providers that call a server (they have a `base_url`) are limited; the offline drafter is not.
The budget comes from `Settings.llm_rate_limits` (provider → requests/minute), else
`Settings.llm_rate_limit_rpm`; 0 means no budget, but the shared cooldown still applies.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis

from eyeflow_worker.core.deadline import Deadline
from eyeflow_worker.core.errors import ProviderError
from eyeflow_worker.core.llm import LLMRequest, LLMResponse, Provider
from eyeflow_worker.core.llm_config import ProviderConfig
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.providers.http_errors import ABSURD_RETRY_AFTER_SECONDS
from eyeflow_worker.providers.ratelimit import LimitKey, Rate, RateLimiter


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
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.limiter = limiter
        self.max_delay_seconds = max_delay_seconds
        self.deadline = deadline or Deadline.never()

    def complete(self, request: LLMRequest) -> LLMResponse:
        # A wait for a slot that would not end before the job's time limit is refused at once.
        # (The retry loop around this has just checked the deadline itself.)
        self.limiter.acquire(max_wait=min(self.limiter.max_wait_seconds, self.deadline.remaining()))
        try:
            return self.inner.complete(request)
        except ProviderError as error:
            if error.retryable and error.retry_after is not None and error.retry_after > 0:
                self.limiter.cool_down(self._cooldown(error.retry_after))
            raise

    def _cooldown(self, retry_after: float) -> float:
        if retry_after > ABSURD_RETRY_AFTER_SECONDS:
            return self.max_delay_seconds
        return retry_after


def rate_for(provider: str, settings: Settings) -> Rate | None:
    """The provider's requests-per-minute budget, or None for no budget."""
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
        clock=clock,
        sleep=sleep,
    )
    return RateLimitedProvider(
        provider,
        limiter,
        max_delay_seconds=settings.llm_retry_max_delay_seconds,
        deadline=deadline,
    )
