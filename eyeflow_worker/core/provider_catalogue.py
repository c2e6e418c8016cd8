"""The providers this build supports, as data both sides can read: what each needs, its default
model, which fallbacks a configuration gets, and the `GET /providers` description. The classes
that talk to each provider are in `providers/` (`providers.registry` maps these names to them),
so the gateway can describe providers without importing any LLM SDK.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from eyeflow_worker.core.llm_config import ProviderConfig
from eyeflow_worker.core.settings import FallbackCredentials, Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProviderSpec:
    requires_api_key: bool
    default_model: str


PROVIDER_SPECS: dict[str, ProviderSpec] = {
    "anthropic": ProviderSpec(requires_api_key=True, default_model="claude-sonnet-4-6"),
    "openai": ProviderSpec(requires_api_key=True, default_model="gpt-4.1-mini"),
    "ollama": ProviderSpec(requires_api_key=False, default_model="llama3.1"),
    "llamacpp": ProviderSpec(requires_api_key=False, default_model="default"),
    "offline": ProviderSpec(requires_api_key=False, default_model="eyeflow-offline-drafter-1"),
}


def supported_providers() -> list[str]:
    return sorted(PROVIDER_SPECS)


def fallback_configs(config: ProviderConfig | None, settings: Settings) -> list[ProviderConfig]:
    """The usable fallback configurations for `config` (rules in `providers/chain.py`): the
    names in LLM_FALLBACK_PROVIDERS, never the primary's key; a provider that needs a key takes
    the fleet's own from LLM_FALLBACK_CREDENTIALS, else it is skipped."""
    primary = config.provider.lower() if config is not None else None
    seen = {primary}
    configs: list[ProviderConfig] = []
    for name in settings.llm_fallback_providers:
        if name in seen:
            continue
        seen.add(name)
        if name not in PROVIDER_SPECS:
            log.warning("Ignoring unknown fallback provider %r", name)
            continue
        credentials = settings.llm_fallback_credentials.get(name, FallbackCredentials())
        if PROVIDER_SPECS[name].requires_api_key and credentials.api_key is None:
            log.warning(
                "Ignoring fallback provider %r: it needs an API key in LLM_FALLBACK_CREDENTIALS",
                name,
            )
            continue
        configs.append(
            ProviderConfig(
                provider=name,
                model=credentials.model or PROVIDER_SPECS[name].default_model,
                temperature=config.temperature if config is not None else settings.llm_temperature,
                max_tokens=config.max_tokens if config is not None else settings.llm_max_tokens,
                api_key=credentials.api_key,
                api_url=credentials.api_url,
                request_timeout_seconds=settings.llm_request_timeout_seconds,
            )
        )
    return configs


def describe_providers(config: ProviderConfig | None, settings: Settings) -> list[dict[str, Any]]:
    """Every supported provider for `GET /providers`: which is active, which are fallbacks,
    whether the credentials each needs are present, and the model in use. Never a key."""
    active_name = config.provider.lower() if config is not None else None
    chain = [c.provider for c in fallback_configs(config, settings)]
    described = []
    for name in supported_providers():
        active = name == active_name
        needs_key = PROVIDER_SPECS[name].requires_api_key
        has_key = active and config is not None and config.api_key is not None
        model: str | None = None
        if active and config is not None:
            model = config.model
        elif name in chain:
            model = PROVIDER_SPECS[name].default_model
        described.append(
            {
                "name": name,
                "active": active,
                "configured": active or name in chain,
                "fallback_position": chain.index(name) + 1 if name in chain else None,
                "requires_credentials": needs_key,
                "credentials_present": has_key or not needs_key,
                "model": model,
            }
        )
    return described
