"""Turning an accepted request into a queued job: idempotency, the job record, the Celery message.

On the records' own Redis (the default broker) the rate token, the Idempotency-Key's claim, the
record and the message are one script (`core/collected_send.py`): all or nothing. On another
broker (RabbitMQ) the record is written first and removed again if the broker refuses the
message. Either way a 202 means "a worker will see this"; a 503 means nothing was kept — or, the
one ambiguity, Redis answered nothing about a script that may have run: then a retry under the
same Idempotency-Key gets the job if it exists.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass
from functools import partial
from typing import Any

import redis
from celery import Celery
from kombu.exceptions import OperationalError
from starlette.concurrency import run_in_threadpool

from eyeflow_worker.core import log_context
from eyeflow_worker.core.collected_send import CollectedSender, collects_sends
from eyeflow_worker.core.records import Acceptance, Claim, JobStore, NewJob
from eyeflow_worker.core.records_async import AsyncRecords
from eyeflow_worker.core.routing import Kind, job_route
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.core.submit_rate import SubmitRate


class BrokerUnavailable(Exception):
    """The broker could not take the message; nothing was enqueued."""


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different request body."""


class IdempotencyInProgress(IdempotencyConflict):
    """The first request with this Idempotency-Key has not finished enqueueing yet."""


