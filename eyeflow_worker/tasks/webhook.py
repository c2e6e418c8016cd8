"""Webhook delivery: POST the task object, signed, retried with backoff for a bounded time."""

from __future__ import annotations

import logging
import time
from functools import lru_cache

import httpx
from celery import Task

from eyeflow_worker.celery_app import app
from eyeflow_worker.core.celery_factory import TRANSIENT_INFRA_RETRY
from eyeflow_worker.core.records import public_view, utc_now
from eyeflow_worker.runtime import Runtime, runtime
from eyeflow_worker.webhooks import DeliveryFailed, backoff_delay, post_delivery, sign_delivery

logger = logging.getLogger(__name__)


# A job normally has its delivery queued milliseconds after it ends; one still in the outbox
# after this long lost its worker in between.
_OUTBOX_GRACE_SECONDS = 60.0


def queue_webhook(rt: Runtime, job_id: str) -> None:
    deliver_webhook.apply_async(args=[job_id])
    rt.jobs.mark_webhook_queued(job_id)


@app.task(name="eyeflow.webhook.sweep", **TRANSIENT_INFRA_RETRY)
def sweep_webhook_outbox(older_than_seconds: float = _OUTBOX_GRACE_SECONDS) -> int:
    """Beat: queue the deliveries of jobs that ended but whose worker died before queueing."""
    rt = runtime()
    queued = 0
    for job_id in rt.jobs.pending_webhooks(older_than_seconds):
        record = rt.jobs.get(job_id)
        if record is None or not record.get("webhook_url") or record.get("webhook_queued_at"):
            rt.jobs.drop_from_outbox(job_id)
            continue
        logger.warning("job %s ended without its webhook queued; queueing it now", job_id)
        queue_webhook(rt, job_id)
        queued += 1
    return queued


@lru_cache(maxsize=1)
def _http_client(timeout_seconds: float) -> httpx.Client:
    # Redirects are not followed: the allow-list was checked against the URL we were given.
    return httpx.Client(timeout=timeout_seconds, follow_redirects=False)


@app.task(name="eyeflow.webhook.deliver", bind=True, **TRANSIENT_INFRA_RETRY)
def deliver_webhook(self: Task, job_id: str, first_attempt_at: float | None = None) -> None:
    rt = runtime()
    settings = rt.settings
    record = rt.jobs.get(job_id)
    url = (record or {}).get("webhook_url")
    if record is None or not url:
        logger.warning("webhook for %s dropped: the job record is gone", job_id)
        return
    started = first_attempt_at or time.time()
    view = public_view(job_id, record)
    # The id is stable across retries of one event, so receivers can deduplicate on it.
    delivery = sign_delivery(
        settings.webhook_signing_secret, f"msg_{job_id}_{view['status']}", view
    )
    attempt = self.request.retries + 1
    try:
        post_delivery(_http_client(settings.webhook_timeout_seconds), url, delivery)
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
