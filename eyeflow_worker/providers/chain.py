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
  would send, say, an Anthropic key to OpenAI). Entries that need a key (anthropic, openai) take
  it, and optionally a URL and model, from the fleet's own `LLM_FALLBACK_CREDENTIALS`
  (`{"openai": {"api_key": "...", "model": "gpt-4.1-mini"}}`); without one they are skipped with
  a warning. Keyless ones (offline, ollama and llamacpp at their default local URLs) are used
  as they are. Unknown names and the primary's own name are skipped too.
- A caller holding complete fallback configurations (a tenant config that carries its own
  `fallbacks`, keys included) passes them to `registry.build_llm(..., fallbacks=[...])`; they
  replace the settings-derived list.
- With a job time limit (`remaining_seconds`), no further link is tried once it is spent:
  `JobTimeout` is raised (not a `ProviderError`, so nothing in the chain swallows it).
- When every link fails, the primary's error is raised (it is the one the tenant can act on),
  with what each fallback said added to its `details["fallbacks"]`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence

from pydantic import SecretStr

from eyeflow_worker.core.errors import ConfigInvalid, ProviderError
from eyeflow_worker.core.llm import LLMRequest, LLMResponse, Provider, ProviderConfig
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.providers.retry import RemainingSeconds, check_deadline

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
    fleet_credentials = _fleet_credentials(settings)
    configs: list[ProviderConfig] = []
    for name in settings.llm_fallback_providers:
        if name in seen:
            continue
        seen.add(name)
        if name not in providers:
            log.warning("Ignoring unknown fallback provider %r", name)
            continue
        credentials = fleet_credentials.get(name, {})
        if requires_api_key(providers[name]) and not credentials.get("api_key"):
            log.warning(
                "Ignoring fallback provider %r: it needs an API key in LLM_FALLBACK_CREDENTIALS",
                name,
            )
            continue
        api_key = credentials.get("api_key")
        configs.append(
            ProviderConfig(
                provider=name,
                model=credentials.get("model") or DEFAULT_MODELS.get(name, "default"),
                temperature=config.temperature if config is not None else settings.llm_temperature,
                max_tokens=config.max_tokens if config is not None else settings.llm_max_tokens,
                api_key=SecretStr(api_key) if api_key else None,
                api_url=credentials.get("api_url"),
                request_timeout_seconds=settings.llm_request_timeout_seconds,
            )
        )
    return configs


def _fleet_credentials(settings: Settings) -> dict[str, dict[str, str]]:
    """LLM_FALLBACK_CREDENTIALS parsed; a malformed value is refused loudly, never guessed at."""
    if settings.llm_fallback_credentials is None:
        return {}
    try:
        parsed = json.loads(settings.llm_fallback_credentials.get_secret_value())
    except json.JSONDecodeError:
        raise ConfigInvalid("LLM_FALLBACK_CREDENTIALS is not valid JSON") from None
    if not isinstance(parsed, dict) or not all(isinstance(v, dict) for v in parsed.values()):
        raise ConfigInvalid("LLM_FALLBACK_CREDENTIALS must map provider names to objects")
    return {str(name).lower(): entry for name, entry in parsed.items()}


class FallbackChain:
    """A `Provider` that asks each of `links` in turn until one answers."""

    def __init__(
        self, links: Sequence[Provider], *, remaining_seconds: RemainingSeconds | None = None
    ) -> None:
        if not links:
            raise ValueError("a fallback chain needs at least one provider")
        self.links = list(links)
        self.name = self.links[0].name
        self.remaining_seconds = remaining_seconds

    def complete(self, request: LLMRequest) -> LLMResponse:
        failures: list[tuple[str, ProviderError]] = []
        for index, link in enumerate(self.links):
            check_deadline(self.remaining_seconds)
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
