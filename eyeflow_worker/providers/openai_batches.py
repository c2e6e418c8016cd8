"""OpenAI's Batch API through the official SDK, behind `core.batch_api.BatchAPI`.

`submit` uploads a JSONL input file (`files.create(purpose="batch")`) whose every line's `body`
is `OpenAIProvider.chat_params`, exactly what the realtime call sends (model, messages,
`max_completion_tokens`, `response_format`, `temperature`), then creates the batch with the
caller's `metadata` (what `find` matches on after a crash). Item ids are sent as `custom_id`
unchanged (OpenAI accepts any string). Outcomes read BOTH the output and the error file, also
for an expired or cancelled batch (partial results are kept); results are priced at the batch
rate.

Differences from realtime, on purpose: a server that refuses `json_schema` or `temperature`
cannot be asked again within a batch — those items come back `invalid_request` with the
server's message, and the realtime path learns the refusal as usual.

`release` deletes a collected batch's input, output and error files (they count against the
organisation's file storage and would otherwise stay until deleted). Splitting beyond OpenAI's
limits (50,000 requests / 200 MB, one model per file) is `core.economy_plan`'s. Not done here:
streaming very large result files (they are read whole).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any, Final, TypeVar

import openai
from openai.types import Batch, BatchRequestCounts
from openai.types.chat import ChatCompletion

from eyeflow_worker.core.batch_api import (
    BatchItemOutcome,
    BatchRequest,
    BatchStatus,
    ProviderBatch,
    ProviderBatchState,
    RequestCounts,
)
from eyeflow_worker.core.errors import ProviderError, ProviderRequestError
from eyeflow_worker.core.llm_config import ProviderConfig
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.providers.batch_common import (
    duplicate_id,
    empty_batch,
    error_outcome,
    malformed_outcome,
    not_ready,
    not_visible_yet,
    within_grace,
)
from eyeflow_worker.providers.http_errors import MALFORMED_ERRORS, malformed_reason, redact
from eyeflow_worker.providers.openai_compat import OpenAIProvider
from eyeflow_worker.providers.pricing import cost_usd

T = TypeVar("T")

logger = logging.getLogger(__name__)

ENDPOINT: Final = "/v1/chat/completions"
_LIST_PAGE_SIZE = 100
_STATUS: dict[str, BatchStatus] = {
    "validating": "in_progress",
    "in_progress": "in_progress",
    "finalizing": "in_progress",
    "completed": "ended",
    "expired": "expired",
    "cancelling": "cancelling",
    "cancelled": "cancelled",
    "failed": "failed",
}
# Line-level error codes (no HTTP response) that say the request never ran through no fault
# of its own; any other code is taken as a refusal of the request itself.
_EXPIRED_CODE = "batch_expired"
_CANCELLED_CODE = "batch_cancelled"
_TRANSIENT_CODES = ("rate_limit", "server_error", "timeout")


class OpenAIBatches:
    provider = OpenAIProvider.name

    def __init__(self, config: ProviderConfig, settings: Settings) -> None:
        self.settings = settings
        # The realtime provider builds the request bodies, the client and the error translation:
        # one definition of each for both paths.
        self.chat = OpenAIProvider(config, settings)

    # --- BatchAPI -------------------------------------------------------------------------------

    def submit(
        self, requests: Sequence[BatchRequest], metadata: Mapping[str, str]
    ) -> ProviderBatch:
        if not requests:
            raise empty_batch(self.provider)
        seen: set[str] = set()
        lines: list[str] = []
        for item in requests:
            if item.custom_id in seen:
                raise duplicate_id(self.provider, item.custom_id)
            seen.add(item.custom_id)
            body = self.chat.chat_params(item.request)
            line = {"custom_id": item.custom_id, "method": "POST", "url": ENDPOINT, "body": body}
            lines.append(json.dumps(line, ensure_ascii=False))
        data = ("\n".join(lines) + "\n").encode()
        client = self._client()
        uploaded = self._call(
            lambda: client.files.create(
                file=("batch.jsonl", data, "application/jsonl"), purpose="batch"
            )
        )
        created = self._call(
            lambda: client.batches.create(
                input_file_id=uploaded.id,
                endpoint=ENDPOINT,
                completion_window="24h",
                metadata=dict(metadata),
            )
        )
        return _reference(created, len(requests), metadata)

    def state(self, batch: ProviderBatch) -> ProviderBatchState:
        client = self._client()
        found = self._call(lambda: client.batches.retrieve(batch.batch_id), batch)
        return _state(batch, found)

    def outcomes(self, batch: ProviderBatch) -> Iterator[BatchItemOutcome]:
        client = self._client()
        found = self._call(lambda: client.batches.retrieve(batch.batch_id), batch)
        file_ids = self._result_files(batch, found)
        texts = [self._file_text(client, file_id) for file_id in file_ids]
        return self._outcomes(texts)

    def _file_text(self, client: openai.OpenAI, file_id: str) -> str:
        return self._call(lambda: client.files.content(file_id).text)

    def cancel(self, batch: ProviderBatch) -> ProviderBatchState:
        client = self._client()
        found = self._call(lambda: client.batches.cancel(batch.batch_id), batch)
        return _state(batch, found)

    def release(self, batch: ProviderBatch) -> None:
        client = self._client()
        try:
            found = self._call(lambda: client.batches.retrieve(batch.batch_id), batch)
        except ProviderError as exc:
            logger.warning("%s batch %s: not released (%s)", self.provider, batch.batch_id, exc)
            return
        for file_id in (found.input_file_id, found.output_file_id, found.error_file_id):
            if not file_id:
                continue
            try:
                self._call(partial(client.files.delete, file_id))
            except ProviderError as exc:  # it stays in the organisation's storage: say so
                logger.warning("%s batch %s: file %s not deleted (%s)", self.provider,
                               batch.batch_id, file_id, exc)  # fmt: skip

    def find(
        self,
        metadata_key: str,
        value: str,
        created_after: float,
        *,
        request_count: int | None = None,
        created_before: float | None = None,
    ) -> list[ProviderBatch]:
        """Batches created since `created_after` whose `metadata[metadata_key] == value` (the
        list endpoint cannot filter: pages are read newest first until the window's start)."""
        client = self._client()
        page = self._call(lambda: client.batches.list(limit=_LIST_PAGE_SIZE))
        matches: list[ProviderBatch] = []
        while True:
            for found in page.data:
                if found.created_at < created_after:
                    return matches
                reference = _reference(found, _total(found), found.metadata or {})
                wanted = (found.metadata or {}).get(metadata_key) == value
                in_window = created_before is None or found.created_at <= created_before
                if wanted and in_window and request_count in (None, reference.request_count):
                    matches.append(reference)
            if not page.has_next_page():
                return matches
            page = self._call(page.get_next_page)

    # --- reading results ------------------------------------------------------------------------

    def _result_files(self, batch: ProviderBatch, found: Batch) -> list[str]:
        """The output and error file ids to read, or why the results are not readable yet."""
        status = _STATUS.get(str(found.status), "in_progress")
        if status == "failed":
            raise ProviderRequestError(
                f"{self.provider} batch {batch.batch_id} failed: {_errors(found)}",
                details={"provider": self.provider, "batch_id": batch.batch_id},
            )
        if status in ("in_progress", "cancelling"):
            raise not_ready(batch, f"still {found.status}")
        counts = found.request_counts or BatchRequestCounts(completed=0, failed=0, total=0)
        missing_output = found.output_file_id is None and counts.completed > 0
        missing_errors = found.error_file_id is None and counts.failed > 0
        file_ids = [fid for fid in (found.output_file_id, found.error_file_id) if fid]
        if not file_ids or missing_output or missing_errors:
            raise not_ready(batch, f"{found.status} but its result files are not there yet")
        return file_ids

    def _outcomes(self, texts: list[str]) -> Iterator[BatchItemOutcome]:
        for text in texts:
            for raw in text.splitlines():
                if raw.strip():
                    yield self._outcome(raw)

    def _outcome(self, raw: str) -> BatchItemOutcome:
        custom_id = "?"
        try:
            line = json.loads(raw)
            custom_id = str(line["custom_id"])
            return self._classify(custom_id, line)
        except MALFORMED_ERRORS as exc:
            reason = malformed_reason(exc, self.chat._secret())
        return malformed_outcome(self.provider, custom_id, reason)

    def _classify(self, custom_id: str, line: Mapping[str, Any]) -> BatchItemOutcome:
        error, response = line.get("error"), line.get("response")
        if error:  # the request never got an HTTP answer (expired, cancelled, refused)
            reason = redact(str(error.get("message")), self.chat._secret())
            return _line_error(custom_id, str(error.get("code") or ""), reason)
        if not isinstance(response, dict):
            raise TypeError("a result line with neither response nor error")
        status = int(response["status_code"])
        body = response["body"]
        if status != 200:
            detail = body.get("error") if isinstance(body, dict) else None
            message = detail.get("message") if isinstance(detail, dict) else None
            secret = self.chat._secret()
            text = message if isinstance(message, str) and message else f"HTTP {status}"
            return error_outcome(self.provider, custom_id, status, text, secret)
        try:
            answer = self.chat.batch_response(ChatCompletion.construct(**body))
        except ProviderError as refused:  # the model's refusal, as realtime reports it
            return BatchItemOutcome(custom_id, "errored", error_message=refused.message)
        realtime = cost_usd(self.provider, answer.model, answer.usage, self.settings)
        return BatchItemOutcome(custom_id, "succeeded", response=answer, realtime_cost_usd=realtime)

    # --- plumbing -------------------------------------------------------------------------------

    def _call(self, call: Callable[[], T], batch: ProviderBatch | None = None) -> T:
        """`call()`, with an SDK error translated (outside the `except`: no SDK object rides
        along); a 404 for a batch created moments ago is "not visible yet", retryable."""
        error: ProviderError
        try:
            return call()
        except openai.NotFoundError as exc:
            if batch is not None and within_grace(batch):
                error = not_visible_yet(batch)
            else:
                error = self.chat._translate(exc)
        except openai.OpenAIError as exc:
            error = self.chat._translate(exc)
        raise error

    def _client(self) -> openai.OpenAI:
        return self.chat._client()  # the realtime provider's own (process-cached) client


def _line_error(custom_id: str, code: str, message: str) -> BatchItemOutcome:
    if code == _EXPIRED_CODE:
        return BatchItemOutcome(custom_id, "expired", error_message=message, retryable=True)
    if code == _CANCELLED_CODE:
        return BatchItemOutcome(custom_id, "cancelled", error_message=message)
    if any(part in code for part in _TRANSIENT_CODES):
        return BatchItemOutcome(custom_id, "errored", error_message=message, retryable=True)
    return BatchItemOutcome(custom_id, "invalid_request", error_message=f"{code}: {message}")


def _total(found: Batch) -> int:
    return found.request_counts.total if found.request_counts is not None else 0


def _reference(found: Batch, count: int, metadata: Mapping[str, str]) -> ProviderBatch:
    return ProviderBatch(
        provider=OpenAIProvider.name,
        batch_id=found.id,
        created_at=float(found.created_at),
        request_count=count,
        metadata=dict(metadata),
    )


def _counts(found: Batch, status: BatchStatus) -> RequestCounts:
    """OpenAI counts completed/failed/total; the rest are processing, or — once the batch
    expired or was cancelled — expired or cancelled (they come back in the error file)."""
    raw = found.request_counts
    if raw is None:
        return RequestCounts()
    rest = max(0, raw.total - raw.completed - raw.failed)
    return RequestCounts(
        succeeded=raw.completed,
        errored=raw.failed,
        expired=rest if status == "expired" else 0,
        cancelled=rest if status == "cancelled" else 0,
        processing=rest if status not in ("expired", "cancelled") else 0,
    )


def _errors(found: Batch) -> str:
    data = found.errors.data if found.errors is not None else None
    messages = [str(e.message) for e in data or [] if e.message]
    return "; ".join(messages) or "no reason given"


def _state(batch: ProviderBatch, found: Batch) -> ProviderBatchState:
    status = _STATUS.get(str(found.status), "in_progress")
    terminal = status in ("ended", "expired", "cancelled")
    return ProviderBatchState(
        batch=batch,
        status=status,
        counts=_counts(found, status),
        results_available=terminal and bool(found.output_file_id or found.error_file_id),
        provider_status=str(found.status),
        error_message=_errors(found) if status == "failed" else None,
    )
