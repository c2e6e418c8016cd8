"""A worker process's shared objects: settings, Redis, the job store, metrics, the tenant
configuration, the webhook outbox. Built once per process (at worker start-up, see
`celery_app`), installed on the Celery app and handed to every task as `self.rt`; every thread
of a worker shares them. Tests build their own and install it the same way.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from celery import Celery
from redis import Redis

from eyeflow_worker.core.metrics import Metrics
from eyeflow_worker.core.records import JobStore
from eyeflow_worker.core.redis_client import get_redis
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.core.webhook_outbox import WebhookOutbox
from eyeflow_worker.tenant_config.source import ConfigSource, build_config_source


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    redis: Redis
    jobs: JobStore
    metrics: Metrics
    configs: ConfigSource
    webhooks: WebhookOutbox

    @classmethod
    def build(
        cls, settings: Settings, celery: Celery, *, configs: ConfigSource | None = None
    ) -> Runtime:
        client = get_redis(settings)
        jobs = JobStore(client, settings.task_record_ttl_seconds)
        return cls(
            settings=settings,
            redis=client,
            jobs=jobs,
            metrics=Metrics(client),
            configs=configs or build_config_source(settings, client),
            webhooks=WebhookOutbox(celery, jobs, settings),
        )


_RUNTIME_ATTRIBUTE = "eyeflow_runtime"
_build_lock = threading.Lock()


def install_runtime(app: Celery, runtime: Runtime) -> None:
    """Make `runtime` the one every task of `app` is given."""
    setattr(app, _RUNTIME_ATTRIBUTE, runtime)


def runtime_of(app: Celery, settings: Settings) -> Runtime:
    """The runtime installed on `app`; built from `settings` (once) if none was installed yet —
    e.g. a task run by an entry point that did not install one at start-up."""
    runtime = getattr(app, _RUNTIME_ATTRIBUTE, None)
    if runtime is None:
        with _build_lock:
            runtime = getattr(app, _RUNTIME_ATTRIBUTE, None)
            if runtime is None:
                runtime = Runtime.build(settings, app)
                install_runtime(app, runtime)
    assert isinstance(runtime, Runtime)
    return runtime
