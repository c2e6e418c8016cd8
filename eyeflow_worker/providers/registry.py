"""Maps the configuration's `provider` string to a provider class. No if/elif on names elsewhere.
Its names are those of `core.provider_catalogue` (what each needs, its default model).

`build_llm` is what a job calls: the configured provider and its fallbacks (`chain.py`), each
wrapped in the one retry loop (`retry.py`), inside which each attempt takes a slot from the
fleet-wide rate limiter (`ratelimited.py`) when a Redis client is given.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import redis

from eyeflow_worker.core.batch_api import BatchAPI
from eyeflow_worker.core.deadline import Deadline
from eyeflow_worker.core.errors import ConfigInvalid
from eyeflow_worker.core.llm import Provider
from eyeflow_worker.core.llm_config import ProviderConfig
from eyeflow_worker.core.provider_catalogue import fallback_configs
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.providers.anthropic import AnthropicProvider
from eyeflow_worker.providers.anthropic_batches import AnthropicBatches
from eyeflow_worker.providers.chain import FallbackChain
from eyeflow_worker.providers.llamacpp import LlamaCppProvider
from eyeflow_worker.providers.offline import OfflineProvider
from eyeflow_worker.providers.ollama import OllamaProvider
from eyeflow_worker.providers.openai_batches import OpenAIBatches
from eyeflow_worker.providers.openai_compat import OpenAIProvider
from eyeflow_worker.providers.ratelimited import rate_limited
from eyeflow_worker.providers.retry import (
    RetryingProvider,
    RetryListener,
    RetryPolicy,
)

ProviderFactory = Callable[[ProviderConfig, Settings], Provider]

PROVIDERS: dict[str, ProviderFactory] = {
    "anthropic": AnthropicProvider,
    "openai": OpenAIProvider,
    "ollama": OllamaProvider,
    "llamacpp": LlamaCppProvider,
    "offline": OfflineProvider,
}

BatchAPIFactory = Callable[[ProviderConfig, Settings], BatchAPI]

# The providers that sell a batch API (economy mode); the others run batches realtime.
BATCH_APIS: dict[str, BatchAPIFactory] = {
    "anthropic": AnthropicBatches,
    "openai": OpenAIBatches,
}

__all__ = [
    "BATCH_APIS",
    "PROVIDERS",
    "ProviderFactory",
    "RetryListener",
    "batch_api_for",
    "build_llm",
    "build_provider",
]


def build_provider(config: ProviderConfig, settings: Settings) -> Provider:
    factory = PROVIDERS.get(config.provider.lower())
    if factory is None:
        supported = ", ".join(sorted(PROVIDERS))
        raise ConfigInvalid(f"Unknown LLM provider {config.provider!r}; supported: {supported}")
    return factory(config, settings)


def batch_api_for(config: ProviderConfig, settings: Settings) -> BatchAPI | None:
    """The batch API of `config`'s provider, or None when it has none (Ollama, llama.cpp,
    offline). Only the primary: a batch is not spread over fallbacks."""
    factory = BATCH_APIS.get(config.provider.lower())
    return None if factory is None else factory(config, settings)


def build_llm(
    config: ProviderConfig,
    settings: Settings,
    on_retry: RetryListener | None = None,
    *,
    fallbacks: Sequence[ProviderConfig] | None = None,
    sleep: Callable[[float], None] | None = None,
    limiter_redis: redis.Redis | None = None,
    deadline: Deadline | None = None,
    clock: Callable[[], float] | None = None,
) -> Provider:
    """The provider a job talks to: the configured one, then its fallbacks, each with retries.

    `on_retry(delay_seconds, error)` is called before every wait (the job marks itself
    `retrying`). `fallbacks` replaces the settings-derived fallback list (see `chain.py`);
    `limiter_redis` turns on the fleet-wide rate limiter (None: no limiting).

    `deadline` — the job's time limit — makes the whole chain
    share the job's budget rather than each link its own: no attempt or link starts once it is
    spent (`eyeflow_worker.core.errors.JobTimeout`), and no retry or rate-limit wait is taken that
    would not end before it (the link gives up at once and the next one gets what is left).
    When every link gave up that way, the primary's error is raised as usual; `JobTimeout` only
    when the time was actually spent. Without it, each link has the retry policy's budget.

    `sleep` and `clock` (the retry loop's monotonic clock) are for tests.
    """
    policy = RetryPolicy.from_settings(settings)
    configs = [
        config,
        *(fallback_configs(config, settings) if fallbacks is None else fallbacks),
    ]
    links: list[Provider] = []
    for link_config in configs:
        provider = build_provider(link_config, settings)
        if limiter_redis is not None:
            provider = rate_limited(
                provider,
                link_config,
                settings,
                limiter_redis,
                sleep=sleep or time.sleep,
                deadline=deadline,
            )
        links.append(
            RetryingProvider(
                provider,
                policy,
                on_retry=on_retry,
                sleep=sleep or time.sleep,
                clock=clock or time.monotonic,
                deadline=deadline,
            )
        )
    if len(links) == 1:
        return links[0]
    return FallbackChain(links)
