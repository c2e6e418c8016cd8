"""The quality benchmark's catalogues, written once as plain specs and rendered into six
different shapes of the NestJS aggregated context (`bench/quality/catalogues/*.json`).

The spec is the bench's own truth about each catalogue (which actions and required
parameters exist, which variables and units): `quality_make_data.py` writes both the raw
payload and `bench/quality/expected.json` from it, so the bench can tell whether the product's
reader understood the payload without trusting the reader.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class P:
    """An action parameter."""

    name: str
    type: str = "string"
    required: bool = True
    enum: tuple[str, ...] = ()
    desc: str = ""


@dataclass(frozen=True)
class A:
    """An action type."""

    name: str
    desc: str
    params: tuple[P, ...] = ()


@dataclass(frozen=True)
class V:
    """A context variable (path without `$`)."""

    path: str
    type: str
    desc: str
    unit: str | None = None
    enum: tuple[str, ...] = ()


@dataclass(frozen=True)
class CatalogueSpec:
    name: str
    domain: str
    shape: str
    conditions: tuple[str, ...]
    triggers: tuple[tuple[str, str], ...]
    actions: tuple[A, ...]
    variables: tuple[V, ...]
    render: Callable[[CatalogueSpec], dict[str, Any]] = field(repr=False)
    typed_params: bool = True  # False: the payload names parameters without types

    def expected(self) -> dict[str, Any]:
        """What a correct reader must find in the rendered payload."""
        return {
            "domain": self.domain,
            "shape": self.shape,
            "triggers": sorted(t for t, _ in self.triggers),
            "actions": {
                a.name: {
                    "required": sorted(p.name for p in a.params if p.required),
                    "optional": sorted(p.name for p in a.params if not p.required),
                    "enums": {p.name: list(p.enum) for p in a.params if p.enum},
                    "types": {
                        p.name: {"email": "string"}.get(p.type, p.type)
                        for p in a.params
                        if self.typed_params
                    },
                }
                for a in self.actions
            },
            "variables": {f"${v.path}": {"type": v.type, "unit": v.unit} for v in self.variables},
        }


# --- renderers: one payload shape each ----------------------------------------------------


def _infra(spec: CatalogueSpec) -> dict[str, Any]:
    """NestJS camelCase DTOs; variables keyed by `path`, typed by `type`, with `unit`."""
    return {
        "conditionTypes": [{"code": c, "label": c.title()} for c in spec.conditions],
        "actionTypes": [
            {
                "code": a.name,
                "description": a.desc,
                "category": "remediation" if "RESTART" in a.name else "notification",
                "paramsSchema": [
                    {"key": p.name, "type": p.type, "isRequired": p.required}
                    | ({"enum": list(p.enum)} if p.enum else {})
                    for p in a.params
                ],
            }
            for a in spec.actions
        ],
        "triggerTypes": [{"code": t, "description": d} for t, d in spec.triggers],
        "availableVariables": [
            {"path": v.path, "type": v.type, "unit": v.unit, "description": v.desc}
            for v in spec.variables
        ],
    }


def _params_dict(a: A) -> dict[str, Any]:
    return {
        p.name: {"type": p.type, "required": p.required}
        | ({"enum": list(p.enum)} if p.enum else {})
        for p in a.params
    }


def _ecommerce(spec: CatalogueSpec) -> dict[str, Any]:
    """`{success, data: {capabilities: …}}`; actions and triggers are dicts keyed by name."""
    return {
        "success": True,
        "data": {
            "tenant": "shop-eu",
            "capabilities": {
                "conditions": list(spec.conditions),
                "actions": {
                    a.name: {"description": a.desc, "params": _params_dict(a)} for a in spec.actions
                },
                "triggers": dict(spec.triggers),
                "variables": [
                    {"name": v.path, "type": v.type, "description": v.desc}
                    | ({"unit": v.unit} if v.unit else {})
                    | ({"enum": list(v.enum)} if v.enum else {})
                    for v in spec.variables
                ],
            },
        },
    }


def _tree(variables: tuple[V, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for v in variables:
        node = out
        *parents, leaf = v.path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        entry: dict[str, Any] = {"type": v.type, "description": v.desc}
        if v.unit:
            entry["unit"] = v.unit
        if v.enum:
            entry["enum"] = list(v.enum)
        node[leaf] = entry
    return out


def _security(spec: CatalogueSpec) -> dict[str, Any]:
    """Snake_case sections, actions with `parameters` lists, variables as a nested tree."""
    return {
        "condition_types": list(spec.conditions),
        "action_types": [
            {
                "name": a.name,
                "description": a.desc,
                "parameters": [
                    {"name": p.name, "type": p.type, "required": p.required}
                    | ({"enum": list(p.enum)} if p.enum else {})
                    for p in a.params
                ],
            }
            for a in spec.actions
        ],
        "triggers": [{"name": t, "description": d} for t, d in spec.triggers],
        "variables": _tree(spec.variables),
    }


def _json_schema(a: A) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for p in a.params:
        prop: dict[str, Any] = {"type": p.type}
        if p.enum:
            prop["enum"] = list(p.enum)
        if p.desc:
            prop["description"] = p.desc
        props[p.name] = prop
    return {
        "type": "object",
        "properties": props,
        "required": [p.name for p in a.params if p.required],
        "additionalProperties": False,
    }


def _hr_finance(spec: CatalogueSpec) -> dict[str, Any]:
    """`{data: …}` wrapper, actions named by `type` with JSON-Schema `inputSchema`,
    variables with `dataType` and `unit`."""
    return {
        "data": {
            "conditionTypes": [{"type": c} for c in spec.conditions],
            "actionTypes": [
                {
                    "type": a.name,
                    "category": "approval" if "APPROV" in a.name else "workflow",
                    "description": a.desc,
                    "inputSchema": _json_schema(a),
                }
                for a in spec.actions
            ],
            "triggers": [{"type": t, "description": d} for t, d in spec.triggers],
            "contextVariables": [
                {"name": v.path, "dataType": v.type, "unit": v.unit, "description": v.desc}
                for v in spec.variables
            ],
        }
    }


def _iot(spec: CatalogueSpec) -> dict[str, Any]:
    """Entries keyed by `key`, value types as `dataType`, fraction-valued variables."""
    return {
        "conditionTypes": [{"key": c} for c in spec.conditions],
        "actions": [
            {
                "key": a.name,
                "summary": a.desc,
                "args": [
                    {"key": p.name, "dataType": p.type, "required": p.required}
                    | ({"options": list(p.enum)} if p.enum else {})
                    for p in a.params
                ],
            }
            for a in spec.actions
        ],
        "events": [{"key": t, "summary": d} for t, d in spec.triggers],
        "variables": [
            {"key": v.path, "dataType": v.type, "unit": v.unit, "description": v.desc}
            for v in spec.variables
        ],
    }


def _support(spec: CatalogueSpec) -> dict[str, Any]:
    """Lists of names (conditions, triggers, parameter names), variables by `variable` with
    `valueType`."""
    return {
        "conditionTypes": list(spec.conditions),
        "actionTypes": [
            {"name": a.name, "description": a.desc, "params": [p.name for p in a.params]}
            for a in spec.actions
        ],
        "triggers": [t for t, _ in spec.triggers],
        "variables": [
            {"variable": v.path, "valueType": v.type, "unit": v.unit, "description": v.desc}
            | ({"values": list(v.enum)} if v.enum else {})
            for v in spec.variables
        ],
    }


RENDERERS: dict[str, Callable[[CatalogueSpec], dict[str, Any]]] = {
    "infra": _infra,
    "ecommerce": _ecommerce,
    "security": _security,
    "hr_finance": _hr_finance,
    "iot": _iot,
    "support": _support,
}
