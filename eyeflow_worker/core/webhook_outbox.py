"""Queueing a job's webhook delivery: the one way it is done — when a job ends (worker), when it
is cancelled (gateway), and when a delivery that was never queued is found again (a redelivered
message for a finished job, or beat's sweep of the outbox).

A job with a webhook enters the outbox in the same atomic step as its final status (see
`transitions.ENDED`); queueing the delivery takes it out. Should a worker die in between, the
sweep finds it there, so a webhook is never lost to a crash. A rare duplicate delivery is
harmless: receivers deduplicate on the stable `webhook-id`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from celery import Celery

from eyeflow_worker.core.records import JobStore
from eyeflow_worker.core.routing import Tasks, queue_for
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.core.task_view import TERMINAL

logger = logging.getLogger(__name__)

# A job normally has its delivery queued milliseconds after it ends; one still in the outbox
# after this long lost its worker in between.
OUTBOX_GRACE_SECONDS = 60.0


class WebhookOutbox:
    def __init__(self, celery: Celery, jobs: JobStore, settings: Settings) -> None:
        self._celery = celery
        self._jobs = jobs
        self._queue = queue_for(Tasks.WEBHOOK_DELIVER, settings)

    def queue(self, job_id: str) -> None:
        """Send the delivery task; the job leaves the outbox. Broker errors propagate."""
        self._celery.send_task(Tasks.WEBHOOK_DELIVER, args=[job_id], queue=self._queue)
        self._jobs.mark_webhook_queued(job_id)

    def requeue_if_lost(self, job_id: str, record: Mapping[str, str] | None) -> bool:
        """Queue the delivery of a job that ended with a webhook never queued; True if it was."""
        if (
            record is None
            or record.get("status") not in TERMINAL
            or not record.get("webhook_url")
            or record.get("webhook_queued_at")
        ):
            return False
        logger.warning("job %s ended without its webhook queued; queueing it now", job_id)
        self.queue(job_id)
        return True

    def sweep(self, older_than_seconds: float = OUTBOX_GRACE_SECONDS) -> int:
        """Queue every delivery still in the outbox after `older_than_seconds`; how many."""
        queued = 0
        for job_id in self._jobs.pending_webhooks(older_than_seconds):
            if self.requeue_if_lost(job_id, self._jobs.get(job_id)):
                queued += 1
            else:
                self._jobs.drop_from_outbox(job_id)
        return queued
