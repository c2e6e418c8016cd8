# ruff: noqa: E501  (error strings are asserted verbatim; splitting them hurts reading)
from __future__ import annotations

from typing import Any

import pytest

from eyeflow_worker.core.catalogue_model import Catalogue
from eyeflow_worker.core.catalogue_reader import normalize_catalogue
from eyeflow_worker.rules.validate import validate_rules

from .scripted import rules_doc, with_action, with_condition


def errors(doc: Any, catalogue: Catalogue) -> tuple[str, ...]:
    return validate_rules(doc, catalogue).errors


def test_valid_document(sample: Catalogue) -> None:
    result = validate_rules(rules_doc(), sample)
    assert result.ok
    assert result.rules is not None


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"trigger": "X", "rules": []}, "workflow_name: required field is missing"),
        (rules_doc(rules=[]), "rules: List should have at least 1 item"),
        (rules_doc(extra_field=1), "extra_field: unknown field (not allowed by the schema)"),
        (with_action({"action": "LOG_EVENT", "params": {"message": "m"}, "retry": {"max_attempts": 0, "backoff_seconds": 1}}),
         "rules[0].then[0].retry.max_attempts: Input should be greater than or equal to 1"),
        (with_action({"action": "LOG_EVENT", "params": {"message": "m"}, "on_failure": {"strategy": "run_actions"}}),
         "rules[0].then[0].on_failure: Value error, strategy 'run_actions' needs at least one entry"),
    ],
)  # fmt: skip
def test_schema_errors_have_readable_paths(doc: Any, expected: str, sample: Catalogue) -> None:
    assert any(expected in e for e in errors(doc, sample)), errors(doc, sample)


def test_else_and_fallback_actions_are_checked(sample: Catalogue) -> None:
    doc = rules_doc()
    doc["rules"][0]["else"] = [{"action": "NOPE", "params": {}}]
    doc["rules"][0]["then"][0]["on_failure"] = {
        "strategy": "run_actions",
        "actions": [{"action": "LOG_EVENT", "params": {}}],
    }
    found = errors(doc, sample)
    assert any(e.startswith("rules[0].else[0].action: unknown action 'NOPE'") for e in found)
    assert any(
        e.startswith("rules[0].then[0].on_failure.actions[0].params.message: required parameter")
        for e in found
    )


def test_unknown_param_on_closed_action_and_enum(sample: Catalogue) -> None:
    doc = with_action(
        {"action": "SEND_WITH_ESCALATION",
         "params": {"team": "a", "message": "b", "severity": "extreme", "color": "red"}}
    )  # fmt: skip
    found = errors(doc, sample)
    assert (
        "rules[0].then[0].params.severity: 'extreme' is not one of 'low', 'medium', 'high', 'critical'"
        in found
    )
    assert any(
        e.startswith("rules[0].then[0].params.color: SEND_WITH_ESCALATION has no parameter 'color'")
        for e in found
    )


def test_bool_is_not_an_integer(sample: Catalogue) -> None:
    doc = with_action({"action": "SCALE_SERVICE", "params": {"service": "web", "replicas": True}})
    assert "rules[0].then[0].params.replicas: expected integer, got boolean True" in errors(
        doc, sample
    )


def test_close_match_suggestion(sample: Catalogue) -> None:
    doc = with_action({"action": "SEND_NOTIFICATIONS", "params": {}})
    assert any("did you mean SEND_NOTIFICATION" in e for e in errors(doc, sample))


def test_variables_unchecked_when_catalogue_declares_none() -> None:
    catalogue = normalize_catalogue({"action_types": ["PING"], "triggers": ["ON_WORKFLOW_START"]})
    doc = {"workflow_name": "x", "trigger": "ON_WORKFLOW_START",
           "rules": [{"name": "r", "condition": "$anything.at_all > 1", "then": [{"action": "PING"}]}]}  # fmt: skip
    assert errors(doc, catalogue) == ()


