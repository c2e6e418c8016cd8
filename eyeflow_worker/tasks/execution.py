"""What every job shares: load the tenant's configuration, run the work, record the outcome.

Errors become the job's `error` object here and only here: a task never lets an exception
escape to Celery for something we understand, so the message is acknowledged and the caller
reads a stable error code instead of a traceback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import redis
from celery.exceptions import SoftTimeLimitExceeded
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from eyeflow_worker.core import log_context
from eyeflow_worker.core.deadline import Deadline
from eyeflow_worker.core.errors import EyeflowError
from eyeflow_worker.core.llm import Provider
from eyeflow_worker.core.llm_config import ProviderConfig
from eyeflow_worker.core.metrics import Increment, job_ended_increments
from eyeflow_worker.providers.registry import build_llm
from eyeflow_worker.runtime import Runtime
from eyeflow_worker.tasks.leasing import StartedJob

logger = logging.getLogger(__name__)

T = TypeVar("T")
JobWork = Callable[[Mapping[str, Any], "JobContext"], dict[str, Any]]


class JobContext:
    """One job: its runtime, tenant, deadline, and the tenant's configuration and provider
    (loaded on first use)."""

    def __init__(self, rt: Runtime, tenant: str, job_id: str) -> None:
        self.rt = rt
        self.tenant = tenant
        self.job_id = job_id
        self._config: ProviderConfig | None = None
        # Below the visibility timeout, so a job still working is never redelivered meanwhile.
        self.deadline = Deadline(rt.settings.task_soft_time_limit_seconds)

    @property
    def config(self) -> ProviderConfig:
        if self._config is None:
            self._config = self.rt.configs.llm_config(self.tenant)
        return self._config

    def aggregated_context(self, given: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        if given:
            return given
        return self.rt.configs.aggregated_context(self.tenant)

    def llm(self) -> Provider:
        """The tenant's provider chain; every attempt, retry and rate-limit wait (repair rounds
        included) is bounded by the job's deadline."""
        return build_llm(
            self.config,
            self.rt.settings,
            on_retry=self._on_retry,
            sleep=self._wait_then_resume,
            limiter_redis=self.rt.redis,
            deadline=self.deadline,
        )

    def _wait_then_resume(self, delay_seconds: float) -> None:
        """The retry wait: the job reads `retrying` during it and `running` again after it."""
        time.sleep(delay_seconds)
        self.rt.jobs.mark_running(self.job_id)

    def _on_retry(self, delay_seconds: float, error: Exception) -> None:
        code = error.code if isinstance(error, EyeflowError) else type(error).__name__
        logger.info("job %s: provider retry in %.1fs (%s)", self.job_id, delay_seconds, code)
        self.rt.jobs.mark_retrying(self.job_id)
        self.rt.metrics.count("eyeflow_provider_retries", code=code)


def error_for(exc: BaseException, job_id: str) -> dict[str, Any]:
    if isinstance(exc, EyeflowError):
        return exc.to_dict()
    if isinstance(exc, SoftTimeLimitExceeded):
        return {"code": "timeout", "message": "The job exceeded its time limit", "details": None}
    logger.exception("job %s failed unexpectedly", job_id)
    return {
        "code": "internal_error",
        "message": f"Unexpected worker error ({type(exc).__name__}); see worker logs for {job_id}",
        "details": None,
    }


# A Redis or broker error in the middle of a job is the infrastructure's, not the job's: it goes
# to Celery's infrastructure retry (`TRANSIENT_INFRA_RETRY`), never into a final `internal_error`.
INFRA_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def run_job(rt: Runtime, job: StartedJob, tenant: str, work: JobWork) -> None:
    """Run one job that `tasks.leasing.leased_job` leased and started: the script that stores
    its outcome also ends its lease (and counts its metrics)."""
    held, record, payload, job_id = job.held, job.record, job.payload, job.job_id
    # The job's own count of starts (a redelivery after a worker died is 2); Celery's postrun
    # gives the context back as the task found it.
    log_context.bind(attempt=int(record.get("attempts") or 1))
    context = JobContext(rt, tenant, job_id)
    result: dict[str, Any] | None = None
    try:
        result = work(payload, context)
    except INFRA_ERRORS:
        raise
    except Exception as exc:
        error = error_for(exc, job_id)
        counted = ended_counts(record, "failed")
        changed = durably(lambda: rt.jobs.fail(job_id, error, counted, held.token))
    else:
        outcome = result
        counted = ended_counts(record, "succeeded")
        changed = durably(lambda: rt.jobs.succeed(job_id, outcome, counted, held.token))
    # Also when the job had ended meanwhile (cancelled): the script ended the lease either way.
    held.ended_with_job()
    # The job is counted by the very script that ended it (no round trip of its own); what is
    # left is queueing its webhook.
    if changed and record.get("webhook_url"):
        rt.webhooks.queue(job_id)
    if result is not None:
        record_usage(rt, result, tenant)


