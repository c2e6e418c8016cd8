"""The workers' Celery consumer (`worker_consumer` in celeryconfig): Celery's own, with two
repairs for how this fleet runs (the threads pool; RabbitMQ workers that consume only some of
the queues).

**Soft shutdown on the threads pool.** A cold shutdown (a graceful stop, with
REMAP_SIGTERM=SIGQUIT) waits `worker_soft_shutdown_timeout` for running jobs, then cancels those
still running so that their messages (late acks) go back to the broker. Celery cancels a job by
killing the process that runs it; the threads pool has no process per job and raises
NotImplementedError there, so the shutdown stalls until every running job ends — and a worker
killed at the orchestrator's deadline leaves its messages, on Redis, to the visibility timeout.
Here a running job's message is handed back instead (`reject(requeue=True)`, at once, on the
connection it came on) and another worker starts the job while this one stops. The thread
cannot be stopped and may still finish its copy: every job is safe to run twice (records keyed
by id, atomic transitions, the job's lease). Its own ack at the end is then skipped (the
message is no longer this worker's). A job that already succeeded keeps its ack; other pools
keep Celery's behaviour. Just before a message goes back, `job_handed_back` is sent with its
Celery request: whoever guards the job (its lease) can hand it to that very message, so the
worker that receives it runs it instead of finding it held.

**Native delayed delivery on RabbitMQ.** At start-up Celery binds every queue of the app to its
delay exchanges, but a worker has declared only the queues it consumes: binding the others
fails (`NOT_FOUND - no exchange 'eyeflow.batch'`) and Celery then turns delayed delivery off
for the whole worker. Every queue of the routing table is declared first (declaring is
idempotent; all are declared alike, `routing.celery_task_queues`).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from celery.concurrency.thread import TaskPool as ThreadsPool
from celery.utils.dispatch import Signal
from celery.worker.consumer import Consumer as CeleryConsumer
from celery.worker.consumer.delayed_delivery import DelayedDelivery as CeleryDelayedDelivery
from celery.worker.state import active_requests, successful_requests
from kombu.common import Broadcast

logger = logging.getLogger(__name__)

# Sent (`request=`: Celery's Request of the job) just before a running job's message is handed
# back to the broker at a soft shutdown.
job_handed_back = Signal(name="eyeflow_job_handed_back")

_CELERY_DELAYED_DELIVERY = "celery.worker.consumer.delayed_delivery:DelayedDelivery"


class DelayedDelivery(CeleryDelayedDelivery):  # type: ignore[misc]  # Celery is untyped
    def _bind_queues(self, app: Any, connection: Any) -> None:
        channel = connection.default_channel
        for queue in app.amqp.queues.values():
            if not isinstance(queue, Broadcast):
                queue.bind(channel).declare()
        super()._bind_queues(app, connection)


class Consumer(CeleryConsumer):  # type: ignore[misc]
    class Blueprint(CeleryConsumer.Blueprint):  # type: ignore[misc]
        default_steps: ClassVar[list[str]] = [
            f"{__name__}:DelayedDelivery" if step == _CELERY_DELAYED_DELIVERY else step
            for step in CeleryConsumer.Blueprint.default_steps
        ]

    def cancel_active_requests(self) -> None:
        if not isinstance(self.pool, ThreadsPool):
            super().cancel_active_requests()
            return
        handed = 0
        for request in tuple(active_requests):
            still_ours = request.task.acks_late and not request.acknowledged
            if not still_ours or request.id in successful_requests:
                continue
            try:
                job_handed_back.send(sender=self, request=request)
                request.message.reject(requeue=True)
                handed += 1
            except Exception as error:  # the connection is gone: the broker gets it back anyway
                logger.warning("could not hand back %s at shutdown: %s", request.id, error)
            request.acknowledged = True
        if handed:
            logger.warning("soft shutdown: handed %d running jobs back to the broker", handed)
