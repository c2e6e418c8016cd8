"""What the Celery tasks call: generate rules from an intent, or refine existing rules.

Both functions return the contract's result object, with the catalogue reader's warnings in
`catalogue_warnings` (empty when it had nothing to say); `refine`'s adds `changes` and which
clauses of the feedback they carry (`feedback_applied` / `feedback_not_applied`). A catalogue
that cannot ground any rule (no action types…) raises `ConfigInvalid` before the provider is
called. Provider errors propagate unchanged (the task decides about retries); an answer that
stays invalid after the repair attempts raises `InvalidLLMOutput` with the errors and the raw
output in its details.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from eyeflow_worker.core.catalogue_model import CatalogueReading
from eyeflow_worker.core.llm import Provider
from eyeflow_worker.rules.catalogue import catalogue_for, require_grounded
from eyeflow_worker.rules.diff import diff_rules
from eyeflow_worker.rules.feedback_report import report_feedback
from eyeflow_worker.rules.prompt import build_generate_request, build_refine_request
from eyeflow_worker.rules.repair import RepairOutcome, run_with_repair


def generate_rules(
    llm: Provider,
    intent: str,
    context: Mapping[str, Any] | None,
    *,
    max_repair_attempts: int,
) -> dict[str, Any]:
    reading = _grounded(context)
    catalogue = reading.catalogue
    started = time.monotonic()
    outcome = run_with_repair(
        llm,
        build_generate_request(intent, catalogue),
        catalogue,
        max_repair_attempts=max_repair_attempts,
    )
    return _result(outcome, started, reading)


def refine_rules(
    llm: Provider,
    current_rules: Mapping[str, Any],
    feedback: str,
    context: Mapping[str, Any] | None,
    *,
    max_repair_attempts: int,
) -> dict[str, Any]:
    reading = _grounded(context)
    catalogue = reading.catalogue
    started = time.monotonic()
    outcome = run_with_repair(
        llm,
        build_refine_request(current_rules, feedback, catalogue),
        catalogue,
        max_repair_attempts=max_repair_attempts,
    )
    result = _result(outcome, started, reading)
    # Computed, not asked of the model: a model's own summary of its changes can be wrong.
    result["changes"] = diff_rules(current_rules, result["workflow_rules"])
    # Which clauses of the feedback those changes carry, and why the others are not applied.
    result.update(report_feedback(feedback, result["changes"], catalogue))
    return result


def _grounded(context: Mapping[str, Any] | None) -> CatalogueReading:
    """The catalogue for `context` (None: the built-in sample), refused with `ConfigInvalid`
    when it cannot ground any rule — before any paid call."""
    reading = catalogue_for(context)
    require_grounded(reading)
    return reading


def _result(outcome: RepairOutcome, started: float, reading: CatalogueReading) -> dict[str, Any]:
    return {
        "workflow_rules": outcome.rules.to_json_dict(),
        "model_used": outcome.model,
        "provider": outcome.provider,
        "tokens_used": outcome.usage.total_tokens,
        "usage": outcome.usage.to_dict(),
        "generation_time_ms": int((time.monotonic() - started) * 1000),
        "cost_usd": outcome.cost_usd,
        "attempts": outcome.attempts,
        "catalogue_warnings": list(reading.warnings),
    }
