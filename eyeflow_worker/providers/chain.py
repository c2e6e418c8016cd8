"""Fallback providers: when the configured provider fails, the next one in line answers.

Rules (kept deliberately simple and safe):

- The chain is the tenant's configured provider, then `settings.llm_fallback_providers`
  (`LLM_FALLBACK_PROVIDERS=ollama,offline`) in order. Each link has its own retry loop; a link
  is abandoned when its retries are spent or at once on a non-retryable `ProviderError`
  (refused key, refused request), and the next link serves. The `LLMResponse` says which
  provider and model actually answered.
- A fallback entry is only a provider *name*. It is built as
  `ProviderConfig(provider=name, model=DEFAULT_MODELS[name], api_key=None, api_url=None)` with
  the primary's temperature and token limit. It never inherits the primary's key or URL (that
  would send, say, an Anthropic key to OpenAI), so entries that need a key (anthropic, openai)
  are skipped with a warning; keyless ones (offline, ollama and llamacpp at their default local
  URLs) are used. Unknown names and the primary's own name are skipped too.
- A caller holding complete fallback configurations (a tenant config that carries its own
  `fallbacks`, keys included) passes them to `registry.build_llm(..., fallbacks=[...])`; they
  replace the settings-derived list.
- When every link fails, the primary's error is raised (it is the one the tenant can act on),
  with what each fallback said added to its `details["fallbacks"]`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from eyeflow_worker.errors import ProviderError
from eyeflow_worker.providers.base import LLMRequest, LLMResponse, Provider, ProviderConfig
from eyeflow_worker.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_MODELS: dict[str, str] = {
    "anthropic": "claude-sonnet-4-6",
    "openai": "gpt-4.1-mini",
    "ollama": "llama3.1",
    "llamacpp": "default",
    "offline": "eyeflow-offline-drafter-1",
}


def requires_api_key(factory: object) -> bool:
    return bool(getattr(factory, "requires_api_key", False))


def fallback_configs(
    config: ProviderConfig | None, settings: Settings, providers: Mapping[str, object]
) -> list[ProviderConfig]:
    """The usable fallback configurations for `config`, per the rules above."""
    primary = config.provider.lower() if config is not None else None
    seen = {primary}
    configs: list[ProviderConfig] = []
    for name in settings.llm_fallback_providers:
        if name in seen:
            continue
        seen.add(name)
        if name not in providers:
            log.warning("Ignoring unknown fallback provider %r", name)
            continue
        if requires_api_key(providers[name]):
            log.warning("Ignoring fallback provider %r: it needs an API key of its own", name)
            continue
        configs.append(
            ProviderConfig(
                provider=name,
                model=DEFAULT_MODELS.get(name, "default"),
                temperature=config.temperature if config is not None else settings.llm_temperature,
                max_tokens=config.max_tokens if config is not None else settings.llm_max_tokens,
                request_timeout_seconds=settings.llm_request_timeout_seconds,
            )
        )
    return configs


class FallbackChain:
    """A `Provider` that asks each of `links` in turn until one answers."""

    def __init__(self, links: Sequence[Provider]) -> None:
        if not links:
            raise ValueError("a fallback chain needs at least one provider")
        self.links = list(links)
        self.name = self.links[0].name

    def complete(self, request: LLMRequest) -> LLMResponse:
        failures: list[tuple[str, ProviderError]] = []
        for index, link in enumerate(self.links):
            try:
                return link.complete(request)
            except ProviderError as error:
                failures.append((link.name, error))
                if index + 1 < len(self.links):
                    log.warning(
                        "%s failed (%s: %s); falling back to %s",
                        link.name,
                        error.code,
                        error.message,
                        self.links[index + 1].name,
                    )
        primary = failures[0][1]
        if len(failures) > 1 and (primary.details is None or isinstance(primary.details, dict)):
            primary.details = {
                **(primary.details or {}),
                "fallbacks": [
                    {"provider": name, "code": error.code, "message": error.message}
                    for name, error in failures[1:]
                ],
            }
        raise primary
