"""Anthropic's Message Batches API through the official SDK, behind `core.batch_api.BatchAPI`.

Each request's `params` are built by `anthropic.message_params`, the realtime call's own
builder, with the shared system prefix marked `cache_control: {"type": "ephemeral", "ttl": "1h"}`
(a batch may take longer than 5 minutes to reach its later items). Results are priced at the
batch rate with 1-hour cache writes (`pricing.py`).

Custom ids: Anthropic accepts only `^[a-zA-Z0-9_-]{1,64}$`. An item id of that form is sent as
is; any other is sent as `x-` + its URL-safe base64 (no padding) when that fits in 64 characters
— reversible with no state; a longer one as `h-` + a SHA-256 prefix, kept in
`ProviderBatch.aliases` (rebuildable from the item ids with `custom_id_for`). Ids that already
start with `x-`/`h-` are encoded too, so decoding is never ambiguous.

Reconciliation (`find`): Message Batches carry no metadata, so a batch is recognised by its
creation time window and request count (list is newest first; we stop at the window's start).

Not done here: splitting batches beyond Anthropic's limits (100,000 requests / 256 MB), the
batch API's own rate-limit headers, and anything in `tasks/` (nothing calls this yet).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import anthropic
import httpx2
from anthropic.types.messages import MessageBatch, MessageBatchIndividualResponse
from anthropic.types.messages.batch_create_params import Request

from eyeflow_worker.core.batch_api import (
    BatchItemOutcome,
    BatchRequest,
    BatchStatus,
    ProviderBatch,
    ProviderBatchState,
    RequestCounts,
)
from eyeflow_worker.core.errors import ProviderError
from eyeflow_worker.core.llm_config import ProviderConfig
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.providers.anthropic import (
    DEFAULT_BASE_URL,
    AnthropicProvider,
    foreign_cause,
    make_client,
    message_params,
    read_message,
    secret_of,
    translate_anthropic_error,
)
from eyeflow_worker.providers.batch_common import (
    duplicate_id,
    empty_batch,
    error_outcome,
    malformed_outcome,
    not_ready,
    not_visible_yet,
    within_grace,
)
from eyeflow_worker.providers.http_errors import (
    MALFORMED_ERRORS,
    connection_error,
    malformed_reason,
    malformed_response,
)
from eyeflow_worker.providers.pricing import cost_usd

T = TypeVar("T")

SAFE_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_ENCODED = "x-"
_HASHED = "h-"
_LIST_PAGE_SIZE = 100
# Anthropic's error `type` in an errored result → the HTTP status a realtime call would have had.
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def custom_id_for(item_id: str) -> str:
    """The custom id Anthropic accepts for `item_id` (see the module docstring)."""
    if SAFE_CUSTOM_ID.match(item_id) and not item_id.startswith((_ENCODED, _HASHED)):
        return item_id
    encoded = base64.urlsafe_b64encode(item_id.encode()).decode().rstrip("=")
    if len(_ENCODED) + len(encoded) <= 64:
        return _ENCODED + encoded
    return _HASHED + hashlib.sha256(item_id.encode()).hexdigest()[:62]


def item_id_for(custom_id: str, aliases: Mapping[str, str] | None = None) -> str:
    """The item id behind a custom id; an unknown hashed one is returned as it is."""
    if aliases and custom_id in aliases:
        return aliases[custom_id]
    if custom_id.startswith(_ENCODED):
        raw = custom_id[len(_ENCODED) :]
        try:
            return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError):
            return custom_id
    return custom_id


class AnthropicBatches:
    provider = AnthropicProvider.name

    def __init__(self, config: ProviderConfig, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.base_url = config.api_url or DEFAULT_BASE_URL

    # --- BatchAPI -------------------------------------------------------------------------------

    def submit(
        self, requests: Sequence[BatchRequest], metadata: Mapping[str, str]
    ) -> ProviderBatch:
        if not requests:
            raise empty_batch(self.provider)
        wire: list[Request] = []
        aliases: dict[str, str] = {}
        for item in requests:
            custom_id = custom_id_for(item.custom_id)
            if custom_id in aliases:
                raise duplicate_id(self.provider, item.custom_id)
            aliases[custom_id] = item.custom_id
            wire.append(
                {
                    "custom_id": custom_id,
                    "params": message_params(self.config, item.request, cache_ttl="1h"),
                }
            )
        client = self._client()
        created = self._call(lambda: client.messages.batches.create(requests=wire))
        hashed = {cid: item for cid, item in aliases.items() if cid.startswith(_HASHED)}
        return self._reference(created, metadata, hashed)

    def state(self, batch: ProviderBatch) -> ProviderBatchState:
        client = self._client()
        found = self._call(lambda: client.messages.batches.retrieve(batch.batch_id), batch)
        return _state(batch, found)

    def outcomes(self, batch: ProviderBatch) -> Iterator[BatchItemOutcome]:
        client = self._client()
        found = self._call(lambda: client.messages.batches.retrieve(batch.batch_id), batch)
        if found.processing_status != "ended":
            raise not_ready(batch, f"still {found.processing_status}")
        if not found.results_url:
            raise not_ready(batch, "ended but no results file yet")
        # `results` retrieves the batch again to learn `results_url`: one extra small call,
        # cheaper than re-implementing the SDK's streaming download.
        lines = self._call(lambda: client.messages.batches.results(batch.batch_id), batch)
        return self._outcomes(lines, batch)

    def cancel(self, batch: ProviderBatch) -> ProviderBatchState:
        client = self._client()
        found = self._call(lambda: client.messages.batches.cancel(batch.batch_id), batch)
        return _state(batch, found)

    def release(self, batch: ProviderBatch) -> None:
        """Nothing to free: Anthropic keeps results 29 days and removes them by itself (deleting
        the batch would only lose them earlier, and a late re-collection needs them)."""

    def find(
        self,
        metadata_key: str,
        value: str,
        created_after: float,
        *,
        request_count: int | None = None,
        created_before: float | None = None,
    ) -> list[ProviderBatch]:
        """Batches created in [`created_after`, `created_before`] with `request_count` requests.
        `metadata_key`/`value` cannot be matched (Anthropic stores no metadata) and are ignored."""
        del metadata_key, value  # Anthropic stores no metadata: nothing to match them against
        client = self._client()
        page = self._call(lambda: client.messages.batches.list(limit=_LIST_PAGE_SIZE))
        matches: list[ProviderBatch] = []
        while True:
            for found in page.data:
                created = found.created_at.timestamp()
                if created < created_after:
                    return matches  # newest first: everything further is older
                reference = self._reference(found, {}, {})
                in_window = created_before is None or created <= created_before
                if in_window and request_count in (None, reference.request_count):
                    matches.append(reference)
            if not page.has_next_page():
                return matches
            page = self._call(page.get_next_page)

    # --- reading results ------------------------------------------------------------------------

    def _outcomes(
        self, lines: Iterator[MessageBatchIndividualResponse], batch: ProviderBatch
    ) -> Iterator[BatchItemOutcome]:
        iterator = iter(lines)
        while True:
            error: ProviderError | None = None
            try:
                line = next(iterator)
            except StopIteration:
                return
            except (anthropic.AnthropicError, httpx2.HTTPError, OSError) as exc:
                error = connection_error(self.provider, malformed_reason(exc, self._secret()))
            except ValueError as exc:  # a line that is not JSON
                error = malformed_response(self.provider, malformed_reason(exc, self._secret()))
            if error is not None:
                raise error
            yield self._outcome(line, batch.aliases)

    def _outcome(
        self, line: MessageBatchIndividualResponse, aliases: Mapping[str, str]
    ) -> BatchItemOutcome:
        custom_id = item_id_for(str(line.custom_id), aliases)
        try:
            return self._classify(custom_id, line.result)
        except MALFORMED_ERRORS as exc:
            reason = malformed_reason(exc, self._secret())
        return malformed_outcome(self.provider, custom_id, reason)

    def _classify(self, custom_id: str, result: Any) -> BatchItemOutcome:
        kind = result.type
        if kind == "succeeded":
            response = read_message(
                result.message,
                default_model=self.config.model,
                settings=self.settings,
                latency_ms=0,
                batch=True,
            )
            realtime = cost_usd(self.provider, response.model, response.usage, self.settings)
            return BatchItemOutcome(
                custom_id, "succeeded", response=response, realtime_cost_usd=realtime
            )
        if kind == "errored":
            detail = result.error.error
            error_type = str(detail.type)
            return error_outcome(
                self.provider,
                custom_id,
                _ERROR_STATUS.get(error_type, 500),
                str(detail.message),
                self._secret(),
                overloaded=error_type == "overloaded_error",
            )
        if kind == "expired":
            return BatchItemOutcome(
                custom_id,
                "expired",
                error_message="anthropic: the batch expired before this request ran",
                retryable=True,
            )
        if kind == "canceled":
            return BatchItemOutcome(
                custom_id, "cancelled", error_message="anthropic: the batch was cancelled"
            )
        raise ValueError(f"unknown result type {kind!r}")

    # --- plumbing -------------------------------------------------------------------------------

    def _reference(
        self, found: MessageBatch, metadata: Mapping[str, str], aliases: Mapping[str, str]
    ) -> ProviderBatch:
        return ProviderBatch(
            provider=self.provider,
            batch_id=found.id,
            created_at=found.created_at.timestamp(),
            request_count=_counts(found).total,
            metadata=dict(metadata),
            aliases=dict(aliases),
        )

    def _call(self, call: Callable[[], T], batch: ProviderBatch | None = None) -> T:
        """`call()`, with an SDK error translated (outside the `except`: no SDK object rides
        along); a 404 for a batch created moments ago is "not visible yet", retryable."""
        error: ProviderError
        try:
            return call()
        except anthropic.NotFoundError as exc:
            if batch is not None and within_grace(batch):
                error = not_visible_yet(batch)
            else:
                error = self._translate(exc)
        except anthropic.AnthropicError as exc:
            interrupt = foreign_cause(exc)
            if interrupt is not None:
                raise interrupt from None
            error = self._translate(exc)
        raise error

    def _translate(self, exc: anthropic.AnthropicError) -> ProviderError:
        return translate_anthropic_error(
            exc, secret=self._secret(), timeout_seconds=self.config.request_timeout_seconds
        )

    def _client(self) -> anthropic.Anthropic:
        return make_client(self.config, self.base_url, self.settings)

    def _secret(self) -> str | None:
        return secret_of(self.config)


def _counts(found: MessageBatch) -> RequestCounts:
    counts = found.request_counts
    return RequestCounts(
        succeeded=counts.succeeded,
        errored=counts.errored,
        expired=counts.expired,
        cancelled=counts.canceled,
        processing=counts.processing,
    )


def _status(found: MessageBatch, counts: RequestCounts) -> BatchStatus:
    """Anthropic has only in_progress / canceling / ended; an ended batch that was cancelled
    (or whose every request expired) is reported as such."""
    if found.processing_status == "in_progress":
        return "in_progress"
    if found.processing_status == "canceling":
        return "cancelling"
    if found.cancel_initiated_at is not None:
        return "cancelled"
    if counts.total and counts.expired == counts.total:
        return "expired"
    return "ended"


def _state(batch: ProviderBatch, found: MessageBatch) -> ProviderBatchState:
    counts = _counts(found)
    return ProviderBatchState(
        batch=batch,
        status=_status(found, counts),
        counts=counts,
        results_available=found.processing_status == "ended" and bool(found.results_url),
        provider_status=str(found.processing_status),
    )
