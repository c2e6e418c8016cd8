"""The stable prompt prefix is byte-identical per catalogue, so provider prompt caches hit."""

from __future__ import annotations

import json
import random
from typing import Any

from eyeflow_worker.core.catalogue_reader import normalize_catalogue
from eyeflow_worker.core.workflow_rules import workflow_rules_json_schema
from eyeflow_worker.rules.prompt import build_generate_request, build_refine_request

from .conftest import raw_catalogue
from .scripted import rules_doc


def _shuffled(value: Any, rng: random.Random) -> Any:
    """The same catalogue with every list and every object's keys in another order."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: _shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        items = [_shuffled(v, rng) for v in value]
        if all(isinstance(v, dict) for v in items):  # lists of entries: order is not meaning
            rng.shuffle(items)
        return items
    return value


def test_system_prefix_identical_across_intents_and_purposes() -> None:
    catalogue = normalize_catalogue(raw_catalogue("infra_monitoring"))
    a = build_generate_request("Alert when CPU > 80%", catalogue)
    b = build_generate_request("Restart the api service when it is down", catalogue)
    c = build_refine_request(rules_doc(), "add retries", catalogue)
    assert a.system == b.system == c.system
    assert a.system.encode() == b.system.encode()
    assert "Alert when CPU" not in a.system  # the variable part is last, in messages
    assert a.messages[-1].content.endswith("Answer with the JSON object only.")
    assert "Intent: Alert when CPU > 80%" in a.messages[-1].content


def test_system_prefix_identical_for_permuted_catalogues() -> None:
    for name in ("sample", "infra_monitoring", "finance_approvals", "hr_onboarding"):
        raw = raw_catalogue(name)
        base = build_generate_request("x", normalize_catalogue(raw)).system
        for seed in range(5):
            permuted = _shuffled(json.loads(json.dumps(raw)), random.Random(seed))
            assert build_generate_request("y", normalize_catalogue(permuted)).system == base


def test_different_catalogues_give_different_prefixes() -> None:
    a = build_generate_request("x", normalize_catalogue(raw_catalogue("finance_approvals")))
    b = build_generate_request("x", normalize_catalogue(raw_catalogue("hr_onboarding")))
    assert a.system != b.system


def test_prefix_holds_schema_catalogue_and_examples() -> None:
    catalogue = normalize_catalogue(raw_catalogue("finance_approvals"))
    system = build_generate_request("x", catalogue).system
    assert "REQUEST_APPROVAL" in system
    assert "$expense.amount" in system
    assert '"workflow_name"' in system  # the JSON Schema
    assert "Format examples" in system


def test_request_carries_schema_and_structured_inputs() -> None:
    catalogue = normalize_catalogue(raw_catalogue("sample"))
    request = build_generate_request("  Alert me  ", catalogue)
    assert request.purpose == "generate"
    assert request.json_schema == workflow_rules_json_schema()
    assert request.inputs == {
        "intent": "Alert me",
        "catalogue": catalogue,  # the normalised object, so the offline drafter need not redo it
        "current_rules": None,
        "feedback": None,
    }
    refine = build_refine_request(rules_doc(), " more ", catalogue)
    assert refine.inputs["current_rules"] == rules_doc()
    assert refine.inputs["feedback"] == "more"
    assert refine.inputs["intent"] is None


def test_json_schema_describes_the_document() -> None:
    schema = workflow_rules_json_schema()
    assert schema["required"] == ["workflow_name", "trigger", "rules"]
    rule = schema["$defs"]["Rule"]["properties"]
    assert {"name", "condition", "then", "else", "description"} <= set(rule)
    action = schema["$defs"]["Action"]["properties"]
    assert {"action", "params", "retry", "on_failure"} <= set(action)
    schema["mutated"] = True  # callers get a copy
    assert "mutated" not in workflow_rules_json_schema()
