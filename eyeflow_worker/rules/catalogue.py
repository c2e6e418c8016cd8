"""A lenient reader for the aggregated context (capability catalogue) NestJS sends.

We do not control that payload's exact shape, so `normalize_catalogue` accepts the shapes it is
likely to take — lists of names, lists of objects keyed by name/type/id, dicts keyed by name,
parameter lists, parameter dicts and JSON-Schema-ish `{properties, required}`, all possibly
nested under `capabilities` or `data` — and produces one canonical `Catalogue`, sorted by name,
so that the prompt rendered from it is byte-identical whatever order NestJS used.
Unknown fields are kept (in `extra`) and shown to the model: they may carry meaning we did not
anticipate.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

# Canonical parameter types, plus the spellings we map onto them. Anything else is kept as
# written (`raw_type`) but not type-checked: guessing would reject valid rules.
_TYPE_ALIASES: dict[str, str] = {
    "string": "string", "str": "string", "text": "string", "email": "string", "url": "string",
    "uri": "string", "date": "string", "datetime": "string", "uuid": "string", "enum": "string",
    "number": "number", "float": "number", "double": "number", "decimal": "number",
    "integer": "integer", "int": "integer", "long": "integer",
    "boolean": "boolean", "bool": "boolean",
    "array": "array", "list": "array",
    "object": "object", "dict": "object", "map": "object", "json": "object",
}  # fmt: skip

_NAME_KEYS = ("name", "type", "id", "key", "code", "action", "trigger", "path", "variable")
_DESCRIPTION_KEYS = ("description", "desc", "summary", "label", "title")
_PARAM_KEYS = (
    "params", "parameters", "params_schema", "paramsSchema", "parameters_schema",
    "parametersSchema", "input_schema", "inputSchema", "schema", "inputs", "args",
)  # fmt: skip
_SECTION_KEYS: dict[str, tuple[str, ...]] = {
    "condition_types": ("condition_types", "conditionTypes", "conditions", "condition_type"),
    "action_types": ("action_types", "actionTypes", "actions", "action_type"),
    "triggers": ("triggers", "trigger_types", "triggerTypes", "events", "event_types"),
    "variables": ("variables", "context_variables", "contextVariables", "available_variables",
                  "availableVariables", "data_sources", "fields"),
}  # fmt: skip
_WRAPPER_KEYS = ("capabilities", "data", "context", "aggregated_context", "aggregatedContext")


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: str | None = None  # canonical type, or None when unknown/unrecognised
    required: bool = False
    description: str | None = None
    enum: tuple[Any, ...] = ()
    raw_type: str | None = None  # as NestJS wrote it, when it differs from `type`

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "required": self.required}
        if self.type is not None:
            out["type"] = self.type
        if self.raw_type is not None and self.raw_type != self.type:
            out["declared_type"] = self.raw_type
        if self.description:
            out["description"] = self.description
        if self.enum:
            out["enum"] = list(self.enum)
        return out


@dataclass(frozen=True)
class Capability:
    """One named entry: a condition type, action type, trigger or variable."""

    name: str
    description: str | None = None
    params: tuple[ParamSpec, ...] = ()
    # True when NestJS declared parameters and said nothing allows others.
    params_closed: bool = False
    type: str | None = None  # for variables: the value type, when declared
    enum: tuple[Any, ...] = ()  # for variables: allowed values, when declared
    extra: Mapping[str, Any] = field(default_factory=dict)

    def param(self, name: str) -> ParamSpec | None:
        return next((p for p in self.params if p.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        if self.type is not None:
            out["type"] = self.type
        if self.enum:
            out["enum"] = list(self.enum)
        if self.params:
            out["params"] = [p.to_dict() for p in self.params]
            out["params_closed"] = self.params_closed
        if self.extra:
            out["extra"] = dict(self.extra)
        return out


@dataclass(frozen=True)
class Catalogue:
    condition_types: tuple[Capability, ...] = ()
    action_types: tuple[Capability, ...] = ()
    triggers: tuple[Capability, ...] = ()
    variables: tuple[Capability, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def action(self, name: str) -> Capability | None:
        return next((a for a in self.action_types if a.name == name), None)

    @property
    def action_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.action_types)

    @property
    def trigger_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.triggers)

    @property
    def variable_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variables)

    @cached_property
    def canonical_json(self) -> str:
        """`to_dict()` rendered canonically (sorted keys, fixed layout): the same catalogue always
        gives the same bytes. Computed once per catalogue object (catalogues are immutable)."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=1, ensure_ascii=False)

    def to_dict(self) -> dict[str, Any]:
        """Canonical plain-data form; `normalize_catalogue(c.to_dict()) == c`."""
        out: dict[str, Any] = {
            "condition_types": [c.to_dict() for c in self.condition_types],
            "action_types": [a.to_dict() for a in self.action_types],
            "triggers": [t.to_dict() for t in self.triggers],
            "variables": [v.to_dict() for v in self.variables],
        }
        if self.extra:
            out["extra"] = dict(self.extra)
        return out