def job_already_ended(rt: Runtime, job_id: str) -> None:
    """A message for a job that is finished or cancelled: nothing runs; its webhook is queued
    again should the worker that ended it have died before queueing it."""
    logger.info("job %s is already finished or cancelled; skipping", job_id)
    rt.webhooks.requeue_if_lost(job_id, rt.jobs.get(job_id))


def durably(write: Callable[[], T]) -> T:
    """Run a job's final write, retrying a Redis blip for up to a minute.

    The result is paid-for LLM work held only in memory: letting the error escape would make
    the task's own retry run the whole job (and its provider calls) again. The first try goes
    straight to Redis: building the retry loop costs more than a trivial job's write (hot path
    round 3), so it is built only once a try has failed.
    """
    try:
        return write()
    except INFRA_ERRORS:
        pass
    retrying = Retrying(
        retry=retry_if_exception_type(INFRA_ERRORS),
        wait=wait_exponential(multiplier=0.5, max=10),
        stop=stop_after_delay(60),
        reraise=True,
    )
    return retrying(write)


def record_usage(rt: Runtime, result: Mapping[str, Any], tenant: str | None = None) -> None:
    provider = result.get("provider")
    usage = result.get("usage")
    if not isinstance(provider, str) or not isinstance(usage, Mapping):
        return
    rt.metrics.count(
        "eyeflow_tokens", int(usage.get("input_tokens", 0)), provider=provider, direction="input"
    )
    rt.metrics.count(
        "eyeflow_tokens", int(usage.get("output_tokens", 0)), provider=provider, direction="output"
    )
    if tenant is not None:
        record_tenant_usage(rt, tenant, usage, result.get("cost_usd"))
    elapsed_ms = result.get("generation_time_ms")
    if isinstance(elapsed_ms, int | float):
        rt.metrics.observe_latency(provider, elapsed_ms / 1000)


def record_tenant_usage(rt: Runtime, tenant: str, usage: Mapping[str, Any], cost: Any) -> None:
    """Tokens and cost per tenant (the dashboard's spend panels). Cost is counted in micro-USD:
    the shared counters are integers; an unpriced model (`cost_usd: null`) adds nothing."""
    for direction in ("input", "output"):
        amount = int(usage.get(f"{direction}_tokens", 0))
        rt.metrics.count("eyeflow_tenant_tokens", amount, tenant=tenant, direction=direction)
    if isinstance(cost, int | float):
        rt.metrics.count("eyeflow_tenant_cost_microusd", round(cost * 1_000_000), tenant=tenant)


def finished(rt: Runtime, job_id: str, status: str, record: Mapping[str, str]) -> None:
    """Queue the webhook of a job that just reached a terminal status (first: it is the part a
    caller waits on), then count it. `record` is the job as read once it had started."""
    if record.get("webhook_url"):
        rt.webhooks.queue(job_id)
    queue_wait, run = _times(record)
    rt.metrics.job_ended(record.get("kind", "generate"), status, queue_wait=queue_wait, run=run)


def ended_counts(record: Mapping[str, str], status: str) -> list[Increment]:
    """The metrics a job ending now with `status` adds (`record`: as read once it started)."""
    queue_wait, run = _times(record)
    return job_ended_increments(
        record.get("kind", "generate"), status, queue_wait=queue_wait, run=run
    )


def _times(record: Mapping[str, str]) -> tuple[float | None, float | None]:
    """Queue wait (created → started) and run time (started → now), seconds."""
    created, started = _parse_time(record.get("created_at")), _parse_time(record.get("started_at"))
    queue_wait = started - created if created and started else None
    return queue_wait, (time.time() - started if started else None)


def _parse_time(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
