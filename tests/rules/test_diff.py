from __future__ import annotations

import copy

from eyeflow_worker.rules.diff import diff_rules

from .scripted import rules_doc


def kinds(old: dict, new: dict) -> list[str]:  # type: ignore[type-arg]
    return [c["kind"] for c in diff_rules(old, new)]


def test_no_change() -> None:
    assert diff_rules(rules_doc(), rules_doc()) == []


def test_top_level_changes() -> None:
    new = rules_doc(workflow_name="renamed", trigger="ON_SCHEDULE")
    changes = diff_rules(rules_doc(), new)
    assert [c["kind"] for c in changes] == ["workflow_name_changed", "trigger_changed"]
    assert changes[1]["before"] == "ON_METRIC_UPDATE"
    assert changes[1]["after"] == "ON_SCHEDULE"


def test_rules_added_removed_renamed() -> None:
    old = rules_doc()
    new = copy.deepcopy(old)
    new["rules"][0]["name"] = "memory-check"
    assert kinds(old, new) == ["rule_renamed"]
    extra = copy.deepcopy(old["rules"][0])
    extra["name"], extra["condition"] = "cpu", "$metrics.cpu_percent > 1"
    new = copy.deepcopy(old)
    new["rules"].append(extra)
    assert kinds(old, new) == ["rule_added"]
    assert kinds(new, old) == ["rule_removed"]


def test_actions_within_a_rule() -> None:
    old = rules_doc()
    new = copy.deepcopy(old)
    rule = new["rules"][0]
    rule["condition"] = "$metrics.db_memory_percent > 90"
    rule["then"][0]["retry"] = {"max_attempts": 3, "backoff_seconds": 10}
    rule["then"].append({"action": "LOG_EVENT", "params": {"message": "m"}})
    rule["else"] = [{"action": "LOG_EVENT", "params": {"message": "ok"}}]
    changes = diff_rules(old, new)
    assert [c["kind"] for c in changes] == [
        "rule_condition_changed", "action_modified", "action_added", "action_added",
    ]  # fmt: skip
    assert "(retry)" in changes[1]["summary"]
    assert changes[2]["path"] == "rules[check-memory].then[LOG_EVENT]"
    assert changes[3]["path"] == "rules[check-memory].else[LOG_EVENT]"
    assert kinds(new, old)[1:] == ["action_modified", "action_removed", "action_removed"]


def test_repeated_actions_and_reordering() -> None:
    old = rules_doc()
    a = {"action": "LOG_EVENT", "params": {"message": "1"}}
    old["rules"][0]["then"].append(a)
    new = copy.deepcopy(old)
    new["rules"][0]["then"].reverse()
    assert kinds(old, new) == ["actions_reordered"]
    new = copy.deepcopy(old)
    new["rules"][0]["then"].append(dict(a))
    changes = diff_rules(old, new)
    assert [c["path"] for c in changes] == ["rules[check-memory].then[LOG_EVENT#2]"]
