"""What both batch adapters (`anthropic_batches.py`, `openai_batches.py`) decide the same way:
a 404 just after `create` is "not visible yet", results not readable yet are "ask again later",
and a per-item HTTP error becomes an outcome by the same rules as a realtime error
(`http_errors.error_from_status`). Nothing here knows an SDK; nothing here is wired into tasks.
"""

from __future__ import annotations

import time

from eyeflow_worker.core.batch_api import BatchItemOutcome, OutcomeKind, ProviderBatch
from eyeflow_worker.core.errors import ProviderRequestError, ProviderUnavailable
from eyeflow_worker.providers.http_errors import error_from_status, redact

# Both providers may answer 404 for a batch for a few seconds after creating it (eventual
# consistency); within this many seconds of `created_at` a 404 is retried, not a failure.
NOT_FOUND_GRACE_SECONDS = 120.0
# How long the caller should wait before asking again about a batch that is not ready.
POLL_AGAIN_SECONDS = 5.0


def within_grace(batch: ProviderBatch | None, now: float | None = None) -> bool:
    if batch is None:
        return False
    now = time.time() if now is None else now
    return now - batch.created_at < NOT_FOUND_GRACE_SECONDS


def not_visible_yet(batch: ProviderBatch) -> ProviderUnavailable:
    return ProviderUnavailable(
        f"{batch.provider} does not know batch {batch.batch_id} yet (404 just after create)",
        details={"provider": batch.provider, "batch_id": batch.batch_id, "status": 404},
        retry_after=POLL_AGAIN_SECONDS,
    )


def not_ready(batch: ProviderBatch, why: str) -> ProviderUnavailable:
    """The batch's results cannot be read yet: retryable, so the caller polls again."""
    return ProviderUnavailable(
        f"{batch.provider} batch {batch.batch_id}: {why}",
        details={"provider": batch.provider, "batch_id": batch.batch_id},
        retry_after=POLL_AGAIN_SECONDS,
    )


def empty_batch(provider: str) -> ProviderRequestError:
    return ProviderRequestError(
        f"{provider}: a batch needs at least one request", details={"provider": provider}
    )


def duplicate_id(provider: str, custom_id: str) -> ProviderRequestError:
    return ProviderRequestError(
        f"{provider}: custom_id {custom_id!r} appears twice in one batch",
        details={"provider": provider},
    )


def error_outcome(
    provider: str,
    custom_id: str,
    status: int,
    message: str,
    secret: str | None,
    *,
    overloaded: bool = False,
) -> BatchItemOutcome:
    """An item the provider answered with an HTTP error: `invalid_request` when a realtime call
    would have been refused for good (400/404/422), `errored` otherwise, retryable as a realtime
    call would be (429/5xx/overloaded yes, 401/403 no)."""
    error = error_from_status(provider, status, redact(message, secret), {}, overloaded=overloaded)
    kind: OutcomeKind = "invalid_request" if isinstance(error, ProviderRequestError) else "errored"
    return BatchItemOutcome(custom_id, kind, error_message=error.message, retryable=error.retryable)


def malformed_outcome(provider: str, custom_id: str, reason: str) -> BatchItemOutcome:
    """A result line we could not read: like a malformed realtime answer, worth retrying."""
    return BatchItemOutcome(
        custom_id,
        "errored",
        error_message=f"{provider} returned a malformed batch result: {reason}",
        retryable=True,
    )
