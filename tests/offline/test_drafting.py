"""The embedded offline drafter produces valid, honest rules for every fixture intent."""

from __future__ import annotations

from typing import Any

import pytest

from eyeflow_worker.core.catalogue_reader import normalize_catalogue
from eyeflow_worker.core.errors import ConfigInvalid, ProviderRequestError
from eyeflow_worker.core.llm import LLMRequest, Message
from eyeflow_worker.providers.offline import OfflineProvider
from eyeflow_worker.rules.service import generate_rules
from eyeflow_worker.rules.validate import validate_rules
from tests.rules.conftest import fixture_intents, raw_catalogue

INTENTS = fixture_intents()


def test_there_are_enough_fixture_intents_across_catalogues() -> None:
    assert len(INTENTS) >= 30
    assert {c["catalogue"] for c in INTENTS} >= {
        "infra_monitoring",
        "finance_approvals",
        "hr_onboarding",
    }


@pytest.mark.parametrize("case", INTENTS, ids=[c["intent"][:50] for c in INTENTS])
def test_offline_drafts_valid_rules_first_time(
    case: dict[str, Any], offline: OfflineProvider
) -> None:
    context = None if case["catalogue"] == "sample" else raw_catalogue(case["catalogue"])
    result = generate_rules(offline, case["intent"], context, max_repair_attempts=0)

    assert result["attempts"] == 1
    assert result["provider"] == "offline"
    assert result["model_used"] == "eyeflow-offline-drafter-1"
    assert result["tokens_used"] == 0
    assert result["cost_usd"] == 0.0
    rules = result["workflow_rules"]
    catalogue = normalize_catalogue(raw_catalogue(case["catalogue"]))
    assert validate_rules(rules, catalogue).errors == ()
    assert "not an LLM" in rules["description"]

    expect = case.get("expect", {})
    rule = rules["rules"][0]
    if "actions" in expect:
        assert [a["action"] for a in rule["then"]] == expect["actions"]
    if "condition" in expect:
        assert rule["condition"] == expect["condition"]
    if "trigger" in expect:
        assert rules["trigger"] == expect["trigger"]
    if not expect:  # vague intents: a generic condition, and the description says so
        assert rule["condition"] == "true"
        assert "condition `true`" in rule["description"]


def test_contract_example_intent(offline: OfflineProvider) -> None:
    result = generate_rules(
        offline, "Alert the team when database memory exceeds 85%", None, max_repair_attempts=3
    )
    rules = result["workflow_rules"]
    assert rules["rules"][0]["condition"] == "$metrics.db_memory_percent > 85"
    assert rules["workflow_name"] == "alert-team-database-memory-exceeds-85"
    assert set(result) >= {
        "workflow_rules", "model_used", "provider", "tokens_used", "usage",
        "generation_time_ms", "cost_usd", "attempts",
    }  # fmt: skip
    assert result["usage"] == {
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
    }


def test_drafting_is_deterministic(offline: OfflineProvider) -> None:
    intent = "Open a P1 incident if the error rate goes above 5% and page the on-call team"
    first = generate_rules(offline, intent, None, max_repair_attempts=0)["workflow_rules"]
    second = generate_rules(offline, intent, None, max_repair_attempts=0)["workflow_rules"]
    assert first == second


def test_required_params_are_filled_from_the_intent(offline: OfflineProvider) -> None:
    result = generate_rules(
        offline,
        "Email sre@example.com when free disk space drops below 20 GB",
        raw_catalogue("infra_monitoring"),
        max_repair_attempts=0,
    )
    action = result["workflow_rules"]["rules"][0]["then"][0]
    assert action["action"] == "SEND_EMAIL"
    assert action["params"]["to"] == "sre@example.com"
    assert action["params"]["body"].startswith("Email sre@example.com")


def test_defaults_are_declared_in_the_description(offline: OfflineProvider) -> None:
    result = generate_rules(
        offline, "Alert the team when CPU exceeds 90%", raw_catalogue("infra_monitoring"),
        max_repair_attempts=0,
    )  # fmt: skip
    description = result["workflow_rules"]["description"]
    assert "Defaults used:" in description
    assert "on-call" in description


def test_evaluate_purpose_is_refused_honestly(offline: OfflineProvider) -> None:
    request = LLMRequest(purpose="evaluate", system="", messages=(Message("user", "cpu high?"),))
    with pytest.raises(ProviderRequestError, match="cannot judge plain-English conditions"):
        offline.complete(request)


def test_request_without_structured_inputs_is_refused(offline: OfflineProvider) -> None:
    request = LLMRequest(purpose="generate", system="", messages=(Message("user", "x"),))
    with pytest.raises(ProviderRequestError, match="structured input 'intent'"):
        offline.complete(request)


def test_catalogue_without_actions_is_a_provider_request_error(offline: OfflineProvider) -> None:
    # Refused before any provider is asked (issue 10): config_invalid, not the drafter's error.
    with pytest.raises(ConfigInvalid, match="no action types"):
        generate_rules(offline, "Alert me", {"triggers": ["ON_START"]}, max_repair_attempts=0)
