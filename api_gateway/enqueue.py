"""Turning an accepted request into a queued job: idempotency, the job record, the Celery message.

The record is written before the message is sent and removed again if the broker refuses it, so
a 202 always means "a worker will see this", and a 503 means "nothing was kept".
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis
from celery import Celery
from kombu.exceptions import OperationalError

from eyeflow_worker.core.records import JobStore, NewJob
from eyeflow_worker.core.routing import Kind, job_route
from eyeflow_worker.core.settings import Settings


class BrokerUnavailable(Exception):
    """The broker could not take the message; nothing was enqueued."""


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different request body."""


class IdempotencyInProgress(IdempotencyConflict):
    """The first request with this Idempotency-Key has not finished enqueueing yet."""


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
        celery: Celery,
        settings: Settings,
    ) -> None:
        self._redis = client
        self._jobs = jobs
        self._celery = celery
        self._settings = settings
        self._idempotency_ttl = settings.idempotency_ttl_seconds

    def submit(
        self,
        *,
        tenant: str,
        kind: Kind,
        payload: dict[str, Any],
        webhook_url: str | None,
        intents: tuple[str, ...] = (),
        idempotency_key: str | None = None,
        fingerprint_body: dict[str, Any] | None = None,
    ) -> Submission:
        """Enqueue a job. `fingerprint_body` is the whole request body (intents and webhook URL
        included): an Idempotency-Key reused with any other body is a conflict."""
        job_id = str(uuid.uuid4())
        claim_key: str | None = None
        claim_fingerprint = ""
        if idempotency_key is not None:
            body = fingerprint_body if fingerprint_body is not None else payload
            claim_fingerprint = _fingerprint(kind, body)
            claim_key, existing = self._claim(tenant, idempotency_key, claim_fingerprint, job_id)
            if existing is not None:
                return Submission(existing, kind, created=False)
        job = NewJob(
            job_id, tenant, kind, payload, webhook_url, intents, self._deadline_at(kind, payload)
        )
        task, queue = job_route(kind, self._settings)
        try:
            self._jobs.create(job)
            self._celery.send_task(
                task, args=[job_id, tenant], task_id=job_id, queue=queue, retry=False
            )
        except (OperationalError, redis.exceptions.RedisError) as exc:
            self._forget(job_id, claim_key)
            raise BrokerUnavailable(str(exc)) from None
        except Exception:
            # Anything else (a value Redis cannot encode, which the body parse should have
            # refused) is a bug answered with 500 — but it must not hold the Idempotency-Key,
            # or the caller's corrected request would be told "still being processed".
            self._forget(job_id, claim_key)
            raise
        if claim_key is not None:
            # Only now may a repeat of this request be answered with the job: it really exists.
            ready = self._claim_value(claim_fingerprint, job_id, True)
            try:
                self._redis.set(claim_key, ready, xx=True, ex=self._idempotency_ttl)
            except redis.exceptions.RedisError:
                # The job is enqueued and will run: say so. The pending claim expires shortly.
                logger.warning(
                    "job %s enqueued but its Idempotency-Key claim not confirmed", job_id
                )
        return Submission(job_id, kind, created=True)

    def _deadline_at(self, kind: Kind, payload: dict[str, Any]) -> float | None:
        """A batch's deadline (epoch seconds): its own `deadline` from now, or the fleet's."""
        if kind != "batch":
            return None
        seconds = payload.get("deadline") or self._settings.batch_deadline_seconds
        return time.time() + float(seconds)

    def _claim(
        self, tenant: str, key: str, fingerprint: str, job_id: str
    ) -> tuple[str, str | None]:
        """Reserve the key for `job_id`; or return the job that already holds it."""
        claim_key = f"eyeflow:idempotency:{tenant}:{hashlib.sha256(key.encode()).hexdigest()}"
        claim = self._claim_value(fingerprint, job_id, False)
        # A pending claim lives briefly: if this gateway dies before enqueueing, the key must not
        # answer "still being processed" for a day.
        if self._redis.set(claim_key, claim, nx=True, ex=_PENDING_CLAIM_SECONDS):
            return claim_key, None
        held = json.loads(self._redis.get(claim_key) or "{}")
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
        return claim_key, str(held["job_id"])

    @staticmethod
    def _claim_value(fingerprint: str, job_id: str, ready: bool) -> str:
        return json.dumps({"fingerprint": fingerprint, "job_id": job_id, "ready": ready})

    def _forget(self, job_id: str, claim_key: str | None) -> None:
        try:
            self._jobs.discard(job_id)
            if claim_key is not None:
                self._redis.delete(claim_key)
        except redis.exceptions.RedisError:
            pass  # Redis itself is down: the record expires with its TTL.


def _fingerprint(kind: str, body: dict[str, Any]) -> str:
    canonical = json.dumps({"kind": kind, "body": body}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
