"""Refine says which parts of the feedback it applied: the offline drafter applies every clause
it can express with the catalogue (channel, threshold, severity, recipient, …) and the result's
`feedback_applied` / `feedback_not_applied` report each clause — for any provider."""

from __future__ import annotations

import json
from typing import Any

import pytest

from eyeflow_worker.core.catalogue_reader import normalize_catalogue
from eyeflow_worker.providers.offline import OfflineProvider
from eyeflow_worker.rules.feedback import split_feedback
from eyeflow_worker.rules.feedback_report import report_feedback
from eyeflow_worker.rules.sample_catalogue import sample_catalogue
from eyeflow_worker.rules.service import generate_rules, refine_rules
from tests.rules.conftest import raw_catalogue
from tests.rules.scripted import ScriptedProvider, rules_doc

Doc = dict[str, Any]


@pytest.fixture
def drafted(offline: OfflineProvider) -> Doc:
    """The seed's intent drafted on the sample catalogue: SEND_NOTIFICATION by email, > 85."""
    result = generate_rules(
        offline, "Alert the team when database memory exceeds 85%", None, max_repair_attempts=0
    )
    rules: Doc = result["workflow_rules"]
    assert rules["rules"][0]["then"][0]["params"]["channel"] == "email"
    return rules


def _refine(offline: OfflineProvider, rules: Doc, feedback: str, context: Any = None) -> Doc:
    result: Doc = refine_rules(offline, rules, feedback, context, max_repair_attempts=0)
    return result


def _clauses(entries: list[Doc]) -> list[str]:
    return [entry["clause"] for entry in entries]


@pytest.mark.parametrize(
    ("feedback", "clauses"),
    [
        (
            "use slack instead of email and lower the threshold to 80%",
            ["use slack instead of email", "lower the threshold to 80%"],
        ),
        (
            "Use slack instead of email; threshold 80%",
            ["Use slack instead of email", "threshold 80%"],
        ),
        (
            "set severity to critical, then send it to the dba team. Also open an incident",
            ["set severity to critical", "send it to the dba team", "Also open an incident"],
        ),
        (
            "Add retry logic, 5 times every 10 seconds",
            ["Add retry logic, 5 times every 10 seconds"],
        ),
        ("notify alice and bob", ["notify alice and bob"]),
        ("raise it to 0.9.", ["raise it to 0.9"]),
    ],
)
def test_feedback_is_cut_into_requests(feedback: str, clauses: list[str]) -> None:
    assert split_feedback(feedback) == clauses


def test_the_issue_example_applies_both_parts(offline: OfflineProvider, drafted: Doc) -> None:
    result = _refine(offline, drafted, "use slack instead of email and lower the threshold to 80%")

    rule = result["workflow_rules"]["rules"][0]
    assert rule["then"][0]["params"]["channel"] == "slack"
    assert rule["condition"] == "$metrics.db_memory_percent > 80"
    assert _clauses(result["feedback_applied"]) == [
        "use slack instead of email",
        "lower the threshold to 80%",
    ]
    assert result["feedback_not_applied"] == []
    assert result["feedback_applied"][1]["changes"] == [
        "rule 'db-memory-percent-85': condition changed"
    ]


def test_what_cannot_be_applied_is_listed_with_why(offline: OfflineProvider, drafted: Doc) -> None:
    result = _refine(
        offline,
        drafted,
        "use teams instead of email, make it friendlier and lower the threshold to 70",
    )

    assert result["workflow_rules"]["rules"][0]["then"] == drafted["rules"][0]["then"]
    assert result["workflow_rules"]["rules"][0]["condition"].endswith("> 70")
    assert _clauses(result["feedback_applied"]) == ["lower the threshold to 70"]
    assert result["feedback_not_applied"] == [
        {
            "clause": "use teams instead of email",
            "reason": "the catalogue offers no 'teams' channel "
            "(channels it offers: email, slack, sms)",
        },
        {
            "clause": "make it friendlier",
            "reason": "no change in the refined rules corresponds to it",
        },
    ]
    description = result["workflow_rules"]["description"]
    assert (
        "Not applied: 'use teams instead of email' (the catalogue offers no 'teams'" in description
    )
    assert "'make it friendlier' (not understood by the offline drafter)" in description


def test_severity_and_recipient(offline: OfflineProvider) -> None:
    rules = rules_doc()  # SEND_WITH_ESCALATION(team="on-call", severity="high")
    result = _refine(offline, rules, "make it critical; send it to the dba team")

    params = result["workflow_rules"]["rules"][0]["then"][0]["params"]
    assert params["severity"] == "critical"
    assert params["team"] == "dba"
    assert _clauses(result["feedback_applied"]) == ["make it critical", "send it to the dba team"]
    assert result["feedback_not_applied"] == []


