# ruff: noqa: E501  (table rows read best on one line)
"""What the faithfulness check reads in an intent: thresholds (number, unit, direction) and the
channels, teams and severities it names — and what it deliberately does not read."""

from __future__ import annotations

import pytest

from eyeflow_worker.core.catalogue_reader import normalize_catalogue
from eyeflow_worker.rules.faithfulness_intent import named_things, thresholds
from eyeflow_worker.rules.faithfulness_units import name_unit, parse_unit, variable_unit


@pytest.mark.parametrize(
    ("intent", "expected"),
    [
        ("Alert when database memory exceeds 85%", [("exceeds 85%", 85, "percent", "up")]),
        ("Alert when free disk drops below 10 GB", [("below 10 GB", 10, "GB", "down")]),
        ("more than 5 failed logins in 10 minutes", [("more than 5", 5, None, "up")]),
        ("CPU above 90 percent", [("above 90 percent", 90, "percent", "up")]),
        ("when the ratio drops under 0.5", [("under 0.5", 0.5, None, "down")]),
        ("keep at least 3 replicas", [("at least 3", 3, None, "up")]),
        ("10 or more failed logins", [("10 or more", 10, None, "up")]),
        ("invoices of 200 or less", [("200 or less", 200, None, "down")]),
        ("payments larger than $25k", [("larger than $25k", 25000, None, "up")]),
        ("invoices above $10,000", [("above $10,000", 10000, None, "up")]),
        ("expenses over 2 thousand dollars", [("over 2 thousand", 2000, None, "up")]),
        ("memory is greater than or equal to 90%", [("greater than or equal to 90%", 90, "percent", "up")]),
        ("the error rate is no more than 2%", [("no more than 2%", 2, "percent", "down")]),
        ("queue depth not less than 5000", [("not less than 5000", 5000, None, "up")]),
        ("CPU does not exceed 10%", [("does not exceed 10%", 10, "percent", "down")]),
        ("latency longer than 1.5 seconds", [("longer than 1.5 seconds", 1.5, "seconds", "up")]),
        ("a backup older than 2h", [("older than 2h", 2, "hours", "up")]),
        ("a token older than 1 year", [("older than 1 year", 1, "years", "up")]),
        ("Page if disk > 95%", [("> 95%", 95, "percent", "up")]),
        ("queue at least 1000 and CPU over 80%", [("at least 1000", 1000, None, "up"), ("over 80%", 80, "percent", "up")]),
        # not thresholds
        ("Scale the web service to 6 replicas", []),
        ("Block the source IP for 60 minutes", []),
        ("approve within 3 days", []),
        ("Open a P1 incident when p95 latency is high", []),
        ("CPU above 80% for more than 5 minutes", [("above 80%", 80, "percent", "up")]),
        ("CPU above 80% over 5 minutes", [("above 80%", 80, "percent", "up")]),
        ("a client exceeds 50 requests per second", []),
        ("a certificate older than 6 months", []),
        ("the backlog is never above 50", []),
        ("more than 5xx errors", []),
    ],
)  # fmt: skip
def test_thresholds(intent: str, expected: list[tuple[str, float, str | None, str]]) -> None:
    found = [
        (t.said, t.value, t.unit.name if t.unit else None, t.direction) for t in thresholds(intent)
    ]
    assert found == expected


@pytest.mark.parametrize(
    ("intent", "expected"),
    [
        ("Send a slack message to #db-alerts", [("channel", "slack"), ("channel", "#db-alerts")]),
        ("Notify ops by email or SMS", [("channel", "email"), ("channel", "sms")]),
        ("Trigger PagerDuty", [("channel", "pagerduty")]),
        ("Page the dba team and the on-call engineer", [("team", "dba"), ("team", "on-call")]),
        ("Warn the on-call team", [("team", "on-call")]),
        ("Alert the team", []),
        ("Open a P1 incident", [("severity", "p1")]),
        ("Escalate with critical severity", [("severity", "critical")]),
        ("Open a high priority ticket", [("severity", "high")]),
        ("Log a warning", [("severity", "warning")]),
        ("Set severity info", [("severity", "info")]),
        ("Alert about a non-critical service", []),
        ("Email sre@example.com", [("channel", "email")]),
        ("when the error rate is high", []),
    ],
)
def test_named_things(intent: str, expected: list[tuple[str, str]]) -> None:
    assert [(n.kind, n.value) for n in named_things(intent)] == expected


def test_units_from_the_catalogue_first_then_the_name() -> None:
    catalogue = normalize_catalogue(
        {
            "variables": [
                {"name": "a.usage", "type": "number", "unit": "fraction"},
                # a unit stated but not one we know: the name's "_mb" is not read then
                {"name": "a.size_mb", "type": "number", "unit": "USD"},
                {"name": "a.size_gb", "type": "number"},
            ]
        }
    )
    assert getattr(variable_unit("$a.usage", catalogue), "name", None) == "fraction"
    assert variable_unit("$a.size_mb", catalogue) is None
    assert getattr(variable_unit("$a.size_gb", catalogue), "name", None) == "GB"
    assert getattr(name_unit("$metrics.latency_ms"), "name", None) == "ms"
    assert getattr(name_unit("$metrics.cpu_pct"), "name", None) == "percent"
    assert name_unit("$metrics.db_connections") is None
    assert getattr(parse_unit("Minutes"), "name", None) == "minutes"
    assert parse_unit("requests") is None