class SubmissionRateLimited(Exception):
    """The tenant is over its submission rate; nothing was written or enqueued."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"retry in {retry_after:.1f} s")
        self.retry_after = retry_after


_PENDING_CLAIM_SECONDS = 60
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Submission:
    job_id: str
    kind: Kind
    created: bool  # False: an earlier job was returned for the same Idempotency-Key


class Submitter:
    def __init__(
        self,
        client: redis.Redis,
        jobs: JobStore,
        records: AsyncRecords,
        celery: Celery,
        settings: Settings,
    ) -> None:
        self._redis = client
        self._jobs = jobs
        self._records = records
        self._celery = celery
        self._settings = settings
        self._idempotency_ttl = settings.idempotency_ttl_seconds
        # Taken in the same script that writes the record (a repeat under a held
        # Idempotency-Key takes none).
        self._release_claim = client.register_script(_RELEASE_OWN_CLAIM)
        # On the records' own Redis the record's script also enqueues the message (one round
        # trip, both or neither); on another broker the message is sent after the record.
        self._collector = CollectedSender(celery) if collects_sends(settings) else None
        self._rate = SubmitRate(
            client, settings.tenant_submit_rate_per_minute, settings.tenant_submit_burst
        )

    async def submit(
        self,
        *,
        tenant: str,
        kind: Kind,
        payload: dict[str, Any],
        webhook_url: str | None,
        intents: tuple[str, ...] = (),
        idempotency_key: str | None = None,
        fingerprint_body: dict[str, Any] | None = None,
        job_id: str | None = None,
        waited: bool = False,
    ) -> Submission:
        """Enqueue a job. `fingerprint_body` is the whole request body (intents and webhook URL
        included): an Idempotency-Key reused with any other body is a conflict. `job_id`: the
        new job's id, when the caller needs it beforehand (`?wait` watches it before the job
        exists); a fresh one otherwise. `waited`: the caller waits for the job's end (its done
        message carries the record). Over the tenant's rate: `SubmissionRateLimited`.

        Collected (the records' Redis is the broker), on the event loop: one script on the
        asyncio client. Otherwise the record, the broker's send and the claim's confirmation
        are blocking calls, made on the thread pool."""
        job_id = job_id or str(uuid.uuid4())
        # What is logged while the job is enqueued names it; the binding ends with the call.
        with log_context.bound(task_id=job_id, tenant=tenant, kind=kind, attempt=0):
            claim_fingerprint = ""
            if idempotency_key is not None:
                body = fingerprint_body if fingerprint_body is not None else payload
                claim_fingerprint = _fingerprint(kind, body)
            deadline_at = self._deadline_at(kind, payload)
            job = NewJob(job_id, tenant, kind, payload, webhook_url, intents, deadline_at, waited)
            claim = self._claim(tenant, idempotency_key, claim_fingerprint, job_id)
            task, queue = job_route(kind, self._settings)
            if self._collector is None:
                accept = partial(
                    self._accept_separately, job, claim, claim_fingerprint, task, queue
                )
                accepted = await run_in_threadpool(accept)
            else:
                accepted = await self._accept_collected(self._collector, job, claim, task, queue)
            return self._settled(accepted, job, claim_fingerprint, queue)

    def close(self) -> None:
        if self._collector is not None:
            self._collector.close()

    def _claim(
        self, tenant: str, idempotency_key: str | None, fingerprint: str, job_id: str
    ) -> Claim | None:
        if idempotency_key is None:
            return None
        collected = self._collector is not None
        return Claim(
            _claim_key(tenant, idempotency_key),
            self._claim_value(fingerprint, job_id, collected),
            # Collected, the claim is written with the record and the message: ready at once,
            # for its whole TTL. Otherwise it is pending until the message is sent, and lives
            # briefly: if this gateway dies before enqueueing, the key must not answer "still
            # being processed" for a day.
            self._idempotency_ttl if collected else _PENDING_CLAIM_SECONDS,
        )

    def _settled(
        self, accepted: Acceptance, job: NewJob, fingerprint: str, queue: str
    ) -> Submission:
        """The submission the script's answer makes: over the rate (raised), an idempotent
        repeat (the existing job, or a conflict raised), or the new job."""
        if accepted.outcome == "rate":
            raise SubmissionRateLimited(accepted.retry_after or 1.0)
        if accepted.outcome == "held":
            existing = _held_job(accepted.held_value or "{}", fingerprint)
            log_context.bind(task_id=existing)
            logger.info("idempotent repeat: answered with the existing job")
            return Submission(existing, job.kind, created=False)
        logger.info("job queued on %s", queue)
        return Submission(job.job_id, job.kind, created=True)

    async def _accept_collected(
        self, collector: CollectedSender, job: NewJob, claim: Claim | None, task: str, queue: str
    ) -> Acceptance:
        """The rate token, the claim, the record and the message in one script: all or nothing,
        so nothing is ever undone. Its reply lost (a timeout, a dropped connection): the script
        ran in full or not at all, so a record that exists now is the job, enqueued — and one
        that may exist (Redis gone before it could be checked) is a job that runs: an
        Idempotency-Key's retry finds it by its claim."""
        try:
            if not collector.ready:
                # The first send connects and declares the queues: blocking, once.
                await run_in_threadpool(collector.prepare)
            message = collector.commands(
                task, args=[job.job_id, job.tenant], task_id=job.job_id, queue=queue
            )
            try:
                return await self._records.accept(
                    job, rate=self._rate, claim=claim, message=message
                )
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                if not await self._records.exists(job.job_id):
                    raise
                logger.warning("job %s accepted (reply lost; the record is there)", job.job_id)
                return Acceptance("created")
        except (OperationalError, redis.exceptions.RedisError) as exc:
            raise BrokerUnavailable(str(exc)) from None

    def _accept_separately(
        self, job: NewJob, claim: Claim | None, fingerprint: str, task: str, queue: str
    ) -> Acceptance:
        """Another broker (RabbitMQ): the record (with the rate token and the claim, pending)
        in one round trip, then the message, then the claim confirmed. Blocking calls."""
        created = False  # the script wrote the record (and took the rate token)
        try:
            accepted = self._jobs.accept(job, rate=self._rate, claim=claim)
            created = accepted.outcome == "created"
            if created:
                self._celery.send_task(
                    task, args=[job.job_id, job.tenant], task_id=job.job_id, queue=queue,
                    retry=False,
                )  # fmt: skip
        except (OperationalError, redis.exceptions.RedisError) as exc:
            self._forget(job.job_id, claim)
            if created:  # the broker refused it: nothing was kept, nothing is charged
                self._give_back(job.tenant)
            raise BrokerUnavailable(str(exc)) from None
        except Exception:
            # Anything else (a value Redis cannot encode, which the body parse should have
            # refused) is a bug answered with 500 — but it must not hold the Idempotency-Key,
            # or the caller's corrected request would be told "still being processed".
            self._forget(job.job_id, claim)
            raise
        if created and claim is not None:
            self._confirm_claim(claim, fingerprint, job.job_id)
        return accepted

    def _confirm_claim(self, claim: Claim, fingerprint: str, job_id: str) -> None:
        """Only now may a repeat of this request be answered with the job: it really exists."""
        ready = self._claim_value(fingerprint, job_id, True)
        try:
            self._redis.set(claim.key, ready, xx=True, ex=self._idempotency_ttl)
        except redis.exceptions.RedisError:
            # The job is enqueued and will run: say so. The pending claim expires shortly.
            logger.warning("job %s enqueued but its Idempotency-Key claim not confirmed", job_id)

    def _deadline_at(self, kind: Kind, payload: dict[str, Any]) -> float | None:
        """A batch's deadline (epoch seconds): its own `deadline` from now, or the fleet's."""
        if kind != "batch":
            return None
        seconds = payload.get("deadline") or self._settings.batch_deadline_seconds
        return time.time() + float(seconds)

    @staticmethod
    def _claim_value(fingerprint: str, job_id: str, ready: bool) -> str:
        return json.dumps({"fingerprint": fingerprint, "job_id": job_id, "ready": ready})

    def _give_back(self, tenant: str) -> None:
        # Redis down: the bucket refills with time anyway.
        with contextlib.suppress(redis.exceptions.RedisError):
            self._rate.give_back(tenant)

    def _forget(self, job_id: str, claim: Claim | None) -> None:
        """Undo a submission that failed: its record, and its claim — only if the claim is this
        request's own pending one. The script may have answered `held` (another request's
        claim) with the reply lost to a timeout: that claim is not ours to delete."""
        try:
            self._jobs.discard(job_id)
            if claim is not None:
                self._release_claim(keys=[claim.key], args=[claim.value])
        except redis.exceptions.RedisError:
            pass  # Redis itself is down: the record and a pending claim expire with their TTL.


# Compare-and-delete: the claim goes only while it still holds the value this request set.
_RELEASE_OWN_CLAIM = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _claim_key(tenant: str, key: str) -> str:
    return f"eyeflow:idempotency:{tenant}:{hashlib.sha256(key.encode()).hexdigest()}"


def _held_job(held_value: str, fingerprint: str) -> str:
    """The job a claim already held names; a conflict when it was for another body, or while
    its first request is still enqueueing."""
    held = json.loads(held_value)
    if held.get("fingerprint") != fingerprint:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used with a different request body"
        )
    if not held.get("ready"):
        # The first request is still enqueueing (or about to fail with 503): its job id
        # cannot be promised yet.
        raise IdempotencyInProgress(
            "A request with this Idempotency-Key is still being processed; retry shortly"
        )
    return str(held["job_id"])


def _fingerprint(kind: str, body: dict[str, Any]) -> str:
    canonical = json.dumps({"kind": kind, "body": body}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
