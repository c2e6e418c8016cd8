"""Webhook delivery: POST the task object, signed, retried with backoff for a bounded time."""

from __future__ import annotations

import logging
import time

from eyeflow_worker.celery_app import app
from eyeflow_worker.core import log_context
from eyeflow_worker.core.records import utc_now
from eyeflow_worker.core.routing import Tasks
from eyeflow_worker.core.task_view import task_view
from eyeflow_worker.tasks.base import TASK_OPTIONS, RuntimeTask
from eyeflow_worker.webhook_delivery import (
    DeliveryFailed,
    backoff_delay,
    post_delivery,
    sign_delivery,
    webhook_client,
)

logger = logging.getLogger(__name__)


@app.task(name=Tasks.WEBHOOK_DELIVER, **TASK_OPTIONS)
def deliver_webhook(self: RuntimeTask, job_id: str, first_attempt_at: float | None = None) -> None:
    rt = self.rt
    settings = rt.settings
    record = rt.jobs.get(job_id)
    url = (record or {}).get("webhook_url")
    if record is None or not url:
        logger.warning("webhook for %s dropped: the job record is gone", job_id)
        return
    # The job's fields on this delivery's lines (Celery's postrun drops them).
    log_context.bind(
        tenant=record.get("tenant"), kind=record.get("kind"), attempt=record.get("attempts")
    )
    started = first_attempt_at or time.time()
    view = task_view(job_id, record).to_json()
    # The id is stable across retries of one event, so receivers can deduplicate on it; a batch
    # re-run (`POST .../retry`) ends in a new event, so its run is part of the id.
    run = record.get("retries", "0")
    event_id = f"msg_{job_id}_{view['status']}" + (f"_r{run}" if run != "0" else "")
    delivery = sign_delivery(settings.webhook_signing_secret, event_id, view)
    attempt = self.request.retries + 1
    try:
        post_delivery(webhook_client(settings), url, delivery)  # the egress guard, at connect time
    except DeliveryFailed as failure:
        rt.metrics.count("eyeflow_webhook_deliveries", outcome="failed")
        delay = backoff_delay(attempt, settings.webhook_backoff_base_seconds)
        out_of_time = time.time() + delay - started > settings.webhook_retry_window_seconds
        state = {"status": "retrying", "attempts": attempt, "last_error": str(failure)}
        if attempt >= settings.webhook_max_attempts or out_of_time:
            logger.error("webhook for %s abandoned after %d attempts: %s", job_id, attempt, failure)
            rt.jobs.record_webhook(job_id, {**state, "status": "failed"})
            rt.metrics.count("eyeflow_webhook_deliveries", outcome="abandoned")
            return
        rt.jobs.record_webhook(job_id, state)
        logger.info(
            "webhook for %s failed (%s); retry %d in %.1fs", job_id, failure, attempt, delay
        )
        raise self.retry(
            countdown=delay,
            max_retries=settings.webhook_max_attempts,
            kwargs={"job_id": job_id, "first_attempt_at": started},
            args=[],
        ) from None
    rt.jobs.record_webhook(
        job_id, {"status": "delivered", "attempts": attempt, "delivered_at": utc_now()}
    )
    rt.metrics.count("eyeflow_webhook_deliveries", outcome="delivered")
