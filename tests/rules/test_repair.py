"""The validate-and-repair loop against scripted model answers."""

from __future__ import annotations

import json

import pytest

from eyeflow_worker.core.catalogue_model import Catalogue
from eyeflow_worker.core.errors import InvalidLLMOutput, ProviderError, ProviderUnavailable
from eyeflow_worker.core.llm import LLMRequest, LLMResponse, Usage
from eyeflow_worker.rules.repair import RAW_OUTPUT_LIMIT
from eyeflow_worker.rules.service import generate_rules, refine_rules

from .scripted import GOOD, MISTAKES, Mistake, ScriptedProvider, rules_doc

INTENT = "Alert the team when database memory exceeds 85%"


@pytest.mark.parametrize("mistake", MISTAKES, ids=[m.name for m in MISTAKES])
def test_mistake_is_repaired(mistake: Mistake) -> None:
    llm = ScriptedProvider([mistake.bad_output, mistake.fixed_output])
    result = generate_rules(llm, INTENT, None, max_repair_attempts=2)

    assert result["attempts"] == 2
    assert result["workflow_rules"] == rules_doc()
    # Usage and cost are summed over both calls.
    assert result["usage"] == Usage(200, 100, 2000, 0).to_dict()
    assert result["tokens_used"] == 2300
    assert result["cost_usd"] == pytest.approx(0.02)
    repair = llm.requests[1]
    assert [m.role for m in repair.messages] == ["user", "assistant", "user"]
    assert repair.messages[0] == llm.requests[0].messages[0]
    assert repair.messages[1].content == mistake.bad_output  # the previous output, verbatim
    assert mistake.error in repair.messages[2].content  # the exact error text
    assert repair.system == llm.requests[0].system  # the cached prefix is unchanged
    assert any(mistake.error in e for e in repair.inputs["errors"])


@pytest.mark.parametrize("mistake", MISTAKES, ids=[m.name for m in MISTAKES])
def test_mistake_never_corrected_fails_with_invalid_llm_output(mistake: Mistake) -> None:
    llm = ScriptedProvider([mistake.bad_output] * 3)
    with pytest.raises(InvalidLLMOutput) as caught:
        generate_rules(llm, INTENT, None, max_repair_attempts=2)

    err = caught.value
    assert err.code == "invalid_llm_output"
    assert err.details["attempts"] == 3
    assert any(mistake.error in e for e in err.details["errors"])
    assert err.details["raw_output"] == mistake.bad_output
    assert err.details["usage"]["input_tokens"] == 300
    assert err.to_dict()["code"] == "invalid_llm_output"
    assert len(llm.requests) == 3


def test_first_answer_valid_means_one_attempt() -> None:
    llm = ScriptedProvider([GOOD])
    result = generate_rules(llm, INTENT, None, max_repair_attempts=3)
    assert result["attempts"] == 1
    assert result["provider"] == "scripted"
    assert result["model_used"] == "scripted-model-1"


def test_zero_repair_attempts_means_a_single_call() -> None:
    llm = ScriptedProvider([MISTAKES[0].bad_output, GOOD])
    with pytest.raises(InvalidLLMOutput):
        generate_rules(llm, INTENT, None, max_repair_attempts=0)
    assert len(llm.requests) == 1


def test_repair_turn_shows_only_the_latest_failed_answer() -> None:
    first, second = MISTAKES[0], MISTAKES[2]
    llm = ScriptedProvider([first.bad_output, second.bad_output, GOOD])
    result = generate_rules(llm, INTENT, None, max_repair_attempts=3)
    assert result["attempts"] == 3
    last = llm.requests[2]
    assert len(last.messages) == 3
    assert last.messages[1].content == second.bad_output
    assert second.error in last.messages[2].content
    assert first.error not in last.messages[2].content


