"""Collecting an economy round: every outcome of a provider batch, matched to its item by
`custom_id` (results come back in any order), becomes the item's stored result.

A succeeded answer goes through the same extract/validate/repair path as a realtime item
(`generate_rules`), with the batch's answer as its first attempt. Repair rounds run realtime:
a repair must show the model its previous answer and the errors, so it cannot be planned into
the same provider batch, and it concerns a handful of items — a follow-up provider batch
would add up to 24 h for each round to save half the price of a few calls.

Idempotent: an item already stored is skipped before any work (no repair call is paid twice
after a crash mid-collection), and `ITEM_DONE` stores an item at most once; costs are counted
once per item. Retryable outcomes (`errored` that may succeed, `expired`,
`cancelled` by someone else) are left open for the follow-up round unless this is the last
round, where they fail with `batch_api_expired` / `batch_api_errored`; `invalid_request`
fails at once with the provider's message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eyeflow_worker.core.batch_api import BatchAPI, BatchItemOutcome, ProviderBatch
from eyeflow_worker.core.economy_records import EconomyStore
from eyeflow_worker.core.errors import EyeflowError, JobTimeout
from eyeflow_worker.core.llm import LLMRequest, LLMResponse, Provider
from eyeflow_worker.rules.service import generate_rules
from eyeflow_worker.runtime import Runtime
from eyeflow_worker.tasks.execution import JobContext, durably, error_for, finished, record_usage

logger = logging.getLogger(__name__)

_FINAL_CODES = {"expired": "batch_api_expired", "cancelled": "batch_api_cancelled"}


class Prefilled:
    """A provider whose first answer is the provider batch's; later calls (repair rounds) go to
    the tenant's realtime provider chain, built only if a repair is needed."""

    def __init__(self, first: LLMResponse, realtime: Callable[[], Provider]) -> None:
        self.name = first.provider
        self._first: LLMResponse | None = first
        self._realtime = realtime
        self._llm: Provider | None = None

    def complete(self, request: LLMRequest) -> LLMResponse:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        if self._llm is None:
            self._llm = self._realtime()
        return self._llm.complete(request)


@dataclass(frozen=True)
class Round:
    """Where a collection runs: the batch (job), its run, this round, and whether it is the
    last round (retryable outcomes then fail instead of waiting for a follow-up)."""

    job: JobContext
    run: int
    round_no: int
    final: bool
    intents: Sequence[str]
    context: Mapping[str, Any] | None


def item_index(custom_id: str, job_id: str) -> int | None:
    """The item index inside a custom id (`{job_id}:{index}` or `{job_id}:{index}:r{run}`)."""
    parts = custom_id.split(":")
    if len(parts) < 2 or parts[0] != job_id or not parts[1].isdigit():
        return None
    return int(parts[1])


def collect(api: BatchAPI, batch: ProviderBatch, where: Round, store: EconomyStore) -> None:
    """Store the outcome of every item of `batch` (raises a retryable error when its results
    cannot be read yet: the poll asks again later)."""
    rt, job_id = where.job.rt, where.job.job_id
    for outcome in api.outcomes(batch):
        index = item_index(outcome.custom_id, job_id)
        if index is None or index >= len(where.intents):
            logger.warning("economy %s: result for unknown custom_id %r", job_id, outcome.custom_id)
            continue
        if rt.jobs.item_is_done(job_id, index):
            continue  # stored by an earlier collection: nothing runs or is counted twice
        item = _item_for(outcome, index, where)
        if item is not None:
            store_item(rt, store, job_id, index, item, where.run, tenant=where.job.tenant)


def _item_for(outcome: BatchItemOutcome, index: int, where: Round) -> dict[str, Any] | None:
    """The item to store for `outcome`, or None to leave it open for the follow-up round."""
    base: dict[str, Any] = {
        "index": index,
        "intent": where.intents[index],
        "attempt": where.run + 1,
        "mode": "economy",
        "batch_round": where.round_no,
    }
    if outcome.kind == "succeeded" and outcome.response is not None:
        return _answered(outcome, outcome.response, base, where)
    if outcome.kind == "invalid_request" or not _worth_retrying(outcome):
        code = "batch_api_invalid_request" if outcome.kind == "invalid_request" else None
        return _failed(base, code or "batch_api_errored", outcome.error_message)
    if not where.final:
        return None
    return _failed(
        base,
        _FINAL_CODES.get(outcome.kind, "batch_api_errored"),
        f"{outcome.error_message or outcome.kind} (after {where.round_no + 1} provider batches)",
    )


