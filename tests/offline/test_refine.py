from __future__ import annotations

import pytest

from eyeflow_worker.providers.offline import OfflineProvider
from eyeflow_worker.rules.service import generate_rules, refine_rules
from tests.rules.conftest import raw_catalogue


@pytest.fixture
def drafted(offline: OfflineProvider) -> dict:  # type: ignore[type-arg]
    result = generate_rules(
        offline, "Alert the team when database memory exceeds 85%", None, max_repair_attempts=0
    )
    return result["workflow_rules"]  # type: ignore[no-any-return]


def test_add_retry(offline: OfflineProvider, drafted: dict) -> None:  # type: ignore[type-arg]
    result = refine_rules(
        offline, drafted, "Add retry logic, 5 times every 10 seconds", None, max_repair_attempts=0
    )
    action = result["workflow_rules"]["rules"][0]["then"][0]
    assert action["retry"] == {"max_attempts": 5, "backoff_seconds": 10.0}
    assert [c["kind"] for c in result["changes"]] == ["description_changed", "action_modified"]
    assert result["provider"] == "offline"
    assert "not an LLM" in result["workflow_rules"]["description"]


def test_change_threshold(offline: OfflineProvider, drafted: dict) -> None:  # type: ignore[type-arg]
    result = refine_rules(
        offline, drafted, "Change the threshold to 90", None, max_repair_attempts=0
    )
    assert result["workflow_rules"]["rules"][0]["condition"] == "$metrics.db_memory_percent > 90"
    result = refine_rules(offline, drafted, "use 95 instead of 85", None, max_repair_attempts=0)
    assert result["workflow_rules"]["rules"][0]["condition"] == "$metrics.db_memory_percent > 95"


def test_also_notify_adds_an_action(offline: OfflineProvider, drafted: dict) -> None:  # type: ignore[type-arg]
    result = refine_rules(offline, drafted, "Also open an incident", None, max_repair_attempts=0)
    actions = [a["action"] for a in result["workflow_rules"]["rules"][0]["then"]]
    assert actions[-1] == "CREATE_INCIDENT"
    assert "action_added" in [c["kind"] for c in result["changes"]]


def test_stop_on_failure(offline: OfflineProvider, drafted: dict) -> None:  # type: ignore[type-arg]
    result = refine_rules(
        offline, drafted, "Stop the workflow if sending fails", None, max_repair_attempts=0
    )
    assert result["workflow_rules"]["rules"][0]["then"][0]["on_failure"] == {
        "strategy": "stop_workflow",
        "actions": [],
    }


def test_unknown_feedback_keeps_rules_and_says_so(offline: OfflineProvider, drafted: dict) -> None:  # type: ignore[type-arg]
    result = refine_rules(offline, drafted, "Make it friendlier", None, max_repair_attempts=0)
    assert result["workflow_rules"]["rules"] == drafted["rules"]
    assert "could not apply this feedback" in result["workflow_rules"]["description"]
    assert [c["kind"] for c in result["changes"]] == ["description_changed"]


def test_refine_with_other_catalogue(offline: OfflineProvider) -> None:
    context = raw_catalogue("finance_approvals")
    drafted = generate_rules(
        offline, "Require manager approval for expenses over $500", context, max_repair_attempts=0
    )
    result = refine_rules(
        offline, drafted["workflow_rules"], "also notify finance", context, max_repair_attempts=0
    )
    actions = [a["action"] for a in result["workflow_rules"]["rules"][0]["then"]]
    assert actions == ["REQUEST_APPROVAL", "NOTIFY_FINANCE"]
