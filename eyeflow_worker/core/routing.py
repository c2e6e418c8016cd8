"""The one routing table: which task serves each kind of job, which queue each task is on, and
which queues each worker role consumes. The gateway, the workers, `celeryconfig` and Flower's
operators all read it from here; nothing else spells a task name or a queue.

Queues are named by role; the names themselves are settings (`QUEUE_*`), so two fleets can
share a broker. How each queue is declared on the broker (`celery_task_queues`) is here too.
"""

from __future__ import annotations

from typing import Final, Literal

from kombu.entity import Exchange, Queue

from eyeflow_worker.core.broker import fleet_broker_kind
from eyeflow_worker.core.settings import Settings

Kind = Literal["generate", "batch", "refine", "evaluate"]
QueueRole = Literal["interactive", "batch", "webhooks", "maintenance"]
WorkerRole = Literal["interactive", "batch"]


class Tasks:
    """Every task name the fleet registers (Celery tasks are sent by name)."""

    GENERATE: Final = "eyeflow.generate"
    REFINE: Final = "eyeflow.refine"
    EVALUATE: Final = "eyeflow.evaluate"
    BATCH_START: Final = "eyeflow.batch.start"
    BATCH_ITEM: Final = "eyeflow.batch.item"
    BATCH_ADMIT: Final = "eyeflow.batch.admit"
    ECONOMY_SUBMIT: Final = "eyeflow.economy.submit"
    ECONOMY_POLL: Final = "eyeflow.economy.poll"
    ECONOMY_SWEEP: Final = "eyeflow.economy.sweep"
    WEBHOOK_DELIVER: Final = "eyeflow.webhook.deliver"
    WEBHOOK_SWEEP: Final = "eyeflow.webhook.sweep"
    CONFIG_REFRESH_DUE: Final = "eyeflow.config.refresh_due"
    LEASE_REAP: Final = "eyeflow.leases.reap"


# kind -> the task that runs it (what a submission sends).
JOB_TASKS: Final[dict[Kind, str]] = {
    "generate": Tasks.GENERATE,
    "refine": Tasks.REFINE,
    "evaluate": Tasks.EVALUATE,
    "batch": Tasks.BATCH_START,
}

# task -> the queue (by role) it is sent to. Interactive work never waits behind a batch.
TASK_QUEUES: Final[dict[str, QueueRole]] = {
    Tasks.GENERATE: "interactive",
    Tasks.REFINE: "interactive",
    Tasks.EVALUATE: "interactive",
    Tasks.BATCH_START: "batch",
    Tasks.BATCH_ITEM: "batch",
    # Economy batches: submitting a round to the provider's batch API, and its polls (a few
    # cheap calls each; collection runs validate-and-repair on the batch workers).
    Tasks.ECONOMY_SUBMIT: "batch",
    Tasks.ECONOMY_POLL: "batch",
    # Beat's admission tick: short, and must not wait behind the batch queue it feeds.
    Tasks.BATCH_ADMIT: "maintenance",
    # Beat's economy safety net: re-sends the polls a lost countdown message left undone.
    Tasks.ECONOMY_SWEEP: "maintenance",
    # Beat's reaper: jobs whose worker died go back to their queue (workers reap too).
    Tasks.LEASE_REAP: "maintenance",
    Tasks.WEBHOOK_DELIVER: "webhooks",
    Tasks.WEBHOOK_SWEEP: "maintenance",
    Tasks.CONFIG_REFRESH_DUE: "maintenance",
}

# worker role -> the queues it consumes. Webhook deliveries and beat's jobs are short; they ride
# with interactive work.
WORKER_QUEUES: Final[dict[WorkerRole, tuple[QueueRole, ...]]] = {
    "interactive": ("interactive", "webhooks", "maintenance"),
    "batch": ("batch",),
}


def queue_name(role: QueueRole, settings: Settings) -> str:
    names: dict[QueueRole, str] = {
        "interactive": settings.queue_interactive,
        "batch": settings.queue_batch,
        "webhooks": settings.queue_webhooks,
        "maintenance": settings.queue_maintenance,
    }
    return names[role]


def all_queues(settings: Settings) -> tuple[str, ...]:
    roles: tuple[QueueRole, ...] = ("interactive", "batch", "webhooks", "maintenance")
    return tuple(queue_name(role, settings) for role in roles)


def queue_for(task: str, settings: Settings) -> str:
    return queue_name(TASK_QUEUES[task], settings)


def job_route(kind: Kind, settings: Settings) -> tuple[str, str]:
    """(task name, queue name) for a job of `kind`."""
    task = JOB_TASKS[kind]
    return task, queue_for(task, settings)


def worker_queues(role: WorkerRole, settings: Settings) -> list[str]:
    return [queue_name(queue, settings) for queue in WORKER_QUEUES[role]]


def celery_task_routes(settings: Settings) -> dict[str, dict[str, str]]:
    """Celery's `task_routes` for this table."""
    return {task: {"queue": queue_for(task, settings)} for task in TASK_QUEUES}


def celery_task_queues(settings: Settings) -> list[Queue]:
    """Celery's `task_queues`: every queue of the table, declared alike by whoever sends to or
    consumes it.

    On RabbitMQ each is a `BROKER_QUEUE_TYPE` queue (quorum by default: replicated, and a
    message a dead consumer held goes back at once) bound to a topic exchange of its own name:
    Celery's native delayed delivery sends a countdown's message through RabbitMQ's delay
    exchanges and back by topic binding (with a direct exchange the message would sit in a
    worker until due, as it does on Redis). On Redis a queue is what Celery would create by
    itself (a direct exchange of the queue's name), so nothing changes there."""
    amqp = fleet_broker_kind(settings) == "amqp"
    arguments = {"x-queue-type": settings.broker_queue_type} if amqp else None
    return [
        Queue(  # type: ignore[no-untyped-call]  # kombu is partly typed
            name,
            Exchange(name, type="topic" if amqp else "direct"),  # type: ignore[no-untyped-call]
            routing_key=name,
            queue_arguments=arguments,
        )
        for name in all_queues(settings)
    ]