def test_raw_output_is_truncated_in_error_details() -> None:
    huge = "x" * (RAW_OUTPUT_LIMIT + 500)
    llm = ScriptedProvider([huge])
    with pytest.raises(InvalidLLMOutput) as caught:
        generate_rules(llm, INTENT, None, max_repair_attempts=0)
    assert len(caught.value.details["raw_output"]) == RAW_OUTPUT_LIMIT
    assert caught.value.details["raw_output_truncated"] is True


@pytest.mark.parametrize(
    ("costs", "expected"),
    # Unknown is null, never a partial sum that silently undercounts.
    [((None, None), None), ((0.01, None), None), ((None, 0.01), None), ((0.01, 0.02), 0.03)],
)
def test_cost_is_the_sum_only_when_every_cost_is_known(
    costs: tuple[float | None, float | None], expected: float | None
) -> None:
    class TwoCosts(ScriptedProvider):
        def complete(self, request: LLMRequest) -> LLMResponse:
            response = super().complete(request)
            return LLMResponse(
                response.text, response.provider, response.model, response.usage,
                response.latency_ms, costs[len(self.requests) - 1],
            )  # fmt: skip

    llm = TwoCosts([MISTAKES[0].bad_output, GOOD])
    result = generate_rules(llm, INTENT, None, max_repair_attempts=1)
    assert result["cost_usd"] == (pytest.approx(expected) if expected is not None else None)


def test_provider_errors_propagate_unchanged() -> None:
    class Down:
        name = "down"

        def complete(self, request: LLMRequest) -> LLMResponse:
            raise ProviderUnavailable("overloaded", retry_after=3.0)

    with pytest.raises(ProviderUnavailable) as caught:
        generate_rules(Down(), INTENT, None, max_repair_attempts=3)
    assert caught.value.retry_after == 3.0


def test_refine_repairs_and_reports_structural_changes() -> None:
    current = rules_doc()
    revised = rules_doc()
    revised["rules"][0]["condition"] = "$metrics.db_memory_percent > 90"
    llm = ScriptedProvider([MISTAKES[1].bad_output, json.dumps(revised)])
    result = refine_rules(llm, current, "raise the threshold to 90", None, max_repair_attempts=1)
    assert result["attempts"] == 2
    assert result["workflow_rules"] == revised
    assert [c["kind"] for c in result["changes"]] == ["rule_condition_changed"]
    first = llm.requests[0]
    assert first.purpose == "refine"
    assert first.inputs["feedback"] == "raise the threshold to 90"
    assert first.inputs["current_rules"] == current
    assert "raise the threshold to 90" in first.messages[-1].content


def test_unknown_cost_in_any_attempt_makes_the_failure_cost_null() -> None:
    class SecondUnpriced(ScriptedProvider):
        def complete(self, request: LLMRequest) -> LLMResponse:
            response = super().complete(request)
            cost = 0.01 if len(self.requests) == 1 else None
            return LLMResponse(
                response.text, response.provider, response.model, response.usage,
                response.latency_ms, cost,
            )  # fmt: skip

    llm = SecondUnpriced([MISTAKES[0].bad_output] * 2)
    with pytest.raises(InvalidLLMOutput) as caught:
        generate_rules(llm, INTENT, None, max_repair_attempts=1)
    assert caught.value.details["cost_usd"] is None


class FailsOnCall(ScriptedProvider):
    """Answers from the script, but raises `error` on call number `fail_on` (1-based)."""

    def __init__(self, answers: list[str], fail_on: int, error: ProviderError) -> None:
        super().__init__(answers)
        self.fail_on, self.error = fail_on, error

    def complete(self, request: LLMRequest) -> LLMResponse:
        if len(self.requests) + 1 == self.fail_on:
            self.requests.append(request)
            raise self.error
        return super().complete(request)


