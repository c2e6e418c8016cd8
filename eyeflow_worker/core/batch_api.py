"""The provider-neutral protocol of a provider's own batch API (Anthropic Message Batches, OpenAI
Batch): submit many `LLMRequest`s at once, poll, read per-item outcomes, cancel, and find a batch
again after a crash.

Plain dataclasses, no SDK types: the adapters live in `providers/*_batches.py`, and the caller
(a batch task, later) speaks only this. Every method raises only `core.errors.ProviderError`s;
a `retryable` one (a 404 just after `create`, "ended but no results file yet") means "ask again
later", never "failed".

Deliberately not here yet: nothing in `tasks/` uses it (no intent records, no polling schedule,
no splitting of batches larger than a provider's limits, no follow-up rounds). That is the job of
the economy-mode work of issue 12, built on top of this.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from eyeflow_worker.core.llm import LLMRequest, LLMResponse

BatchStatus = Literal["in_progress", "ended", "cancelling", "cancelled", "expired", "failed"]
OutcomeKind = Literal["succeeded", "errored", "expired", "cancelled", "invalid_request"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"ended", "cancelled", "expired", "failed"})


@dataclass(frozen=True)
class BatchRequest:
    """One item of a batch. `custom_id` is the caller's item id, unique within the batch; an
    adapter maps it to what its provider accepts and back (see `anthropic_batches.py`)."""

    custom_id: str
    request: LLMRequest


@dataclass(frozen=True)
class ProviderBatch:
    """A reference to one provider batch: what the caller records right after `submit`.

    `created_at` is the provider's creation time (POSIX seconds). `metadata` is what was passed
    to `submit`; OpenAI stores it with the batch, Anthropic has no such field (it is only kept
    here, which is why `find` cannot use it there). `aliases`: provider custom id → item id, for
    the item ids an adapter could not carry reversibly (record it with the batch; an adapter can
    rebuild it from the item ids, see `anthropic_batches.custom_id_for`).
    """

    provider: str
    batch_id: str
    created_at: float
    request_count: int
    metadata: Mapping[str, str] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RequestCounts:
    succeeded: int = 0
    errored: int = 0
    expired: int = 0
    cancelled: int = 0
    processing: int = 0

    @property
    def total(self) -> int:
        return self.succeeded + self.errored + self.expired + self.cancelled + self.processing


@dataclass(frozen=True)
class ProviderBatchState:
    """Where a provider batch stands.

    `status` is normalised; `provider_status` is the provider's own word (`finalizing`,
    `validating`, ...), for the task object and logs. `results_available`: `outcomes` can be
    read now. `error_message`: why a `failed` batch failed (OpenAI input validation).
    """

    batch: ProviderBatch
    status: BatchStatus
    counts: RequestCounts
    results_available: bool
    provider_status: str
    error_message: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True)
class BatchItemOutcome:
    """What became of one item.

    `response` (for `succeeded`) is priced at the batch rate; `realtime_cost_usd` is what the
    same usage would have cost as a realtime call (None when the model's price is unknown).
    `retryable`: worth sending again (a follow-up batch or realtime) — expired items and
    transient errors are, `invalid_request` never is.
    """

    custom_id: str
    kind: OutcomeKind
    response: LLMResponse | None = None
    error_message: str | None = None
    retryable: bool = False
    realtime_cost_usd: float | None = None


class BatchAPI(Protocol):
    """A provider's batch API. Implementations raise only `ProviderError`s."""

    provider: str

    def submit(
        self, requests: Sequence[BatchRequest], metadata: Mapping[str, str]
    ) -> ProviderBatch: ...

    def state(self, batch: ProviderBatch) -> ProviderBatchState: ...

    def outcomes(self, batch: ProviderBatch) -> Iterator[BatchItemOutcome]:
        """Every item's outcome, in the provider's order (any order: match by `custom_id`).

        Raises a retryable error when the batch has not ended or its results are not readable
        yet; for an expired or cancelled batch, yields what it has (partial results are kept).
        """
        ...

    def cancel(self, batch: ProviderBatch) -> ProviderBatchState: ...

    def release(self, batch: ProviderBatch) -> None:
        """Free what the provider stores for a batch whose outcomes were all collected (best
        effort: never raises; what stays behind expires at the provider's side)."""
        ...

    def find(
        self,
        metadata_key: str,
        value: str,
        created_after: float,
        *,
        request_count: int | None = None,
        created_before: float | None = None,
    ) -> list[ProviderBatch]:
        """Batches created at or after `created_after` that are the one the caller meant to
        create (reconciliation after a crash between `create` and recording its id).

        OpenAI matches `metadata[metadata_key] == value`. Anthropic batches carry no metadata:
        there it matches the creation window (`created_after` .. `created_before`) and
        `request_count` only, and ignores `metadata_key`/`value` — so the caller must record
        its intent (time, count) before `submit` and treat several matches as ambiguous.
        """
        ...