def _worth_retrying(outcome: BatchItemOutcome) -> bool:
    # A cancelled item of a batch we did not cancel (the job would be cancelled, and its items
    # dropped) was cancelled at the provider's side: worth another round.
    return outcome.retryable or outcome.kind == "cancelled"


def _answered(
    outcome: BatchItemOutcome, response: LLMResponse, base: dict[str, Any], where: Round
) -> dict[str, Any] | None:
    job = where.job
    try:
        result = generate_rules(
            Prefilled(response, job.llm),
            where.intents[base["index"]],
            where.context,
            max_repair_attempts=job.rt.settings.rules_max_repair_attempts,
        )
    except Exception as exc:
        transient = isinstance(exc, EyeflowError) and (exc.retryable or isinstance(exc, JobTimeout))
        if transient and not where.final:
            return None  # a realtime repair call failed for a while: the next round asks again
        error = error_for(exc, job.job_id)
        # Paid for although it failed (the batch answer and any repairs): counted in the
        # batch's totals like a success's, so `cost_usd` is what the batch really cost.
        details = error.get("details")
        spent = details.get("cost_usd") if isinstance(details, dict) else None
        spend = _spend(outcome, response, spent if isinstance(spent, int | float) else None)
        return {**base, "status": "failed", "error": error, **spend}
    spend = _spend(outcome, response, result.get("cost_usd"))
    return {**base, "status": "succeeded", **result, "realtime_cost_usd": None, **spend}


def _spend(
    outcome: BatchItemOutcome, response: LLMResponse, cost: float | None
) -> dict[str, float | None]:
    """An answered item's `cost_usd` (the batch answer plus realtime repairs) and what the same
    calls would have cost realtime; nothing when its cost is unknown."""
    if cost is None:
        return {}
    # Repairs ran realtime: what the batch answer cost realtime plus what the repairs cost.
    repairs = cost - response.cost_usd if response.cost_usd else 0.0
    realtime = outcome.realtime_cost_usd
    return {
        "cost_usd": cost,
        "realtime_cost_usd": None if realtime is None else round(realtime + repairs, 8),
    }


def _failed(base: dict[str, Any], code: str, message: str | None) -> dict[str, Any]:
    error = {"code": code, "message": message or code, "details": None}
    return {**base, "status": "failed", "error": error}


def store_item(
    rt: Runtime,
    store: EconomyStore,
    job_id: str,
    index: int,
    item: Mapping[str, Any],
    run: int,
    tenant: str | None = None,
) -> None:
    """Store one item (at most once); its costs are counted once per item, before the store
    (so a caller that sees the batch end sees its totals complete)."""
    cost, realtime = item.get("cost_usd"), item.get("realtime_cost_usd")
    if isinstance(cost, int | float):
        realtime_cost = float(realtime) if realtime is not None else 0.0
        store.add_costs(job_id, (run, index), float(cost), realtime_cost)
    stored = durably(lambda: rt.jobs.record_item(job_id, index, item, run))
    if stored == 0:
        return
    if stored == 2:
        ended = rt.jobs.get(job_id) or {}
        finished(rt, job_id, ended.get("status", "succeeded"), ended)
    rt.metrics.count("eyeflow_batch_items", status=str(item["status"]))
    if item["status"] == "succeeded":
        record_usage(rt, item, tenant)


def fail_items(
    rt: Runtime,
    store: EconomyStore,
    where: tuple[str, int, Sequence[str]],
    indexes: Sequence[int],
    error: Mapping[str, Any],
) -> None:
    """Fail the open items among `indexes` with `error` (a submit refused for good, a provider
    batch that failed, items no round answered)."""
    job_id, run, intents = where
    for index in indexes:
        if rt.jobs.item_is_done(job_id, index):
            continue
        item = {
            "index": index,
            "intent": intents[index] if index < len(intents) else "",
            "attempt": run + 1,
            "mode": "economy",
            "status": "failed",
            "error": dict(error),
        }
        store_item(rt, store, job_id, index, item, run)
