"""The environment source: with NESTJS_SERVER_URL unset, every tenant gets the configuration in
`LLM_*` (the embedded offline drafter by default) and no aggregated context (jobs then use the
built-in sample catalogue). Nothing is fetched or cached; Redis is not touched."""

from __future__ import annotations

from typing import Any

from eyeflow_worker.core.llm_config import ProviderConfig
from eyeflow_worker.core.settings import Settings


class EnvironmentSource:
    name = "environment"

    def __init__(self, settings: Settings) -> None:
        self.ttl_seconds = settings.config_fetch_interval_minutes * 60.0
        self._config = ProviderConfig(
            provider=settings.llm_provider.lower(),
            model=settings.llm_model,
            temperature=settings.llm_temperature,
            max_tokens=settings.llm_max_tokens,
            api_key=settings.llm_api_key,
            api_url=settings.llm_api_url,
            request_timeout_seconds=settings.llm_request_timeout_seconds,
        )

    def llm_config(self, _tenant: str) -> ProviderConfig:
        return self._config

    def aggregated_context(self, _tenant: str) -> dict[str, Any] | None:
        return None

    def refresh(self, tenant: str | None = None) -> dict[str, Any]:
        # Nothing to fetch: report the configuration every tenant is served.
        report = {
            "config": "ok",
            "context": "absent",
            "provider": self._config.provider,
            "model": self._config.model,
        }
        return {tenant: report} if tenant is not None else {}

    def refresh_due(self, _horizon_seconds: float | None = None) -> dict[str, Any]:
        return {}

    def invalidate_context(self, _tenant: str | None = None) -> int:
        return 0

    def status(self, tenant: str) -> dict[str, Any]:
        return {
            "tenant": tenant,
            "source": self.name,
            "ttl_minutes": round(self.ttl_seconds / 60.0, 2),
            "config": {
                "cached": False,
                "fresh": True,
                "age_minutes": None,
                "valid": True,
                "provider": self._config.provider,
                "model": self._config.model,
                "public": self._config.public_view(),
                "last_error": None,
            },
            "context": {
                "cached": False,
                "fresh": False,
                "age_minutes": None,
                "available": False,
                "last_error": None,
                # No context: jobs use the built-in sample, which reads without warnings.
                "catalogue_warnings": [],
            },
            "degraded": False,
            "reason": None,
        }
