"""The validate-and-repair loop: ask, check, and on failure ask again showing the errors.

Nothing is fixed by guessing here: either the model's own (possibly repaired) answer passes
every check, or the job fails with `invalid_llm_output` carrying the last errors and the raw
answer. Provider errors are not swallowed: they carry their own retry semantics upstream. When
one interrupts a repair round, what the earlier rounds spent is added to its `details` (`usage`,
`cost_usd`, `completed_attempts`), so the failed job still shows it.

Cost: `cost_usd` is the sum over all attempts only when every attempt's cost is known; if any
attempt's cost is unknown (the provider has no price for the model) it is None. Unknown means
null, never a guess, and a partial sum would silently undercount.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from eyeflow_worker.core.catalogue_model import Catalogue
from eyeflow_worker.core.errors import EyeflowError, InvalidLLMOutput
from eyeflow_worker.core.llm import LLMRequest, LLMResponse, Provider, Usage
from eyeflow_worker.core.workflow_rules import WorkflowRules
from eyeflow_worker.rules.extract import ExtractionError, extract_json_object
from eyeflow_worker.rules.prompt import repair_messages
from eyeflow_worker.rules.validate import validate_rules

# Raw output kept in an error's details: enough to debug, bounded so task records stay small.
RAW_OUTPUT_LIMIT = 20_000


@dataclass(frozen=True)
class RepairOutcome:
    rules: WorkflowRules
    attempts: int
    usage: Usage
    cost_usd: float | None
    provider: str
    model: str


def check_output(
    text: str, catalogue: Catalogue, intent: str | None = None
) -> tuple[WorkflowRules | None, list[str]]:
    """Extract and validate one answer: the rules, or the list of errors to show the model.

    With `intent`, the rules must also be faithful to it (`rules/faithfulness.py`)."""
    try:
        data = extract_json_object(text)
    except ExtractionError as exc:
        return None, [exc.message]
    result = validate_rules(data, catalogue, intent)
    return (result.rules, []) if result.ok else (None, list(result.errors))


def run_with_repair(
    llm: Provider, request: LLMRequest, catalogue: Catalogue, *, max_repair_attempts: int
) -> RepairOutcome:
    """Call `llm` until its answer validates, at most `1 + max_repair_attempts` times.

    A generate request carries its intent in `inputs["intent"]`: the answer must then also be
    faithful to it. Refine requests have no intent (the feedback may change any threshold).
    """
    intent = _intent_of(request)
    usage = Usage()
    costs: list[float | None] = []
    current = request
    attempts = 0
    while True:
        try:
            response = llm.complete(current)
        except EyeflowError as exc:  # a provider failure, or the job's deadline passing
            if attempts:
                _attach_spend(exc, attempts, usage, costs)
            raise
        attempts += 1
        usage += response.usage
        costs.append(response.cost_usd)
        rules, errors = check_output(response.text, catalogue, intent)
        if rules is not None:
            return _outcome(rules, attempts, usage, costs, response)
        if attempts > max(0, max_repair_attempts):
            raise InvalidLLMOutput(
                f"The model's answer was still invalid after {attempts} attempt(s): {errors[0]}",
                details={
                    "errors": errors,
                    "raw_output": response.text[:RAW_OUTPUT_LIMIT],
                    "raw_output_truncated": len(response.text) > RAW_OUTPUT_LIMIT,
                    "attempts": attempts,
                    "provider": response.provider,
                    "model": response.model,
                    "usage": usage.to_dict(),
                    "cost_usd": _total_cost(costs),
                },
            )
        current = replace(
            request,
            messages=repair_messages(request.messages, response.text, errors),
            inputs={**request.inputs, "errors": list(errors)},
        )


def _intent_of(request: LLMRequest) -> str | None:
    if request.purpose != "generate":
        return None
    intent = request.inputs.get("intent")
    return intent if isinstance(intent, str) and intent.strip() else None


def _outcome(
    rules: WorkflowRules,
    attempts: int,
    usage: Usage,
    costs: list[float | None],
    last: LLMResponse,
) -> RepairOutcome:
    return RepairOutcome(rules, attempts, usage, _total_cost(costs), last.provider, last.model)


def _attach_spend(
    exc: EyeflowError, attempts: int, usage: Usage, costs: list[float | None]
) -> None:
    """Record what the completed attempts spent in the error's details (a dict, or None)."""
    if exc.details is not None and not isinstance(exc.details, dict):
        return  # a shape we do not own: leave it as the provider made it
    exc.details = {
        **(exc.details or {}),
        "completed_attempts": attempts,  # answered calls before the one that failed
        "usage": usage.to_dict(),
        "cost_usd": _total_cost(costs),
    }


def _total_cost(costs: list[float | None]) -> float | None:
    """Sum of the attempts' costs; None when any attempt's cost is unknown (or none ran)."""
    if not costs or any(c is None for c in costs):
        return None
    return round(sum(c for c in costs if c is not None), 8)
