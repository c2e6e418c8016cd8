# ruff: noqa: E501  (error strings are asserted verbatim; splitting them hurts reading)
"""The faithfulness check: each kind of mismatch is caught with a message naming the place and
the fix, and nothing is reported where the check cannot decide (no false alarms)."""

from __future__ import annotations

from typing import Any

import pytest

from eyeflow_worker.core.catalogue_model import Catalogue
from eyeflow_worker.core.catalogue_reader import normalize_catalogue
from eyeflow_worker.core.workflow_rules import WorkflowRules
from eyeflow_worker.rules.faithfulness import check_faithfulness

from .conftest import raw_catalogue

# Variables with stated units (and units evident only in their names), for the unit cases.
UNITS = normalize_catalogue(
    {
        "action_types": [{"name": "LOG", "params": {"message": "string"}}],
        "variables": [
            {"name": "metrics.db_memory_fraction", "type": "number", "unit": "fraction"},
            {"name": "metrics.load", "type": "number", "unit": "fraction"},
            {"name": "metrics.cpu", "type": "number", "unit": "percent"},
            {"name": "metrics.mem_pct", "type": "number"},
            {"name": "metrics.disk_free_percent", "type": "number"},
            {"name": "disk.free_mb", "type": "number"},
            {"name": "disk.free", "type": "number", "unit": "GB"},
            {"name": "job.runtime", "type": "number", "unit": "seconds"},
            {"name": "job.wait_minutes", "type": "number"},
            {"name": "job.latency_ms", "type": "number"},
            {"name": "queue.size", "type": "number"},
            {"name": "gauge.value", "type": "number"},
        ],
    }
)


STRINGS = normalize_catalogue(
    {
        "action_types": [{"name": "LOG", "params": {"message": "string"}}],
        "variables": [
            {"name": "employee.is_manager", "type": "boolean"},
            {"name": "employee.team", "type": "string"},
        ],
    }
)


def catalogue(name: str) -> Catalogue:
    if name in ("units", "strings"):
        return UNITS if name == "units" else STRINGS
    return normalize_catalogue(raw_catalogue(name))


def rules(
    *conditions: str, actions: list[dict[str, Any]] | None = None, **rule: Any
) -> WorkflowRules:
    then = actions or [{"action": "LOG", "params": {"message": "m"}}]
    return WorkflowRules.model_validate(
        {
            "workflow_name": "w",
            "trigger": "T",
            "rules": [
                {"name": f"r{i}", "condition": c, "then": then, **rule}
                for i, c in enumerate(conditions)
            ],
        }
    )


def act(action: str, **params: Any) -> dict[str, Any]:
    return {"action": action, "params": params}