@pytest.mark.parametrize("details", [None, {"provider": "scripted"}])
def test_provider_error_in_a_repair_round_keeps_the_spend(details: dict | None) -> None:  # type: ignore[type-arg]
    error = ProviderUnavailable("overloaded", details=details, retry_after=3.0)
    llm = FailsOnCall([MISTAKES[0].bad_output, MISTAKES[0].bad_output], 3, error)
    with pytest.raises(ProviderUnavailable) as caught:
        generate_rules(llm, INTENT, None, max_repair_attempts=3)
    err = caught.value
    assert err is error
    assert err.retry_after == 3.0
    assert err.details == {
        **(details or {}),
        "completed_attempts": 2,
        "usage": Usage(200, 100, 2000, 0).to_dict(),
        "cost_usd": pytest.approx(0.02),
    }
    assert err.to_dict()["details"]["usage"]["input_tokens"] == 200


def test_provider_error_spend_has_null_cost_when_unknown() -> None:
    llm = FailsOnCall([MISTAKES[0].bad_output], 2, ProviderUnavailable("down"))
    llm.cost_usd = None
    with pytest.raises(ProviderUnavailable) as caught:
        refine_rules(llm, rules_doc(), "x", None, max_repair_attempts=1)
    assert caught.value.details["cost_usd"] is None
    assert caught.value.details["usage"]["input_tokens"] == 100


def test_provider_error_on_the_first_call_is_unchanged() -> None:
    llm = FailsOnCall([], 1, ProviderUnavailable("down", details={"provider": "p"}))
    with pytest.raises(ProviderUnavailable) as caught:
        generate_rules(llm, INTENT, None, max_repair_attempts=1)
    assert caught.value.details == {"provider": "p"}


def test_a_deadline_passing_in_a_repair_round_keeps_the_spend() -> None:
    from eyeflow_worker.core.errors import JobTimeout

    llm = FailsOnCall([MISTAKES[0].bad_output], 2, JobTimeout("out of time"))  # type: ignore[arg-type]
    with pytest.raises(JobTimeout) as caught:
        generate_rules(llm, INTENT, None, max_repair_attempts=3)
    assert caught.value.details["completed_attempts"] == 1
    assert caught.value.details["usage"]["input_tokens"] == 100


# --- faithfulness to the intent -----------------------------------------------------------

UNFAITHFUL = json.dumps(
    {
        **rules_doc(),
        "rules": [{**rules_doc()["rules"][0], "condition": "$metrics.db_memory_percent < 85"}],
    }
)
UNFAITHFUL_ERROR = (
    'rules[0].condition: the intent says "exceeds 85%" but the condition compares'
    " $metrics.db_memory_percent < 85 (use > or >=)"
)


def test_an_unfaithful_answer_is_repaired_with_the_exact_error() -> None:
    llm = ScriptedProvider([UNFAITHFUL, GOOD])
    result = generate_rules(llm, INTENT, None, max_repair_attempts=2)

    assert result["attempts"] == 2
    assert result["workflow_rules"] == rules_doc()
    repair = llm.requests[1]
    assert UNFAITHFUL_ERROR in repair.messages[2].content
    assert repair.inputs["errors"] == [UNFAITHFUL_ERROR]
    assert repair.inputs["intent"] == INTENT  # still there for the next round's check


def test_an_answer_that_stays_unfaithful_fails_with_the_error() -> None:
    llm = ScriptedProvider([UNFAITHFUL] * 2)
    with pytest.raises(InvalidLLMOutput) as caught:
        generate_rules(llm, INTENT, None, max_repair_attempts=1)
    assert caught.value.details["errors"] == [UNFAITHFUL_ERROR]


def test_refine_has_no_intent_so_faithfulness_is_not_checked() -> None:
    llm = ScriptedProvider([UNFAITHFUL])
    result = refine_rules(llm, rules_doc(), "alert below 85 instead", None, max_repair_attempts=0)
    assert result["attempts"] == 1
    assert result["workflow_rules"]["rules"][0]["condition"] == "$metrics.db_memory_percent < 85"


def test_check_output_checks_faithfulness_only_when_given_the_intent(sample: Catalogue) -> None:
    from eyeflow_worker.rules.repair import check_output

    assert check_output(UNFAITHFUL, sample)[1] == []
    assert check_output(UNFAITHFUL, sample, INTENT)[1] == [UNFAITHFUL_ERROR]
