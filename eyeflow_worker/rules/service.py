"""What the Celery tasks call: generate rules from an intent, or refine existing rules.

Both functions return the contract's result object. Provider errors propagate unchanged (the
task decides about retries); an answer that stays invalid after the repair attempts raises
`InvalidLLMOutput` with the errors and the raw output in its details.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from eyeflow_worker.providers.base import Provider
from eyeflow_worker.rules.catalogue import Catalogue, normalize_catalogue
from eyeflow_worker.rules.diff import diff_rules
from eyeflow_worker.rules.prompt import build_generate_request, build_refine_request
from eyeflow_worker.rules.repair import RepairOutcome, run_with_repair
from eyeflow_worker.rules.sample_catalogue import sample_catalogue


def generate_rules(
    llm: Provider,
    intent: str,
    context: Mapping[str, Any] | None,
    *,
    max_repair_attempts: int,
) -> dict[str, Any]:
    catalogue = _catalogue(context)
    started = time.monotonic()
    outcome = run_with_repair(
        llm,
        build_generate_request(intent, catalogue),
        catalogue,
        max_repair_attempts=max_repair_attempts,
    )
    return _result(outcome, started)


def refine_rules(
    llm: Provider,
    current_rules: Mapping[str, Any],
    feedback: str,
    context: Mapping[str, Any] | None,
    *,
    max_repair_attempts: int,
) -> dict[str, Any]:
    catalogue = _catalogue(context)
    started = time.monotonic()
    outcome = run_with_repair(
        llm,
        build_refine_request(current_rules, feedback, catalogue),
        catalogue,
        max_repair_attempts=max_repair_attempts,
    )
    result = _result(outcome, started)
    # Computed, not asked of the model: a model's own summary of its changes can be wrong.
    result["changes"] = diff_rules(current_rules, result["workflow_rules"])
    return result


def _catalogue(context: Mapping[str, Any] | None) -> Catalogue:
    if context is None:
        return _normalized(None)
    return _normalized(json.dumps(context, sort_keys=True, separators=(",", ":"), default=str))


@lru_cache(maxsize=32)
def _normalized(canonical_context: str | None) -> Catalogue:
    """Normalising a catalogue (and the prompt prefix it yields) is most of a job's CPU; a batch
    of thousands uses one catalogue, so it is done once per catalogue and process. Catalogues are
    frozen, so sharing one between jobs is safe."""
    raw = sample_catalogue() if canonical_context is None else json.loads(canonical_context)
    return normalize_catalogue(raw)


def _result(outcome: RepairOutcome, started: float) -> dict[str, Any]:
    return {
        "workflow_rules": outcome.rules.to_json_dict(),
        "model_used": outcome.model,
        "provider": outcome.provider,
        "tokens_used": outcome.usage.total_tokens,
        "usage": outcome.usage.to_dict(),
        "generation_time_ms": int((time.monotonic() - started) * 1000),
        "cost_usd": outcome.cost_usd,
        "attempts": outcome.attempts,
    }
