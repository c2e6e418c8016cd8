"""Building a Celery app from Settings, with no app created at import (the gateway uses this)."""

from __future__ import annotations

import math
from typing import Any

import redis
from celery import Celery
from kombu.exceptions import OperationalError

from celeryconfig import celery_config
from eyeflow_worker.core.broker import broker_scheme, fleet_broker_kind
from eyeflow_worker.core.kombu_redis import TRANSPORT_PATH
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


class _FleetCelery(Celery):  # type: ignore[misc]  # Celery is untyped
    """Celery, sending every task with `ignore_result` unless told otherwise.

    `task_ignore_result` (celeryconfig) stops workers storing results, but `send_task` reads
    only its own option: without it, every send (the gateway's, a worker's fan-out of batch
    items) subscribes the sender to the task's result channel — a round trip, a subscription
    nobody reads, and an unsubscribe when the result object is collected."""

    def send_task(self, name: str, *args: Any, **options: Any) -> Any:
        options.setdefault("ignore_result", bool(self.conf.task_ignore_result))
        return super().send_task(name, *args, **options)


class _WholeSecondCountdowns(_FleetCelery):
    """Celery, sending every countdown as a whole number of seconds, rounded up.

    On RabbitMQ a countdown travels through Celery's native delayed delivery, whose routing key
    encodes `int(countdown)` seconds — and kombu refuses 0 (`ValueError: countdown must be a
    positive number`, Celery 5.7), so a 0.3 s webhook back-off or infrastructure retry would
    fail its task instead of retrying. Rounding up also keeps a message from arriving before
    its ETA (`int` would cut 1.7 s to 1). Used only when the broker is RabbitMQ."""

    def send_task(self, name: str, *args: Any, **options: Any) -> Any:
        countdown = options.get("countdown")
        if isinstance(countdown, int | float) and countdown > 0:
            options["countdown"] = math.ceil(countdown)
        return super().send_task(name, *args, **options)


def create_celery_app(settings: Settings, *, include_tasks: bool = True) -> Celery:
    """A Celery app configured from `settings`.

    The gateway builds one with `include_tasks=False`: it only sends tasks by name, so it never
    imports task code and never calls an LLM.
    """
    app_class = _WholeSecondCountdowns if fleet_broker_kind(settings) == "amqp" else _FleetCelery
    celery: Celery = app_class("eyeflow", include=TASK_MODULES if include_tasks else [])
    celery.conf.update(celery_config(settings))
    if broker_scheme(settings.effective_broker_url) == "redis":
        # kombu's Redis transport, keeping one client per channel (`core/kombu_redis.py`); TLS,
        # Sentinel and socket brokers keep kombu's own.
        celery.conf.broker_transport = TRANSPORT_PATH
    return celery
