"""What the gateway builds once at start-up and shares between requests."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Annotated

from celery import Celery
from fastapi import Depends, Request
from redis import Redis

from api_gateway.enqueue import Submitter
from eyeflow_worker.core.celery_factory import create_celery_app
from eyeflow_worker.core.metrics import Metrics
from eyeflow_worker.core.records import JobStore
from eyeflow_worker.core.redis_client import get_redis
from eyeflow_worker.core.settings import Settings


@dataclass(frozen=True)
class GatewayState:
    settings: Settings
    redis: Redis
    broker_redis: Redis
    jobs: JobStore
    metrics: Metrics
    celery: Celery
    submitter: Submitter
    wait_slots: threading.BoundedSemaphore


def build_state(settings: Settings) -> GatewayState:
    client = get_redis(settings)
    jobs = JobStore(client, settings.task_record_ttl_seconds)
    # Tasks are sent by name: the gateway never imports task or provider code.
    celery = create_celery_app(settings, include_tasks=False)
    queues = {
        "generate": settings.queue_interactive,
        "refine": settings.queue_interactive,
        "evaluate": settings.queue_interactive,
        "batch": settings.queue_batch,
    }
    return GatewayState(
        settings=settings,
        redis=client,
        broker_redis=get_redis(settings, settings.effective_broker_url),
        jobs=jobs,
        metrics=Metrics(client),
        celery=celery,
        submitter=Submitter(client, jobs, celery, queues, settings.idempotency_ttl_seconds),
        wait_slots=threading.BoundedSemaphore(settings.max_concurrent_waits),
    )


def state_from_app(request: Request) -> GatewayState:
    state: GatewayState = request.app.state.gateway
    return state


StateDep = Annotated[GatewayState, Depends(state_from_app)]