def test_an_unknown_severity_is_not_applied(offline: OfflineProvider) -> None:
    result = _refine(offline, rules_doc(), "set the severity to apocalyptic")

    assert result["workflow_rules"]["rules"] == rules_doc()["rules"]
    assert _clauses(result["feedback_not_applied"]) == ["set the severity to apocalyptic"]
    assert (
        "SEND_WITH_ESCALATION.severity: low, medium, high, critical"
        in (result["workflow_rules"]["description"])
    )


def test_a_recipient_address_and_a_slack_channel(offline: OfflineProvider, drafted: Doc) -> None:
    result = _refine(offline, drafted, "notify dba@example.com and use sms")

    params = result["workflow_rules"]["rules"][0]["then"][0]["params"]
    assert params["recipient"] == "dba@example.com"
    assert params["channel"] == "sms"
    assert _clauses(result["feedback_applied"]) == ["notify dba@example.com", "use sms"]


def test_a_channel_of_its_own_action_is_swapped_for_that_channels_action(
    offline: OfflineProvider,
) -> None:
    context = raw_catalogue("infra_monitoring")  # SEND_EMAIL, POST_SLACK_MESSAGE, no SMS
    drafted = generate_rules(
        offline, "Email dba@example.com when database memory exceeds 85%", context,
        max_repair_attempts=0,
    )["workflow_rules"]  # fmt: skip
    assert [a["action"] for a in drafted["rules"][0]["then"]] == ["SEND_EMAIL"]

    result = _refine(offline, drafted, "use slack instead of email, and use sms", context)

    then = result["workflow_rules"]["rules"][0]["then"]
    assert [a["action"] for a in then] == ["POST_SLACK_MESSAGE"]
    assert then[0]["params"]["text"] == drafted["rules"][0]["then"][0]["params"]["body"]
    assert _clauses(result["feedback_applied"]) == ["use slack instead of email"]
    assert result["feedback_not_applied"] == [
        {
            "clause": "use sms",
            "reason": "the catalogue offers no 'sms' channel (channels it offers: slack, email)",
        }
    ]


def test_every_clause_is_in_exactly_one_list(offline: OfflineProvider, drafted: Doc) -> None:
    feedback = (
        "Add retry logic, 3 times; stop the workflow if it fails; also open an incident; "
        "rename it to db-guard; make it prettier"
    )
    result = _refine(offline, drafted, feedback)

    reported = _clauses(result["feedback_applied"]) + _clauses(result["feedback_not_applied"])
    assert sorted(reported) == sorted(split_feedback(feedback))
    assert _clauses(result["feedback_not_applied"]) == ["make it prettier"]
    assert result["workflow_rules"]["workflow_name"] == "db-guard"


def test_a_models_refinement_is_reported_by_comparison() -> None:
    """An LLM answers with rules only; what it applied is read from the change it made."""
    before = rules_doc()
    after = json.loads(json.dumps(before))
    after["rules"][0]["condition"] = "($metrics.db_memory_percent > 80)"
    provider = ScriptedProvider([json.dumps(after)])

    result = refine_rules(
        provider, before, "lower the threshold to 80% and page the sre team", None,
        max_repair_attempts=0,
    )  # fmt: skip

    assert result["feedback_applied"] == [
        {
            "clause": "lower the threshold to 80%",
            "changes": ["rule 'check-memory': condition changed"],
        }
    ]
    assert result["feedback_not_applied"] == [
        {
            "clause": "page the sre team",
            "reason": "no change in the refined rules corresponds to it",
        }
    ]


def test_nothing_changed_means_nothing_applied() -> None:
    catalogue = normalize_catalogue(sample_catalogue())
    report = report_feedback("use slack; set severity to critical", [], catalogue)

    assert report["feedback_applied"] == []
    assert _clauses(report["feedback_not_applied"]) == ["use slack", "set severity to critical"]


def test_a_channel_the_catalogue_lacks_is_never_reported_applied(
    offline: OfflineProvider, drafted: Doc
) -> None:
    """'send it to teams' shares 'send' with the SEND_* action the slack clause brings in; the
    teams clause is still not applied, for the catalogue offers no teams channel."""
    result = _refine(offline, drafted, "use slack instead of email. Also send it to teams")

    assert _clauses(result["feedback_applied"]) == ["use slack instead of email"]
    assert [entry["clause"] for entry in result["feedback_not_applied"]] == [
        "Also send it to teams"
    ]
    assert "no 'teams' channel" in result["feedback_not_applied"][0]["reason"]
