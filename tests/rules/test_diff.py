from __future__ import annotations

import copy
import json

from eyeflow_worker.rules.diff import diff_rules
from eyeflow_worker.rules.service import refine_rules

from .scripted import ScriptedProvider, rules_doc


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


def test_defaults_and_nulls_in_the_old_side_are_not_changes() -> None:
    # The caller's current rules omit `params` and spell out `"retry": null`; the validated
    # output has `params: {}` and no `retry`. Nothing was changed.
    old = rules_doc()
    old["rules"][0]["then"].append({"action": "LOG_EVENT", "retry": None, "on_failure": None})
    old["rules"][0]["else"] = None
    old["description"] = None
    new = copy.deepcopy(rules_doc())
    new["rules"][0]["then"].append({"action": "LOG_EVENT", "params": {}})
    assert diff_rules(old, new) == []


def test_an_old_side_that_does_not_validate_is_compared_as_given() -> None:
    old = rules_doc()
    old["rules"][0]["then"][0]["params"] = "not an object"
    assert kinds(old, rules_doc()) == ["action_modified"]


def test_refine_keeping_the_rules_verbatim_reports_no_change() -> None:
    current = rules_doc()
    current["rules"][0]["then"][0]["retry"] = None
    current["rules"][0]["then"].append({"action": "LOG_EVENT"})  # no params
    llm = ScriptedProvider([json.dumps(current)])  # the model keeps everything verbatim
    catalogue = {
        "action_types": ["SEND_WITH_ESCALATION", "LOG_EVENT"],
        "triggers": ["ON_METRIC_UPDATE"],
    }
    result = refine_rules(llm, current, "keep it", catalogue, max_repair_attempts=0)
    assert result["workflow_rules"]["rules"][0]["then"][1] == {"action": "LOG_EVENT", "params": {}}
    assert result["changes"] == []


def _two_rules() -> dict:  # type: ignore[type-arg]
    doc = rules_doc()
    second = copy.deepcopy(doc["rules"][0])
    second["name"], second["condition"] = "cpu", "$metrics.cpu_percent > 90"
    doc["rules"].append(second)
    return doc


def test_reordering_rules_is_a_change() -> None:
    old = _two_rules()
    new = copy.deepcopy(old)
    new["rules"].reverse()
    changes = diff_rules(old, new)
    assert changes == [
        {
            "kind": "rules_reordered",
            "path": "rules",
            "summary": "rules reordered",
            "before": ["check-memory", "cpu"],
            "after": ["cpu", "check-memory"],
        }
    ]


def test_rule_reorder_is_seen_next_to_an_added_rule_and_a_rename() -> None:
    old = _two_rules()
    new = copy.deepcopy(old)
    new["rules"].reverse()
    new["rules"][0]["name"] = "cpu-high"  # renamed and moved
    extra = copy.deepcopy(old["rules"][0])
    extra["name"] = "third"
    new["rules"].insert(0, extra)
    changes = diff_rules(old, new)
    assert [c["kind"] for c in changes] == ["rule_renamed", "rule_added", "rules_reordered"]
    assert changes[2]["before"] == ["check-memory", "cpu"]
    assert changes[2]["after"] == ["cpu-high", "check-memory"]
    # Adding a rule in front moves nothing.
    new = copy.deepcopy(old)
    new["rules"].insert(0, extra)
    assert kinds(old, new) == ["rule_added"]


def test_action_reorder_is_seen_when_an_action_is_also_added_or_removed() -> None:
    old = rules_doc()
    old["rules"][0]["then"].append({"action": "LOG_EVENT", "params": {"message": "1"}})
    new = copy.deepcopy(old)
    new["rules"][0]["then"].reverse()
    new["rules"][0]["then"].append({"action": "CREATE_INCIDENT", "params": {"title": "t"}})
    changes = diff_rules(old, new)
    assert [c["kind"] for c in changes] == ["action_added", "actions_reordered"]
    assert changes[1]["before"] == ["SEND_WITH_ESCALATION", "LOG_EVENT"]
    assert changes[1]["after"] == ["LOG_EVENT", "SEND_WITH_ESCALATION"]
    assert [c["kind"] for c in diff_rules(new, old)] == ["action_removed", "actions_reordered"]
    # Appending or removing without moving the others is not a reorder.
    new = copy.deepcopy(old)
    new["rules"][0]["then"].insert(0, {"action": "CREATE_INCIDENT", "params": {"title": "t"}})
    assert kinds(old, new) == ["action_added"]


def test_duplicate_named_input_rule_never_shows_an_internal_key() -> None:
    old = rules_doc()
    old["rules"].append(copy.deepcopy(old["rules"][0]))  # two rules named check-memory
    new = copy.deepcopy(old)
    new["rules"][1]["name"] = "check-memory-2"
    changes = diff_rules(old, new)
    assert changes == [
        {
            "kind": "rule_renamed",
            "path": "rules[check-memory-2]",
            "summary": "rule 'check-memory' at rules[1] renamed to 'check-memory-2'",
            "before": "check-memory",
            "after": "check-memory-2",
        }
    ]
    # Dropped, or changed in place: still named by position, not by an internal key.
    dropped = copy.deepcopy(old)
    del dropped["rules"][1]
    removal = diff_rules(old, dropped)
    assert [(c["kind"], c["path"], c["summary"]) for c in removal] == [
        ("rule_removed", "rules[1]", "rule 'check-memory' at rules[1] removed")
    ]
    edited = copy.deepcopy(old)
    edited["rules"][1]["condition"] = "$metrics.cpu_percent > 1"
    edit = diff_rules(old, edited)
    assert [(c["path"], c["summary"]) for c in edit] == [
        ("rules[1].condition", "rule 'check-memory' at rules[1]: condition changed")
    ]
    unnamed = copy.deepcopy(old)
    del unnamed["rules"][1]["name"]
    for change in diff_rules(unnamed, rules_doc()) + diff_rules(old, unnamed):
        assert "#" not in change["summary"] + change["path"], change
