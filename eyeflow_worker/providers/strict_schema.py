"""Turn a JSON Schema into one OpenAI's strict structured-output mode accepts.

Strict mode wants every object closed (`additionalProperties: false`) with every property listed
in `required`; a property that was optional becomes required-but-nullable instead. `oneOf` is
not supported there and becomes `anyOf`; `default` is dropped.

A free-form object (no `properties`, or `additionalProperties` other than false — say, an
action's `params`) cannot be expressed in strict mode at all: closing it would force it to be
`{}`. For such schemas `to_strict_schema` returns `None` and the caller sends the original schema
non-strictly instead of silently changing what the model may answer.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

_NESTED_MAPS = ("$defs", "definitions")
_NESTED_LISTS = ("anyOf", "allOf", "prefixItems")


class _NotStrictCompatible(Exception):
    pass


def to_strict_schema(schema: Mapping[str, Any]) -> dict[str, Any] | None:
    """A strict-mode copy of `schema`, or `None` when strict mode cannot express it."""
    converted = copy.deepcopy(dict(schema))
    if not _is_object(converted):
        return None
    try:
        _convert(converted)
    except _NotStrictCompatible:
        return None
    return converted


def _is_object(node: Mapping[str, Any]) -> bool:
    kind = node.get("type")
    return kind == "object" or (isinstance(kind, list) and "object" in kind) or "properties" in node


def _convert(node: dict[str, Any]) -> None:
    if "patternProperties" in node:
        raise _NotStrictCompatible
    if "oneOf" in node:
        node["anyOf"] = node.pop("oneOf")
    node.pop("default", None)  # not allowed in strict mode, and moot once everything is required
    if _is_object(node):
        _close_object(node)
    _convert_subschemas(node)


def _close_object(node: dict[str, Any]) -> None:
    """Every property converted and required (optional ones made nullable), no others allowed;
    `_NotStrictCompatible` for a free-form object."""
    extra = node.get("additionalProperties")
    if "properties" not in node and extra is False:
        node["properties"] = {}
    properties = node.get("properties")
    if not isinstance(properties, dict) or extra not in (None, False):
        raise _NotStrictCompatible
    required = set(node.get("required", []))
    for name, prop in properties.items():
        if not isinstance(prop, dict):
            raise _NotStrictCompatible
        _convert(prop)
        if name not in required:
            properties[name] = _nullable(prop)
    node["required"] = list(properties)
    node["additionalProperties"] = False


def _convert_subschemas(node: dict[str, Any]) -> None:
    """Convert the schemas nested under `items`, the combinators and the definitions."""
    items = node.get("items")
    if isinstance(items, dict):
        _convert(items)
    for key in _NESTED_LISTS:
        for child in node.get(key, []):
            if isinstance(child, dict):
                _convert(child)
    for key in _NESTED_MAPS:
        for child in node.get(key, {}).values():
            if isinstance(child, dict):
                _convert(child)


def _nullable(prop: dict[str, Any]) -> dict[str, Any]:
    kind = prop.get("type")
    plain = not {"enum", "const", "anyOf", "$ref"} & set(prop)
    if plain and isinstance(kind, str):
        return prop if kind == "null" else {**prop, "type": [kind, "null"]}
    if plain and isinstance(kind, list):
        return prop if "null" in kind else {**prop, "type": [*kind, "null"]}
    variants = prop.get("anyOf")
    if isinstance(variants, list) and set(prop) == {"anyOf"}:
        if any(isinstance(v, dict) and v.get("type") == "null" for v in variants):
            return prop
        return {"anyOf": [*variants, {"type": "null"}]}
    return {"anyOf": [prop, {"type": "null"}]}
