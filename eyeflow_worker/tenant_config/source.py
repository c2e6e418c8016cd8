"""Where each tenant's LLM configuration and aggregated context come from: one protocol, two
sources — the environment (`environment.py`) or NestJS behind the shared Redis cache
(`nestjs_source.py`). Jobs, beat and the gateway's cache routes hold a `ConfigSource` and never
ask which one it is; `build_config_source` is the one place that chooses.
"""

from __future__ import annotations

from typing import Any, Protocol

import redis

from eyeflow_worker.core.llm_config import ProviderConfig
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.tenant_config.environment import EnvironmentSource
from eyeflow_worker.tenant_config.nestjs_source import NestJSSource


class ConfigSource(Protocol):
    name: str  # "environment" | "nestjs", shown in /cache/status and refresh reports

    def llm_config(self, tenant: str) -> ProviderConfig:
        """The tenant's LLM configuration; `ConfigMissing`/`ConfigInvalid` when none is usable."""
        ...

    def aggregated_context(self, tenant: str) -> dict[str, Any] | None:
        """The tenant's capability context, or None (jobs use the built-in sample catalogue);
        `ConfigInvalid` when the context NestJS sent cannot be read as a catalogue and no
        last-known-good one is cached."""
        ...

    def refresh(self, tenant: str | None = None) -> dict[str, Any]:
        """Fetch now (one tenant, or every known one): `{tenant: {"config": "ok"|code, ...}}`."""
        ...

    def refresh_due(self, horizon_seconds: float | None = None) -> dict[str, Any]:
        """Beat: refresh what expires before the next run; reports only what was due."""
        ...

    def invalidate_context(self, tenant: str | None = None) -> int:
        """Drop cached aggregated context (one tenant, or all); how many entries were dropped."""
        ...

    def status(self, tenant: str) -> dict[str, Any]:
        """Ages, validity, the masked config; `degraded` with a reason when serving stale data."""
        ...


def build_config_source(settings: Settings, client: redis.Redis) -> ConfigSource:
    """NestJS (cached in Redis) when NESTJS_SERVER_URL is set, else the environment. Raises
    `EyeflowError` when misconfigured (NestJS mode outside dev without CACHE_ENCRYPTION_KEY)."""
    if settings.nestjs_server_url:
        return NestJSSource(client, settings)
    return EnvironmentSource(settings)
