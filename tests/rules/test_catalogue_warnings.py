"""No silent guess: what the reader could not read is said, with where; a catalogue that cannot
ground any rule fails the job with config_invalid before any provider is called."""

from __future__ import annotations

import json
from typing import Any

import pytest

from eyeflow_worker.core.catalogue_reader import read_catalogue
from eyeflow_worker.core.errors import ConfigInvalid
from eyeflow_worker.rules.catalogue import catalogue_for, grounding_problems
from eyeflow_worker.rules.sample_catalogue import sample_catalogue
from eyeflow_worker.rules.service import generate_rules, refine_rules

from .conftest import raw_catalogue
from .scripted import ScriptedProvider, rules_doc

GROUNDED: dict[str, Any] = {
    "action_types": ["PING"],
    "triggers": ["ON_START"],
    "variables": [{"path": "cpu", "type": "number"}],
}


def test_well_formed_catalogues_read_without_warnings() -> None:
    for name in ("sample", "infra_monitoring", "finance_approvals", "hr_onboarding"):
        assert read_catalogue(raw_catalogue(name)).warnings == (), name


def test_entry_without_a_usable_name_is_skipped_and_said() -> None:
    raw = {
        **GROUNDED,
        "variables": ["a", "b", "c", {"type": "number", "description": "no name"}],
    }
    reading = read_catalogue(raw)
    assert reading.catalogue.variable_names == ("$a", "$b", "$c")
    assert any(
        w.startswith("variables[3]: entry has no usable name (keys: description, type); skipped")
        and "type is the value type, never the name" in w
        for w in reading.warnings
    ), reading.warnings


def test_where_is_the_path_as_sent() -> None:
    reading = read_catalogue(
        {"data": {"capabilities": {"actionTypes": ["PING", 42, "  "], "variables": ["cpu"]}}}
    )
    assert "data.capabilities.actionTypes[1]: expected a name or an object, got number; " \
           "skipped" in reading.warnings  # fmt: skip
    assert "data.capabilities.actionTypes[2]: blank name; skipped" in reading.warnings


def test_variables_named_like_value_types_are_flagged() -> None:
    reading = read_catalogue({**GROUNDED, "variables": ["number", "cpu"]})
    assert (
        "variables: '$number' is named like a value type; was its name in another key?"
        in reading.warnings
    )


def test_references_to_undeclared_variables_are_flagged() -> None:
    raw = {
        **GROUNDED,
        "condition_types": [{"name": "THRESHOLD", "description": "e.g. $cpu > 80 or $mem > 90"}],
        "action_types": [{"name": "PING", "params": [{"name": "host", "default": "$host.name"}]}],
    }
    warnings = read_catalogue(raw).warnings
    assert (
        "condition_types[THRESHOLD]: refers to $mem, which the catalogue's variables do not "
        "declare" in warnings
    )
    assert not any("$cpu," in w for w in warnings)  # declared
    # A parameter keeps no unread fields (ParamSpec has no extra), so there is nothing to flag.
    assert not any("$host.name" in w for w in warnings)


def test_references_in_an_action_types_extra_fields_are_flagged() -> None:
    raw = {**GROUNDED, "action_types": [{"name": "PING", "template": "Host {{$host.name}}"}]}
    assert (
        "action_types[PING]: refers to $host.name, which the catalogue's variables do not declare"
        in read_catalogue(raw).warnings
    )


def test_empty_sections_the_prompt_relies_on() -> None:
    warnings = read_catalogue({"conditionTypes": ["THRESHOLD"]}).warnings
    assert "action_types: none declared; a rule has no action to perform" in warnings
    assert "variables: none declared; conditions cannot refer to any $variable" in warnings
    assert "triggers: none declared; any trigger name will be accepted" in warnings


def test_duplicates_are_dropped_and_said() -> None:
    reading = read_catalogue(
        {**GROUNDED, "action_types": ["PING", "PING"], "actions": ["OTHER"],
         "variables": ["$cpu", "cpu"]}
    )  # fmt: skip
    assert reading.catalogue.action_names == ("PING",)
    assert reading.catalogue.variable_names == ("$cpu",)
    assert "action_types[1]: duplicate action type 'PING' (first at action_types[0]); dropped" \
        in reading.warnings  # fmt: skip
    assert "actions: ignored: action_types already gives the action types" in reading.warnings
    assert "variables[1]: duplicate variable '$cpu' (first at variables[0]); dropped" \
        in reading.warnings  # fmt: skip


def test_duplicate_parameters_are_dropped_and_said() -> None:
    reading = read_catalogue(
        {**GROUNDED, "action_types": [{"name": "PING", "params": ["host", "host"]}]}
    )
    ping = reading.catalogue.action("PING")
    assert ping is not None
    assert [p.name for p in ping.params] == ["host"]
    assert "action_types[0].params[1]: duplicate parameter 'host'; the first kept" \
        in reading.warnings  # fmt: skip


@pytest.mark.parametrize("raw", [42, ["PING"], "text"])
def test_not_an_object_reads_as_empty_with_a_warning(raw: Any) -> None:
    reading = read_catalogue(raw)
    assert reading.catalogue.action_types == ()
    assert reading.warnings[0].startswith("<root>: expected an object")


def test_section_of_the_wrong_type_is_ignored_with_a_warning() -> None:
    reading = read_catalogue({**GROUNDED, "variables": 42})
    assert reading.catalogue.variables == ()
    assert "variables: expected a list or an object, got number; ignored" in reading.warnings


# --- the job ---------------------------------------------------------------------------------


def test_the_sample_grounds_rules_and_reports_no_warnings() -> None:
    reading = catalogue_for(None)
    assert reading.catalogue.action_types
    assert reading.catalogue.variables
    assert grounding_problems(reading) == []
    llm = ScriptedProvider([json.dumps(rules_doc())])
    result = generate_rules(llm, "Alert on DB memory", None, max_repair_attempts=0)
    assert result["catalogue_warnings"] == []


def test_result_carries_the_catalogue_warnings() -> None:
    context = sample_catalogue()
    context["variables"].append({"type": "number", "description": "no name"})
    llm = ScriptedProvider([json.dumps(rules_doc())])
    result = generate_rules(llm, "Alert on DB memory", context, max_repair_attempts=0)
    assert result["catalogue_warnings"] == [
        "variables[12]: entry has no usable name (keys: description, type); skipped — a "
        "variable is named by name, path, variable, key, id; type is the value type, never "
        "the name"
    ]


@pytest.mark.parametrize(
    ("context", "problem"),
    [
        ({"triggers": ["ON_START"], "variables": ["cpu"]}, "no action types"),
        ({"action_types": [{"type": "string"}], "variables": ["cpu"]}, "no action types"),
        (
            {"action_types": ["PING"], "variables": [{"name": "number"}, {"name": "string"}]},
            "every variable is named like a value type",
        ),
    ],
)
def test_a_catalogue_that_cannot_ground_a_rule_fails_before_any_call(
    context: dict[str, Any], problem: str
) -> None:
    llm = ScriptedProvider([])  # any call would fail the test: it has no answer
    with pytest.raises(ConfigInvalid, match=problem) as info:
        generate_rules(llm, "Alert me", context, max_repair_attempts=3)
    with pytest.raises(ConfigInvalid, match=problem):
        refine_rules(llm, rules_doc(), "more", context, max_repair_attempts=3)
    assert llm.requests == []
    assert info.value.code == "config_invalid"
    assert problem in info.value.details["problems"][0]
    assert isinstance(info.value.details["catalogue_warnings"], list)
