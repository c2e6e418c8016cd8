"""Per-process shared objects for workers: settings, Redis, the job store, metrics, config cache.

Built lazily on first use (not at import), once per process; every thread of a worker shares them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from redis import Redis

from eyeflow_worker.core.metrics import Metrics
from eyeflow_worker.core.records import JobStore
from eyeflow_worker.core.redis_client import get_redis
from eyeflow_worker.core.settings import Settings, get_settings
from eyeflow_worker.tenant_config.store import TenantConfigStore, tenant_config_store


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    redis: Redis
    jobs: JobStore
    metrics: Metrics
    configs: TenantConfigStore


@lru_cache(maxsize=1)
def runtime() -> Runtime:
    settings = get_settings()
    client = get_redis(settings)
    return Runtime(
        settings=settings,
        redis=client,
        jobs=JobStore(client, settings.task_record_ttl_seconds),
        metrics=Metrics(client),
        configs=tenant_config_store(settings),
    )
