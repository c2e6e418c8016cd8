"""What the gateway builds once at start-up and every route reaches through `StateDep`: the one
way a route gets at settings, Redis, the job store, the config cache and the broker."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import partial
from typing import Annotated

from celery import Celery
from fastapi import Depends, Request
from redis import Redis

from api_gateway.enqueue import Submitter
from api_gateway.health import HealthProbe, build_health_probe
from eyeflow_worker.core.broker import QueueDepths, queue_depths_reader
from eyeflow_worker.core.celery_factory import create_celery_app
from eyeflow_worker.core.job_accept import Acceptor
from eyeflow_worker.core.metrics import Metrics
from eyeflow_worker.core.records import JobStore
from eyeflow_worker.core.records_async import AsyncRecords
from eyeflow_worker.core.redis_client import get_redis
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.core.webhook_outbox import WebhookOutbox
from eyeflow_worker.tenant_config.source import ConfigSource, build_config_source


@dataclass(frozen=True)
class GatewayState:
    settings: Settings
    redis: Redis
    # The broker's queue depths (/metrics), on Redis or RabbitMQ alike (`core.broker`).
    broker_queues: QueueDepths
    jobs: JobStore
    # The records on the event loop (redis.asyncio): the submissions and `?wait`'s reads. Opened
    # and closed by the app's lifespan, on the loop that serves it.
    records: AsyncRecords
    metrics: Metrics
    celery: Celery
    submitter: Submitter
    webhooks: WebhookOutbox
    configs: ConfigSource
    wait_slots: threading.BoundedSemaphore
    # /health's short-timeout connections and the cached worker ping
    health: HealthProbe


def build_state(settings: Settings, *, configs: ConfigSource | None = None) -> GatewayState:
    """Everything the routes share. Refuses to build misconfigured (e.g. NestJS mode outside dev
    without CACHE_ENCRYPTION_KEY): `EyeflowError` from the config store."""
    client = get_redis(settings)
    jobs = JobStore(client, settings.task_record_ttl_seconds)
    records = AsyncRecords(settings, Acceptor(client, settings.task_record_ttl_seconds))
    # Tasks are sent by name: the gateway never imports task or provider code.
    celery = create_celery_app(settings, include_tasks=False)
    return GatewayState(
        settings=settings,
        redis=client,
        broker_queues=queue_depths_reader(settings, partial(get_redis, settings)),
        jobs=jobs,
        records=records,
        metrics=Metrics(client),
        celery=celery,
        submitter=Submitter(client, jobs, records, celery, settings),
        webhooks=WebhookOutbox(celery, jobs, settings),
        configs=configs or build_config_source(settings, client),
        wait_slots=threading.BoundedSemaphore(settings.max_concurrent_waits),
        health=build_health_probe(settings, client, celery),
    )


def state_from_app(request: Request) -> GatewayState:
    state: GatewayState = request.app.state.gateway
    return state


async def _state_dependency(request: Request) -> GatewayState:
    # `async`: FastAPI runs a plain `def` dependency on its thread pool, a thread hop per
    # request for an attribute read (`state_from_app` stays plain for its direct callers).
    return state_from_app(request)


StateDep = Annotated[GatewayState, Depends(_state_dependency)]
