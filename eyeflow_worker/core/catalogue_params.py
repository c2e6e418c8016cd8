"""Reading an action type's parameters: the parts that need no warnings (`catalogue_reader.py`
walks the lists and dicts, and reports what it skips)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eyeflow_worker.core.catalogue_model import ParamSpec
from eyeflow_worker.core.catalogue_shapes import (
    DESCRIPTION_KEYS,
    PARAM_ENUM_KEYS,
    PARAM_TYPE_KEYS,
    REQUIRED_KEYS,
    canonical_type,
    first_key,
    text,
)


def is_json_schema(spec: Mapping[str, Any]) -> bool:
    return isinstance(spec.get("properties"), Mapping) or spec.get("type") == "object"


def schema_params(spec: Mapping[str, Any]) -> tuple[tuple[ParamSpec, ...], bool]:
    listed = spec.get("required")
    required = {r for r in listed if isinstance(r, str)} if isinstance(listed, list) else set()
    properties = spec.get("properties")
    props: Mapping[str, Any] = properties if isinstance(properties, Mapping) else {}
    params = [
        read_param(str(name), prop, required=str(name) in required)
        for name, prop in props.items()
        if str(name).strip()
    ]
    # An explicit JSON Schema with additionalProperties omitted stays open, as JSON Schema says.
    closed = spec.get("additionalProperties", True) is False
    return tuple(sorted(params, key=lambda p: p.name)), closed


def read_param(name: str, spec: Any, *, required: bool | None) -> ParamSpec:
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, Mapping):
        spec = {}
    raw_type = _declared_type(spec)
    if required is None:
        flag = next((spec[k] for k in REQUIRED_KEYS if k in spec), False)
        # Only a boolean: `required` on an object-typed parameter may be JSON Schema's list.
        required = flag is True and spec.get("optional") is not True
    enum_key = first_key(spec, PARAM_ENUM_KEYS, (list, tuple))
    return ParamSpec(
        name=name,
        type=canonical_type(raw_type),
        required=required,
        description=text(next((spec[k] for k in DESCRIPTION_KEYS if text(spec.get(k))), None)),
        enum=tuple(spec[enum_key]) if enum_key else (),
        raw_type=raw_type.strip().lower() if raw_type else None,
    )


def _declared_type(spec: Mapping[str, Any]) -> str | None:
    for key in PARAM_TYPE_KEYS:
        value = spec.get(key)
        if isinstance(value, list):  # JSON Schema's ["string", "null"]
            named = [v for v in value if isinstance(v, str) and v != "null"]
            value = named[0] if len(named) == 1 else None
        if text(value) is not None:
            return str(value)
    return None