def test_declared_object_root_covers_its_fields() -> None:
    catalogue = normalize_catalogue({"action_types": ["PING"], "variables": ["$event"]})
    doc = with_condition("$event.payload.size > 3")
    doc["trigger"] = "ANY"
    doc["rules"][0]["then"] = [{"action": "PING"}]
    assert errors(doc, catalogue) == ()


def test_several_errors_are_all_reported(sample: Catalogue) -> None:
    doc = rules_doc(trigger="NOPE")
    doc["rules"][0]["condition"] = "$nope > 1"
    doc["rules"].append(dict(doc["rules"][0]))
    found = errors(doc, sample)
    assert len(found) == 4  # trigger, two unknown variables, duplicate name


@pytest.mark.parametrize(
    ("condition", "word"),
    [
        ("metrics.cpu_percent > 85", "metrics.cpu_percent"),
        ("$metrics.cpu_percent > 85 AND service.status == down", "service.status"),
        ("$service.name IN [service.name, 'web']", "service.name"),
        ("len(security.source_ip) > 0", "security.source_ip"),
    ],
)
def test_declared_variable_without_dollar_is_an_error(
    condition: str, word: str, sample: Catalogue
) -> None:
    found = errors(with_condition(condition), sample)
    assert (
        f"rules[0].condition: condition of rule 'check-memory' uses {word!r} — did you mean ${word}?"
        in " ".join(found)
    ), found


@pytest.mark.parametrize(
    "condition",
    [
        "true",  # the offline drafter's condition when nothing is measurable
        "$service.status == down",
        "$service.name == 'metrics.cpu_percent'",  # quoted: meant as text
        "$service.name == metrics",  # not a declared variable
    ],
)
def test_bare_words_that_are_not_declared_variables_pass(condition: str, sample: Catalogue) -> None:
    assert errors(with_condition(condition), sample) == ()


def test_bare_words_unchecked_when_catalogue_declares_no_variables() -> None:
    catalogue = normalize_catalogue({"action_types": ["PING"], "triggers": ["ON_WORKFLOW_START"]})
    doc = {"workflow_name": "x", "trigger": "ON_WORKFLOW_START",
           "rules": [{"name": "r", "condition": "metrics.cpu_percent > 85", "then": [{"action": "PING"}]}]}  # fmt: skip
    assert errors(doc, catalogue) == ()


def test_a_field_of_a_declared_root_written_without_dollar_is_caught() -> None:
    from eyeflow_worker.core.catalogue_reader import normalize_catalogue
    from eyeflow_worker.rules.validate import validate_rules

    catalogue = normalize_catalogue(
        {"action_types": ["NOTIFY"], "triggers": ["ON_EVENT"], "variables": ["$metrics"]}
    )
    doc = {
        "workflow_name": "w",
        "trigger": "ON_EVENT",
        "rules": [{"name": "r", "condition": "metrics.cpu > 80", "then": [{"action": "NOTIFY"}]}],
    }

    result = validate_rules(doc, catalogue)

    assert any("did you mean $metrics.cpu" in error for error in result.errors), result.errors


def test_faithfulness_runs_after_the_catalogue_checks_only_with_an_intent(
    sample: Catalogue,
) -> None:
    doc = with_condition("$metrics.db_memory_percent < 85 AND $metrics.nope > 1")
    intent = "Alert the team when database memory exceeds 85%"
    without = validate_rules(doc, sample).errors
    with_intent = validate_rules(doc, sample, intent).errors
    assert not any("the intent" in e for e in without)
    assert with_intent[: len(without)] == without  # the catalogue errors first, unchanged
    assert with_intent[len(without) :] == (
        'rules[0].condition: the intent says "exceeds 85%" but the condition compares $metrics.db_memory_percent < 85 (use > or >=)',
    )


def test_a_faithful_document_validates_with_its_intent(sample: Catalogue) -> None:
    assert validate_rules(rules_doc(), sample, "Alert the team when database memory exceeds 85%").ok
    assert validate_rules(rules_doc(), sample, "   ").ok  # a blank intent: nothing to check
