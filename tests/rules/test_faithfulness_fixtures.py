# ruff: noqa: E501  (table rows read best on one line)
"""No false alarms on the fixture intents: each paired with the correct rules its `expect`
describes passes the faithfulness check and the whole validation with the intent."""

from __future__ import annotations

from typing import Any

import pytest

from eyeflow_worker.core.catalogue_model import Capability, Catalogue, ParamSpec
from eyeflow_worker.core.catalogue_reader import normalize_catalogue
from eyeflow_worker.core.workflow_rules import WorkflowRules
from eyeflow_worker.rules.faithfulness import check_faithfulness
from eyeflow_worker.rules.faithfulness_intent import read_intent
from eyeflow_worker.rules.validate import validate_rules

from .conftest import fixture_intents, raw_catalogue

INTENTS = fixture_intents()

# What `expect` leaves out but a correct document needs: the condition of intents whose expect
# names none, the actions, and the params that carry what the intent names.
CONDITIONS = {
    "Open a P1 incident if the error rate goes above 5% and page the on-call team": "$metrics.error_rate_percent > 5",
}
ACTIONS = {
    "Alert the team when database memory exceeds 85%": ["SEND_WITH_ESCALATION"],
    "Send a slack message to #db-alerts if database connections are below 10": [
        "SEND_NOTIFICATION"
    ],
    "Page the team if memory usage is greater than or equal to 90%": ["SEND_WITH_ESCALATION"],
    "Alert the team when response time is longer than 2 seconds": ["SEND_NOTIFICATION"],
}
CARRY: dict[str, dict[str, Any]] = {
    "Notify ops by email when CPU usage is above 90 percent": {"channel": "email", "recipient": "ops"},
    "Open a P1 incident if the error rate goes above 5% and page the on-call team": {"priority": "P1", "team": "on-call"},
    "Log a warning when disk usage reaches 75%": {"level": "warning"},
    "Send a slack message to #db-alerts if database connections are below 10": {"channel": "slack", "recipient": "#db-alerts"},
    "Escalate to the platform team when the queue depth is at least 1000 and CPU is over 80%": {"team": "platform"},
    "Post to #incidents on Slack when p95 latency is higher than 1200 ms": {"channel": "#incidents"},
    "Warn the on-call team about critical memory usage over 95%": {"team": "on-call", "severity": "critical"},
    "Page the dba team when database connections are no fewer than 200": {"recipient": "dba team"},
    "Send an SMS to the on-call team when CPU usage is 95% or above": {"channel": "sms", "recipient": "on-call"},
    "Notify the dba team on slack when database memory is at most 40%": {"channel": "slack", "recipient": "dba"},
    "Open a P2 incident when the queue depth is not less than 5000": {"priority": "P2"},
    "Escalate with critical severity to the platform team when disk usage hits 90%": {"team": "platform", "severity": "critical"},
    "Post to #db-alerts on Slack when free disk space falls under 10240 MB": {"channel": "#db-alerts"},
    "Open a highest priority Jira ticket when p95 latency exceeds 1.5 seconds": {"priority": "Highest"},
    "Alert the on-call team with severity info when CPU does not exceed 10%": {"team": "on-call", "severity": "info"},
    "Assign a buddy from the sales team to new sales hires": {"team": "sales"},
}  # fmt: skip


def _plain(p: ParamSpec) -> Any:
    if p.enum:
        return p.enum[0]
    return {"integer": 1, "number": 1, "boolean": True, "array": [], "object": {}}.get(
        p.type or "", "x"
    )


def _action(spec: Capability, carry: dict[str, Any]) -> dict[str, Any]:
    params = {p.name: _plain(p) for p in spec.params if p.required}
    params.update({k: v for k, v in carry.items() if spec.param(k) is not None})
    return {"action": spec.name, "params": params}


def correct_rules(case: dict[str, Any], catalogue: Catalogue) -> dict[str, Any]:
    intent, expect = case["intent"], case.get("expect", {})
    names = expect.get("actions") or ACTIONS.get(intent) or [catalogue.action_types[0].name]
    actions = [
        _action(spec, CARRY.get(intent, {})) for spec in map(catalogue.action, names) if spec
    ]
    condition = expect.get("condition") or CONDITIONS.get(intent, "true")
    trigger = expect.get("trigger", catalogue.trigger_names[0])
    return {
        "workflow_name": "w",
        "trigger": trigger,
        "rules": [{"name": "r", "condition": condition, "then": actions}],
    }


@pytest.mark.parametrize(
    "case", INTENTS, ids=[f"{c['catalogue']}|{c['intent'][:50]}" for c in INTENTS]
)
def test_correct_rules_for_every_fixture_intent_pass(case: dict[str, Any]) -> None:
    catalogue = normalize_catalogue(raw_catalogue(case["catalogue"]))
    doc = correct_rules(case, catalogue)
    assert validate_rules(doc, catalogue).errors == ()  # the document itself is valid
    assert check_faithfulness(case["intent"], WorkflowRules.model_validate(doc), catalogue) == []
    assert validate_rules(doc, catalogue, case["intent"]).errors == ()


def test_the_fixtures_exercise_the_check() -> None:
    """Guard against a check that passes everything because it reads nothing."""
    facts = [read_intent(c["intent"]) for c in INTENTS]
    thresholds = sum(len(f.thresholds) for f in facts)
    kinds = {n.kind for f in facts for n in f.named}
    units = {t.unit.name for f in facts for t in f.thresholds if t.unit is not None}
    assert thresholds >= 30
    assert kinds == {"channel", "team", "severity"}
    assert {"percent", "ms", "GB", "MB", "seconds"} <= units


@pytest.mark.parametrize(
    "case",
    [
        c
        for c in INTENTS
        if "condition" in c.get("expect", {}) and read_intent(c["intent"]).thresholds
    ],
    ids=lambda c: c["intent"][:50],
)
def test_the_same_rules_with_the_direction_reversed_are_caught(case: dict[str, Any]) -> None:
    catalogue = normalize_catalogue(raw_catalogue(case["catalogue"]))
    doc = correct_rules(case, catalogue)
    swap = {">=": "<", ">": "<=", "<=": ">", "<": ">="}
    condition = doc["rules"][0]["condition"]
    for op in (">=", "<=", ">", "<"):
        if f" {op} " in condition:
            condition = condition.replace(f" {op} ", f" {swap[op]} ")
            break
    doc["rules"][0]["condition"] = condition
    errors = check_faithfulness(case["intent"], WorkflowRules.model_validate(doc), catalogue)
    assert errors
    assert all("rules[0].condition: the intent says" in e for e in errors), errors