# (catalogue, intent, conditions, actions, the exact errors)
MISMATCHES: list[tuple[str, str, tuple[str, ...], list[dict[str, Any]] | None, list[str]]] = [
    # direction
    ("sample", "Alert the team when database memory exceeds 85%", ("$metrics.db_memory_percent < 85",), None,
     ['rules[0].condition: the intent says "exceeds 85%" but the condition compares $metrics.db_memory_percent < 85 (use > or >=)']),
    ("sample", "Send a message if database connections are below 10", ("10 < $metrics.db_connections",), None,
     ['rules[0].condition: the intent says "below 10" but the condition compares $metrics.db_connections > 10 (use < or <=)']),
    ("sample", "Alert when database memory exceeds 85%", ("NOT ($metrics.db_memory_percent > 85)",), None,
     ['rules[0].condition: the intent says "exceeds 85%" but the condition compares $metrics.db_memory_percent <= 85 (use > or >=)']),
    ("sample", "Page when the queue has at least 3 messages", ("$metrics.queue_depth == 3",), None,
     ['rules[0].condition: the intent says "at least 3" but the condition compares $metrics.queue_depth == 3 (use > or >=)']),
    ("sample", "Block the IP after 10 or more failed logins", ("$security.failed_logins <= 10",), None,
     ['rules[0].condition: the intent says "10 or more" but the condition compares $security.failed_logins <= 10 (use > or >=)']),
    ("sample", "Alert when the error rate is no more than 2%", ("$metrics.error_rate_percent > 2",), None,
     ['rules[0].condition: the intent says "no more than 2%" but the condition compares $metrics.error_rate_percent > 2 (use < or <=)']),
    ("sample", "Alert when CPU drops under 0.5", ("$metrics.cpu_percent > 0.5 AND $metrics.db_connections > 3",), None,
     ['rules[0].condition: the intent says "under 0.5" but the condition compares $metrics.cpu_percent > 0.5 (use < or <=)']),
    # missing threshold
    ("sample", "Alert the team when database memory exceeds 85%", ("$metrics.db_memory_percent > 80",), None,
     ['rules[0].condition: the intent\'s threshold 85% is missing from the conditions (the intent says "exceeds 85%")']),
    ("sample", "Escalate when the queue depth is at least 1000 and CPU is over 80%", ("$metrics.queue_depth >= 1000",), None,
     ['rules[0].condition: the intent\'s threshold 80% is missing from the conditions (the intent says "over 80%")']),
    ("sample", "Block the IP after more than 5 failed logins", ("true", "$service.status == down"), None,
     ['rules[*].condition: the intent\'s threshold 5 is missing from the conditions (the intent says "more than 5")']),
    ("finance_approvals", "Hold payments larger than $25k", ("$payment.amount > 25",), None,
     ['rules[0].condition: the intent\'s threshold $25k is missing from the conditions (the intent says "larger than $25k")']),
    # units: percent vs fraction
    ("units", "Alert when database memory exceeds 85%", ("$metrics.db_memory_fraction > 85",), None,
     ["rules[0].condition: $metrics.db_memory_fraction is a fraction; the intent's 85% is 0.85, not 85"]),
    ("units", "Alert when CPU is above 90 percent", ("$metrics.cpu > 0.9",), None,
     ["rules[0].condition: $metrics.cpu is in percent; the intent's 90 percent is 90, not 0.9"]),
    ("units", "Alert when memory is above 90%", ("$metrics.mem_pct > 0.9",), None,
     ["rules[0].condition: $metrics.mem_pct is in percent; the intent's 90% is 90, not 0.9"]),
    ("units", "Alert when the load exceeds 85%", ("$metrics.load < 85",), None,
     ['rules[0].condition: $metrics.load is a fraction; the intent\'s 85% is 0.85, not 85 (and the intent says "exceeds 85%": use > or >=)']),
    # units: data sizes
    ("units", "Alert when free disk drops below 10 GB", ("$disk.free_mb < 10",), None,
     ["rules[0].condition: $disk.free_mb is in MB; the intent's 10 GB is 10240 or 10000, not 10"]),
    ("units", "Alert when free disk is under 512 MB", ("$disk.free < 512",), None,
     ["rules[0].condition: $disk.free is in GB; the intent's 512 MB is 0.5 or 0.512, not 512"]),
    # units: durations
    ("units", "Alert when a job runs longer than 5 minutes", ("$job.runtime > 5",), None,
     ["rules[0].condition: $job.runtime is in seconds; the intent's 5 minutes is 300, not 5"]),
    ("sample", "Alert when response time exceeds 2 seconds", ("$metrics.response_time_ms > 2",), None,
     ["rules[0].condition: $metrics.response_time_ms is in ms; the intent's 2 seconds is 2000, not 2"]),
    ("units", "Alert when jobs wait more than 90 seconds", ("$job.wait_minutes > 90",), None,
     ["rules[0].condition: $job.wait_minutes is in minutes; the intent's 90 seconds is 1.5, not 90"]),
    # named channels
    ("sample", "Send a slack message to #db-alerts if database connections are below 10", ("$metrics.db_connections < 10",),
     [act("SEND_NOTIFICATION", channel="email", recipient="on-call", message="Send a slack message to #db-alerts")],
     ['rules[0].then[0].params.channel: the intent names the channel "slack" but channel is "email" (use "slack")',
      'rules[0].then[0].params.recipient: the intent names the channel "#db-alerts" but recipient is "on-call" (use "#db-alerts")']),
    ("infra_monitoring", "Post to #incidents on Slack when p95 latency is higher than 1200 ms", ("$metrics.p95_latency_ms > 1200",),
     [act("SEND_EMAIL", to="sre@example.com", subject="s", body="#incidents on Slack")],
     ['rules[0].then: the intent names the channel "#incidents" but no action carries it; use POST_SLACK_MESSAGE with channel "#incidents"',
      'rules[0].then: the intent names the channel "Slack" but no action carries it; use POST_SLACK_MESSAGE']),
    ("sample", "Notify ops by sms when CPU usage is above 90 percent", ("$metrics.cpu_percent > 90",),
     [act("SEND_NOTIFICATION", recipient="ops", message="m", channel="email")],
     ['rules[0].then[0].params.channel: the intent names the channel "sms" but channel is "email" (use "sms")']),
    # named teams
    ("sample", "Escalate to the platform team when CPU is over 80%", ("$metrics.cpu_percent > 80",),
     [act("SEND_WITH_ESCALATION", team="on-call", message="m", severity="high")],
     ['rules[0].then[0].params.team: the intent names the team "platform" but team is "on-call" (use "platform")']),
    ("sample", "Page the on-call team when the service is down", ('$service.status == "down"',),
     [act("SEND_NOTIFICATION", channel="sms", recipient="dba", message="on-call: service down")],
     ['rules[0].then[0].params.recipient: the intent names the team "on-call" but recipient is "dba" (use "on-call")']),
    # named severities
    ("sample", "Open a P1 incident if the error rate goes above 5%", ("$metrics.error_rate_percent > 5",),
     [act("CREATE_INCIDENT", title="P1: error rate", priority="P3")],
     ['rules[0].then[0].params.priority: the intent names the severity "P1" but priority is "P3" (use "P1")']),
    ("infra_monitoring", "Warn the on-call team about critical memory usage over 95%", ("$metrics.memory_percent > 95",),
     [act("SEND_WITH_ESCALATION", team="on-call", message="critical memory", severity="warning")],
     ['rules[0].then[0].params.severity: the intent names the severity "critical" but severity is "warning" (use "critical")']),
    ("sample", "Log a warning when disk usage reaches 75%", ("$metrics.disk_percent >= 75",),
     [act("LOG_EVENT", message="warning: disk at 75%")],
     ['rules[0].then[0].params.level: the intent names the severity "a warning" but level is not set (use "warning")']),
    ("infra_monitoring", "Open a high priority ticket when the error rate exceeds 2 percent", ("$metrics.error_rate_percent > 2",),
     [act("OPEN_JIRA_TICKET", summary="s", priority="Low")],
     ['rules[0].then[0].params.priority: the intent names the severity "high priority" but priority is "Low" (use "High")']),
]  # fmt: skip


