"""Building a Celery app from Settings, with no app created at import (the gateway uses this)."""

from __future__ import annotations

from typing import Any

import redis
from celery import Celery
from kombu.exceptions import OperationalError

from celeryconfig import celery_config
from eyeflow_worker.core.settings import Settings

TASK_MODULES = ["eyeflow_worker.tasks"]

# Options for every task: a Redis or broker blip inside a task (a timeout during a fork, a
# failover) is retried with backoff instead of failing the message, which late acks would then
# acknowledge and lose. Every task is safe to run again (records are keyed by id, transitions
# are atomic and idempotent).
TRANSIENT_INFRA_RETRY: dict[str, Any] = {
    "autoretry_for": (
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        OperationalError,
    ),
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 10,
}


def create_celery_app(settings: Settings, *, include_tasks: bool = True) -> Celery:
    """A Celery app configured from `settings`.

    The gateway builds one with `include_tasks=False`: it only sends tasks by name, so it never
    imports task code and never calls an LLM.
    """
    celery = Celery("eyeflow", include=TASK_MODULES if include_tasks else [])
    celery.conf.update(celery_config(settings))
    return celery