def normalize_catalogue(raw: Mapping[str, Any] | None) -> Catalogue:
    """Read whatever catalogue shape NestJS sent into one canonical `Catalogue`."""
    body = _unwrap(raw or {})
    sections: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in body.items():
        section = next((s for s, keys in _SECTION_KEYS.items() if key in keys), None)
        if section is not None and section not in sections:
            sections[section] = value
        elif key != "extra":
            extra[key] = value
    if isinstance(body.get("extra"), Mapping):
        extra.update(body["extra"])
    condition_types = _entries(sections.get("condition_types"))
    # Condition types sometimes list the variables they work on; collect those too.
    nested_vars: list[Any] = []
    for ct in condition_types:
        for key in ("variables", "fields", "metrics"):
            if key in ct.extra:
                nested_vars.extend(_as_list(ct.extra[key]))
    variables = _variables(sections.get("variables"), nested_vars)
    return Catalogue(
        condition_types=_sorted_unique(condition_types),
        action_types=_sorted_unique(_entries(sections.get("action_types"))),
        triggers=_sorted_unique(_entries(sections.get("triggers"))),
        variables=_sorted_unique(variables),
        extra=_canonical(extra),
    )


def _unwrap(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """Descend through `{"data": {"capabilities": {...}}}`-style wrappers to the sections."""
    for _ in range(4):
        if any(k in body for keys in _SECTION_KEYS.values() for k in keys):
            return body
        inner = next((body[k] for k in _WRAPPER_KEYS if isinstance(body.get(k), Mapping)), None)
        if inner is None:
            return body
        body = inner
    return body


def _as_list(value: Any) -> list[Any]:
    """A section may be a list, a dict keyed by name, or a single item."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        items: list[Any] = []
        for key, spec in value.items():
            if isinstance(spec, Mapping):
                # The key is the name, unless the entry spells its own "name".
                items.append(spec if "name" in spec else {"name": key, **spec})
            elif isinstance(spec, str):
                items.append({"name": key, "description": spec})
            else:
                items.append({"name": key})
        return items
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _entries(section: Any) -> list[Capability]:
    return [c for c in (_capability(item) for item in _as_list(section)) if c is not None]


def _capability(item: Any) -> Capability | None:
    if isinstance(item, str):
        return Capability(name=item.strip()) if item.strip() else None
    if not isinstance(item, Mapping):
        return None
    name_key = next(
        (k for k in _NAME_KEYS if isinstance(item.get(k), str) and item[k].strip()), None
    )
    if name_key is None:
        return None
    desc_key = next((k for k in _DESCRIPTION_KEYS if isinstance(item.get(k), str)), None)
    param_key = next((k for k in _PARAM_KEYS if k in item and k != name_key), None)
    params, closed = _params(item[param_key]) if param_key else ((), False)
    used = {name_key, desc_key, param_key, "value_type", "data_type", "dataType", "enum", "values"}
    raw_type = item.get("value_type", item.get("data_type", item.get("dataType")))
    # `type` is a value type only when it reads as one ("number"); otherwise it is a category
    # such as "notification" and stays visible in `extra`.
    if raw_type is None and name_key != "type" and _canonical_type(item.get("type")):
        raw_type = item["type"]
        used.add("type")
    if "params_closed" in item:  # our own canonical form, read back
        closed = bool(item["params_closed"])
        used.add("params_closed")
    enum = item.get("enum", item.get("values"))
    extra = {k: v for k, v in item.items() if k not in used and k != "extra"}
    if isinstance(item.get("extra"), Mapping):
        extra.update(item["extra"])
    return Capability(
        name=item[name_key].strip(),
        description=item[desc_key].strip() if desc_key else None,
        params=params,
        params_closed=closed,
        type=_canonical_type(raw_type),
        enum=tuple(enum) if isinstance(enum, (list, tuple)) else (),
        extra=_canonical(extra),
    )


def _params(spec: Any) -> tuple[tuple[ParamSpec, ...], bool]:
    """Parameters as a list, a name→spec dict, or JSON-Schema `{properties, required}`."""
    if isinstance(spec, Mapping) and isinstance(spec.get("properties"), Mapping):
        required = set(spec.get("required") or ())
        closed = spec.get("additionalProperties", True) is False
        params = [
            _param(name, prop, required=name in required)
            for name, prop in spec["properties"].items()
        ]
        # An explicit JSON Schema with additionalProperties omitted stays open, as JSON Schema says.
        return tuple(sorted(params, key=lambda p: p.name)), closed
    params = []
    for item in _as_list(spec):
        if isinstance(item, str):
            params.append(ParamSpec(name=item))
        elif isinstance(item, Mapping):
            name = next(
                (item[k] for k in ("name", "key", "id") if isinstance(item.get(k), str)), None
            )
            if name:
                params.append(_param(name, item, required=None))
    # A plain list/dict of parameters is a closed declaration: these are the parameters there are.
    return tuple(sorted(params, key=lambda p: p.name)), bool(params)


def _param(name: str, spec: Any, *, required: bool | None) -> ParamSpec:
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, Mapping):
        spec = {}
    raw = spec.get("declared_type", spec.get("type"))
    raw_type = raw if isinstance(raw, str) else None
    if required is None:
        req = spec.get("required", spec.get("isRequired", False))
        required = bool(req) and not spec.get("optional", False)
    desc = next((spec[k] for k in _DESCRIPTION_KEYS if isinstance(spec.get(k), str)), None)
    enum = spec.get("enum", spec.get("options", spec.get("values")))
    return ParamSpec(
        name=name,
        type=_canonical_type(raw_type),
        required=required,
        description=desc,
        enum=tuple(enum) if isinstance(enum, (list, tuple)) else (),
        raw_type=raw_type.lower() if raw_type else None,
    )


def _canonical_type(raw: Any) -> str | None:
    return _TYPE_ALIASES.get(raw.strip().lower()) if isinstance(raw, str) else None


def _variables(section: Any, nested: list[Any]) -> list[Capability]:
    """Variables as names, objects, or a nested tree `{"metrics": {"cpu": "number"}}`."""
    found: list[Capability] = []
    if isinstance(section, Mapping) and not any(k in section for k in _NAME_KEYS[:5]):
        found.extend(_variable_tree(section, prefix=""))
    else:
        found.extend(_entries(section))
    found.extend(_entries(nested))
    return [_dollar(v) for v in found]


def _variable_tree(tree: Mapping[str, Any], prefix: str) -> list[Capability]:
    out: list[Capability] = []
    for key, value in tree.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and not ({"type", "description"} & set(value)):
            out.extend(_variable_tree(value, path))
        elif isinstance(value, Mapping):
            cap = _capability({"name": path, **{k: v for k, v in value.items() if k != "name"}})
            if cap is not None:
                out.append(cap)
        else:
            out.append(Capability(name=path, type=_canonical_type(value)))
    return out


def _dollar(var: Capability) -> Capability:
    """Variables are referenced as `$path.to.value` in conditions; store them that way."""
    name = var.name if var.name.startswith("$") else f"${var.name}"
    return Capability(
        name, var.description, var.params, var.params_closed, var.type, var.enum, var.extra
    )


def _sorted_unique(items: Iterable[Capability]) -> tuple[Capability, ...]:
    # The first declaration of a name wins; later duplicates are NestJS noise.
    seen: dict[str, Capability] = {}
    for item in items:
        seen.setdefault(item.name, item)
    return tuple(seen[name] for name in sorted(seen))


def _canonical(value: Any) -> Any:
    """Recursively sort mapping keys so that extra fields render identically every time."""
    if isinstance(value, Mapping):
        return {str(k): _canonical(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value
