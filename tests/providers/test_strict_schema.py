"""Strict-mode schema conversion for OpenAI structured outputs."""

from __future__ import annotations

from typing import Any

from eyeflow_worker.providers.strict_schema import to_strict_schema
from tests.providers.conftest import RULES_SCHEMA


def test_closes_objects_and_makes_optional_properties_nullable() -> None:
    strict = to_strict_schema(RULES_SCHEMA)

    assert strict is not None
    assert strict["additionalProperties"] is False
    assert strict["required"] == ["workflow_name", "trigger", "description", "rules"]
    assert strict["properties"]["workflow_name"] == {"type": "string"}
    assert strict["properties"]["description"] == {"type": ["string", "null"]}
    item = strict["properties"]["rules"]["items"]
    assert item["additionalProperties"] is False
    assert item["required"] == ["name", "condition", "then"]


def test_does_not_modify_its_input() -> None:
    before = repr(RULES_SCHEMA)
    to_strict_schema(RULES_SCHEMA)
    assert repr(RULES_SCHEMA) == before


def test_optional_enums_refs_and_unions_become_nullable_unions() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "$defs": {"Action": {"type": "object", "properties": {"kind": {"type": "string"}}}},
        "properties": {
            "level": {"type": "string", "enum": ["low", "high"]},
            "action": {"$ref": "#/$defs/Action"},
            "value": {"oneOf": [{"type": "string"}, {"type": "number"}]},
            "maybe": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        },
    }

    strict = to_strict_schema(schema)

    assert strict is not None
    props = strict["properties"]
    assert props["level"] == {
        "anyOf": [{"type": "string", "enum": ["low", "high"]}, {"type": "null"}]
    }
    assert props["action"] == {"anyOf": [{"$ref": "#/$defs/Action"}, {"type": "null"}]}
    assert props["value"] == {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "null"}]}
    assert props["maybe"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    action = strict["$defs"]["Action"]
    assert action["additionalProperties"] is False
    assert action["properties"]["kind"] == {"type": ["string", "null"]}


def test_free_form_objects_cannot_be_strict() -> None:
    free_form: dict[str, Any] = {
        "type": "object",
        "properties": {"params": {"type": "object"}},
        "required": ["params"],
    }
    open_map: dict[str, Any] = {
        "type": "object",
        "properties": {"labels": {"type": "object", "additionalProperties": {"type": "string"}}},
    }
    assert to_strict_schema(free_form) is None
    assert to_strict_schema(open_map) is None
    assert to_strict_schema({"type": "array", "items": {"type": "string"}}) is None


def test_explicitly_closed_empty_object_is_fine() -> None:
    schema = {
        "type": "object",
        "properties": {"params": {"type": "object", "additionalProperties": False}},
        "required": ["params"],
    }
    strict = to_strict_schema(schema)

    assert strict is not None
    assert strict["properties"]["params"] == {
        "type": "object",
        "additionalProperties": False,
        "properties": {},
        "required": [],
    }
