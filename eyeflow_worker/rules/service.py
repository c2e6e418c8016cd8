"""What the Celery tasks call: generate rules from an intent, or refine existing rules.

Both functions return the contract's result object. Provider errors propagate unchanged (the
task decides about retries); an answer that stays invalid after the repair attempts raises
`InvalidLLMOutput` with the errors and the raw output in its details.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from eyeflow_worker.core.llm import Provider
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
    """The normalised catalogue for `context` (None: the built-in sample).

    Normalising a catalogue (and the prompt prefix it yields) is most of a job's CPU, and a batch
    of thousands uses one catalogue: each is normalised once per process and kept by a digest of
    its canonical JSON (so a large context is not held twice). Catalogues are immutable, so
    sharing one between jobs is safe.
    """
    if context is None:
        return _sample()
    canonical = json.dumps(context, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    with _cache_lock:
        catalogue = _by_digest.get(digest)
        if catalogue is not None:
            _by_digest.move_to_end(digest)
            return catalogue
    catalogue = normalize_catalogue(json.loads(canonical))
    with _cache_lock:
        _by_digest[digest] = catalogue
        while len(_by_digest) > _CACHED_CATALOGUES:
            _by_digest.popitem(last=False)
    return catalogue


_CACHED_CATALOGUES = 32
_by_digest: OrderedDict[str, Catalogue] = OrderedDict()
_cache_lock = threading.Lock()


@lru_cache(maxsize=1)
def _sample() -> Catalogue:
    return normalize_catalogue(sample_catalogue())


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
