"""Every catalogue shape we accept, one row each, and what it maps onto (README: "The capability
catalogue" lists the same table). A row names the section, then the entries expected there:
a name, or a name with the attributes that must hold."""

from __future__ import annotations

from typing import Any

import pytest

from eyeflow_worker.core.catalogue_model import Capability, Catalogue
from eyeflow_worker.core.catalogue_reader import normalize_catalogue, read_catalogue

UUID = "3f2a9c1e-7b4d-4e2a-9f10-5c6d7e8f9a0b"
NUMBER_VAR = {"$orders.total_amount": {"type": "number", "description": "Order total in EUR"}}

# (id, raw catalogue, section, {name: {attribute: value}} — every entry of the section)
SHAPES: list[tuple[str, dict[str, Any], str, dict[str, dict[str, Any]]]] = [
    ("action names as a list", {"action_types": ["RESTART", "PING"]},
     "action_types", {"PING": {}, "RESTART": {}}),
    ("variable names as a list", {"variables": ["metrics.cpu", "$status"]},
     "variables", {"$metrics.cpu": {}, "$status": {}}),
    ("variable by path, value type in `type` (the NestJS DTO)",
     {"variables": [{"path": "$orders.total_amount", "type": "number",
                     "description": "Order total in EUR"}]},
     "variables", NUMBER_VAR),
    ("variable by name + dataType",
     {"variables": [{"name": "orders.total_amount", "dataType": "decimal",
                     "description": "Order total in EUR"}]},
     "variables", NUMBER_VAR),
    ("variable with a human label in `name` and its path in `path`: the path names it",
     {"variables": [{"name": "Order total", "path": "$orders.total_amount", "type": "number",
                     "description": "Order total in EUR"}]},
     "variables", {"$orders.total_amount": {"type": "number", "extra": {"name": "Order total"}}}),
    ("variable by key + valueType", {"variables": [{"key": "user.age", "valueType": "int"}]},
     "variables", {"$user.age": {"type": "integer"}}),
    ("variable by id + value_type", {"variables": [{"id": "user.vip", "value_type": "bool"}]},
     "variables", {"$user.vip": {"type": "boolean"}}),
    ("variable by variable + data_type",
     {"variables": [{"variable": "$user.email", "data_type": "email"}]},
     "variables", {"$user.email": {"type": "string"}}),
    ("variable whose `type` is no value type: kept in extra, never the name",
     {"variables": [{"path": "queue.depth", "type": "gauge"}]},
     "variables", {"$queue.depth": {"type": None, "extra": {"type": "gauge"}}}),
    ("variable with unit and enum",
     {"variables": [{"path": "svc.status", "type": "string", "enum": ["up", "down"]},
                    {"path": "db.mem", "type": "number", "unit": "percent"}]},
     "variables", {"$svc.status": {"enum": ("up", "down")}, "$db.mem": {"unit": "percent"}}),
    ("camelCase NestJS DTO: availableVariables",
     {"actionTypes": ["PING"], "availableVariables": [{"path": "a.b", "dataType": "string"}]},
     "variables", {"$a.b": {"type": "string"}}),
    ("camelCase NestJS DTO: actionTypes + code + paramsSchema + isRequired",
     {"actionTypes": [{"code": "SEND_EMAIL", "paramsSchema": [
         {"name": "to", "type": "email", "isRequired": True}, {"name": "cc", "type": "string"}]}]},
     "action_types", {"SEND_EMAIL": {"params_closed": True}}),
    ("camelCase NestJS DTO: conditionTypes by code",
     {"conditionTypes": [{"code": "THRESHOLD", "label": "A limit"}]},
     "condition_types", {"THRESHOLD": {"description": "A limit"}}),
    ("action by `action` key", {"actions": [{"action": "PAGE_ONCALL"}]},
     "action_types", {"PAGE_ONCALL": {}}),
    ("action named by `type` (not a value-type word); category kept",
     {"action_types": [{"type": "SEND_EMAIL", "category": "notification"}]},
     "action_types", {"SEND_EMAIL": {"extra": {"category": "notification"}}}),
    ("action by id; `type` is a category",
     {"action_types": [{"id": "SEND_EMAIL", "type": "notification"}]},
     "action_types", {"SEND_EMAIL": {"extra": {"type": "notification"}}}),
    ("action whose id is a database key (UUID): named by `type`",
     {"action_types": [{"id": UUID, "type": "SEND_EMAIL"}]},
     "action_types", {"SEND_EMAIL": {"extra": {"id": UUID}}}),
    ("triggers by `trigger` and by `event` (triggerTypes)",
     {"triggerTypes": [{"trigger": "ON_START"}, {"event": "ON_LOGIN", "summary": "A login"}]},
     "triggers", {"ON_LOGIN": {"description": "A login"}, "ON_START": {}}),
    ("triggers under `events` by `key`", {"events": [{"key": "ON_HIRE", "title": "Hired"}]},
     "triggers", {"ON_HIRE": {"description": "Hired"}}),
    ("actions as a dict keyed by name (object or description)",
     {"action_types": {"PING": {"description": "Check it answers"}, "LOG": "Write a log line"}},
     "action_types", {"LOG": {"description": "Write a log line"},
                      "PING": {"description": "Check it answers"}}),
    ("variables as a dict keyed by name",
     {"variables": {"$cpu": {"type": "number"}, "status": "string"}},
     "variables", {"$cpu": {"type": "number"}, "$status": {"type": "string"}}),
    ("nested variable tree",
     {"variables": {"metrics": {"cpu": "number", "mem": {"type": "number", "unit": "percent"},
                                "disk": {"free_gb": {"type": "number"}}}}},
     "variables", {"$metrics.cpu": {"type": "number"},
                   "$metrics.disk.free_gb": {"type": "number"},
                   "$metrics.mem": {"type": "number", "unit": "percent"}}),
    ("{data: …} envelope", {"success": True, "data": {"actions": ["PING"]}},
     "action_types", {"PING": {}}),
    ("{capabilities: …} wrapper", {"capabilities": {"actions": ["PING"]}},
     "action_types", {"PING": {}}),
    ("{data: {capabilities: …}} wrappers",
     {"data": {"capabilities": {"triggerTypes": ["ON_START"]}}},
     "triggers", {"ON_START": {}}),
    ("params as a list of names", {"action_types": [{"name": "X", "params": ["b", "a"]}]},
     "action_types", {"X": {"params_closed": True, "param_names": ["a", "b"]}}),
    ("params as a dict", {"action_types": [{"name": "X", "parameters": {
        "to": {"type": "string", "required": True}, "n": "int"}}]},
     "action_types", {"X": {"params_closed": True, "param_names": ["n", "to"]}}),
    ("params as JSON Schema, additionalProperties false: closed", {"action_types": [
        {"name": "X", "inputSchema": {"type": "object", "properties": {"a": {"type": "string"}},
                                      "required": ["a"], "additionalProperties": False}}]},
     "action_types", {"X": {"params_closed": True, "param_names": ["a"]}}),
    ("params as JSON Schema, additionalProperties omitted: open", {"action_types": [
        {"name": "X", "input_schema": {"properties": {"a": {"type": ["string", "null"]}}}}]},
     "action_types", {"X": {"params_closed": False, "param_names": ["a"]}}),
    ("condition types listing the variables they work on",
     {"condition_types": [{"name": "THRESHOLD", "metrics": ["cpu"]}]},
     "variables", {"$cpu": {}}),
    ("condition types as a dict of descriptions",
     {"condition_types": {"AMOUNT_THRESHOLD": "Compare an amount with a limit"}},
     "condition_types", {"AMOUNT_THRESHOLD": {"description": "Compare an amount with a limit"}}),
    ("the canonical form (Catalogue.to_dict()) reads back as itself", {"action_types": [
        {"name": "A", "params": [{"name": "p", "required": True, "type": "string",
                                  "declared_type": "email"}], "params_closed": True}]},
     "action_types", {"A": {"params_closed": True, "param_names": ["p"]}}),
]  # fmt: skip