@pytest.mark.parametrize(
    ("cat", "intent", "conditions", "actions", "expected"),
    MISMATCHES,
    ids=[f"{m[1][:40]}|{m[2][0][:30]}" for m in MISMATCHES],
)
def test_each_kind_of_mismatch_is_caught_and_names_the_place_and_fix(
    cat: str,
    intent: str,
    conditions: tuple[str, ...],
    actions: list[dict[str, Any]] | None,
    expected: list[str],
) -> None:
    assert (
        check_faithfulness(intent, rules(*conditions, actions=actions), catalogue(cat)) == expected
    )


# (catalogue, intent, conditions, actions): faithful, or not decidable — nothing to report.
FAITHFUL: list[tuple[str, str, tuple[str, ...], list[dict[str, Any]] | None]] = [
    ("sample", "Alert the team when database memory exceeds 85%", ("$metrics.db_memory_percent >= 85",), None),
    ("sample", "Alert the team when database memory exceeds 85%", ("85 < $metrics.db_memory_percent",), None),
    ("sample", "Alert the team when database memory exceeds 85%", ("NOT ($metrics.db_memory_percent <= 85)",), None),
    ("sample", "Alert the team when database memory exceeds 85%", ("$metrics.cpu_percent > 10 OR $metrics.db_memory_percent > 85",), None),
    ("sample", "Page if disk > 95%", ("$metrics.disk_percent > 95",), None),
    ("sample", "Alert when memory is greater than or equal to 90%", ("$metrics.memory_percent >= 90",), None),
    # units accepted in every faithful reading
    ("units", "Alert when database memory exceeds 85%", ("$metrics.db_memory_fraction > 0.85",), None),
    ("units", "Alert when free disk drops below 10 GB", ("$disk.free_mb < 10240",), None),
    ("units", "Alert when free disk drops below 10 GB", ("$disk.free_mb < 10000",), None),
    ("units", "Alert when a job runs longer than 5 minutes", ("$job.runtime > 300",), None),
    ("units", "Alert when the gauge exceeds 85%", ("$gauge.value > 0.85",), None),  # unit unknown: either
    ("units", "Alert when the gauge exceeds 85%", ("$gauge.value > 85",), None),
    ("units", "Alert when the load is above 0.9", ("$metrics.load > 0.9",), None),  # the intent has no unit
    ("units", "Alert when disk usage exceeds 80%", ("$metrics.disk_free_percent < 20",), None),  # the complement
    ("units", "Alert when the load exceeds 85%", ("$metrics.load / 2 > 0.425 OR $metrics.load > 0.85",), None),
    ("units", "Alert when memory per node is above 90%", ("$metrics.cpu * 1 > 90",), None),  # an expression
    # an else branch: either direction can be faithful
    ("finance_approvals", "Require manager approval for expenses over $500, otherwise approve them", ("$expense.amount <= 500",), None),
    # numbers that are not thresholds, or windows, rates and negations the check does not read
    ("sample", "Scale the web service to 6 replicas when response time exceeds 800 ms", ("$metrics.response_time_ms > 800",), None),
    ("sample", "Alert when CPU is above 90% for more than 5 minutes", ("$metrics.cpu_percent > 90",), None),
    ("sample", "Alert when CPU is above 80% over 5 minutes", ("$metrics.cpu_percent > 80",), None),
    ("sample", "Block the IP for 60 minutes after more than 5 failed logins in 10 minutes", ("$security.failed_logins > 5",), None),
    ("sample", "Open a case when a client exceeds 50 requests per second", ("$metrics.queue_depth > 3000",), None),
    ("sample", "Alert unless the backlog is never above 50", ("$metrics.queue_depth < 7",), None),
    ("sample", "Open a P1 incident if CPU reaches 99%", ("$metrics.cpu_percent >= 99",), [act("CREATE_INCIDENT", title="t", priority="P1")]),
    ("sample", "Track p95 latency and 5xx errors", ("true",), None),
    # the number is in an action: "at least 3 replicas" is what to do, not when
    ("sample", "Scale the web service to at least 3 replicas when CPU exceeds 80%", ("$metrics.cpu_percent > 80",),
     [act("SCALE_SERVICE", service="web", replicas=3)]),
    # a condition that does not parse: the condition layer reports it, this check stays quiet
    ("sample", "Alert the team when database memory exceeds 85%", ("$metrics.db_memory_percent >",), None),
    # a catalogue without numeric variables, or a duration where no variable is measured in time
    ("strings", "Enroll employees with more than 3 reports in manager training", ("$employee.is_manager == true",), None),
    ("finance_approvals", "Flag payments delayed by more than 3 hours", ("true",), None),
    # names: carried, or nothing in the catalogue / the chosen actions can carry them
    ("sample", "Notify ops by email when CPU usage is above 90 percent", ("$metrics.cpu_percent > 90",),
     [act("SEND_NOTIFICATION", channel="email", recipient="ops", message="m")]),
    ("sample", "Send a slack message to #db-alerts if database connections are below 10", ("$metrics.db_connections < 10",),
     [act("SEND_NOTIFICATION", channel="slack", recipient="#db-alerts", message="m")]),
    ("infra_monitoring", "Email sre@example.com when free disk space drops below 20 GB", ("$metrics.disk_free_gb < 20",),
     [act("SEND_EMAIL", to="sre@example.com", subject="s", body="b")]),
    ("infra_monitoring", "Post to #incidents on Slack when p95 latency is higher than 1200 ms", ("$metrics.p95_latency_ms > 1200",),
     [act("POST_SLACK_MESSAGE", channel="incidents", text="t")]),
    ("sample", "Escalate to the platform team when CPU is over 80%", ("$metrics.cpu_percent > 80",),
     [act("SEND_WITH_ESCALATION", team="platform-team", message="m", severity="high")]),
    ("sample", "Escalate to the platform team when CPU is over 80%", ("$metrics.cpu_percent > 80",), [act("LOG_EVENT", message="m")]),
    ("sample", "Page the dba team when CPU is over 80%", ("$metrics.cpu_percent > 80",),
     [act("SEND_NOTIFICATION", channel="email", recipient="dba-team", message="m")]),
    ("sample", "Alert the team about critical CPU over 80%", ("$metrics.cpu_percent > 80",),
     [act("CREATE_INCIDENT", title="t", priority="P1")]),  # no enum of CREATE_INCIDENT lists "critical"
    ("finance_approvals", "Notify the finance team by email when a payment is due in less than 2 days", ("$payment.days_until_due < 2",),
     [act("NOTIFY_FINANCE", subject="s", message="m")]),
    ("hr_onboarding", "Send a welcome email to the new employee", ("true",), [act("SEND_WELCOME_EMAIL", message="m")]),
    ("sample", "Alert the team when a non-critical service is down", ('$service.status == "down"',),
     [act("SEND_WITH_ESCALATION", team="ops", message="m", severity="low")]),
    # contrary or exception clauses, counts of things, shares and fractions: not decidable
    ("sample", "If CPU stays below 80% do nothing, otherwise alert ops", ("$metrics.cpu_percent >= 80",), None),
    ("sample", "Alert ops unless response time is under 200ms", ("$metrics.response_time_ms >= 200",), None),
    ("sample", "Alert ops except when CPU is below 20%", ("$metrics.cpu_percent >= 20",), None),
    ("sample", "Alert ops when disk exceeds 85%, but not if it is above 99%",
     ("$metrics.disk_percent > 85 AND $metrics.disk_percent <= 99",), None),
    ("sample", "Tell ops when CPU is no longer above 80%", ("$metrics.cpu_percent <= 80",), None),
    ("sample", "Restart the api service when it is down, at most 3 times", ('$service.status == "down"',), None),
    ("sample", "Alert ops if CPU is above 80% on more than 3 hosts", ("$metrics.cpu_percent > 80",), None),
    ("sample", "Alert when db connections exceed 80% of the 500 limit", ("$metrics.db_connections > 400",), None),
    ("sample", "Alert when db memory is over 3/4", ("$metrics.db_memory_percent > 75",), None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("cat", "intent", "conditions", "actions"),
    FAITHFUL,
    ids=[f"{m[1][:40]}|{m[2][0][:30]}" for m in FAITHFUL],
)
def test_no_false_alarm(
    cat: str, intent: str, conditions: tuple[str, ...], actions: list[dict[str, Any]] | None
) -> None:
    extra = (
        {"else": [{"action": "AUTO_APPROVE", "params": {"reason": "small"}}]}
        if "otherwise" in intent
        else {}
    )
    assert (
        check_faithfulness(intent, rules(*conditions, actions=actions, **extra), catalogue(cat))
        == []
    )


def test_an_else_branch_is_what_makes_either_direction_acceptable() -> None:
    intent = "Require manager approval for expenses over $500, otherwise approve them"
    without_else = check_faithfulness(
        intent, rules("$expense.amount <= 500"), catalogue("finance_approvals")
    )
    assert without_else == [  # the same rules as in FAITHFUL, but no else branch
        'rules[0].condition: the intent says "over $500" but the condition compares $expense.amount <= 500 (use > or >=)'
    ]


def test_an_intent_without_thresholds_or_names_never_complains(sample: Catalogue) -> None:
    assert (
        check_faithfulness("Restart the payment service when it is down", rules("true"), sample)
        == []
    )