def _check(entry: Capability, expected: dict[str, Any]) -> None:
    for attribute, value in expected.items():
        if attribute == "param_names":
            assert [p.name for p in entry.params] == value
        else:
            assert getattr(entry, attribute) == value, (entry.name, attribute)


@pytest.mark.parametrize(
    ("raw", "section", "expected"), [row[1:] for row in SHAPES], ids=[row[0] for row in SHAPES]
)
def test_shape_maps_onto_the_model(
    raw: dict[str, Any], section: str, expected: dict[str, dict[str, Any]]
) -> None:
    reading = read_catalogue(raw)
    entries = getattr(reading.catalogue, section)
    assert [e.name for e in entries] == sorted(expected)
    for entry in entries:
        _check(entry, expected[entry.name])
    # Nothing in a shape we accept is skipped or dropped.
    assert not [w for w in reading.warnings if "skipped" in w or "dropped" in w]


@pytest.mark.parametrize("raw", [row[1] for row in SHAPES], ids=[row[0] for row in SHAPES])
def test_every_reading_is_the_model_and_round_trips(raw: dict[str, Any]) -> None:
    catalogue = normalize_catalogue(raw)
    assert normalize_catalogue(catalogue.to_dict()) == catalogue
    assert Catalogue.model_validate(catalogue.to_dict()) == catalogue


def test_there_are_at_least_twenty_shapes() -> None:
    assert len(SHAPES) >= 20


def test_a_value_type_is_never_a_name() -> None:
    """The bug of issue 10: variables read by their type became `$number`, `$string`."""
    reading = read_catalogue(
        {"variables": [{"path": "orders.total", "type": "number"}, {"type": "string"}],
         "action_types": [{"type": "string", "description": "no name"}, {"type": "PING"}]}
    )  # fmt: skip
    assert reading.catalogue.variable_names == ("$orders.total",)
    assert reading.catalogue.action_names == ("PING",)
    assert any(w.startswith("variables[1]: entry has no usable name") for w in reading.warnings)
    assert any(w.startswith("action_types[0]: entry has no usable name") for w in reading.warnings)


def test_email_param_keeps_its_declared_type() -> None:
    c = normalize_catalogue(
        {"actionTypes": [{"code": "SEND_EMAIL", "paramsSchema": [
            {"name": "to", "type": "email", "isRequired": True}, {"name": "cc"}]}]}
    )  # fmt: skip
    email = c.action("SEND_EMAIL")
    assert email is not None
    to, cc = email.param("to"), email.param("cc")
    assert to is not None
    assert cc is not None
    assert (to.type, to.raw_type, to.required) == ("string", "email", True)
    assert (cc.type, cc.required) == (None, False)


def test_required_list_of_a_nested_object_param_is_not_required_true() -> None:
    c = normalize_catalogue(
        {"action_types": [{"name": "X", "params": [
            {"name": "opts", "type": "object", "required": ["a"]}]}]}
    )  # fmt: skip
    x = c.action("X")
    assert x is not None
    opts = x.param("opts")
    assert opts is not None
    assert opts.required is False
