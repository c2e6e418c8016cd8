"""The catalogue shapes we accept, written down as data, and the strict shape check.

Every key the reader (`catalogue_reader.py`) looks at is in a table here, per section, in order
of precedence; the README's "The capability catalogue" lists the same shapes. The one rule
that matters most: **a key that names a value type is never taken for a name.** For
variables, `type` (like `dataType`, `valueType`, `value_type`, `data_type`) is always the value
type. For condition types, action types and triggers, `type` is the name only when no other
name key is present and its value is not a value-type word (`{"type": "SEND_EMAIL"}` is an
action named SEND_EMAIL; `{"type": "string"}` is an entry without a name).

`shape_problems` is what the gateway (inline contexts, 422) and the NestJS client (fetched
contexts, `config_invalid`) refuse: the shapes no reading can make sense of.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

Section = Literal["condition_types", "action_types", "triggers", "variables"]
SECTIONS: tuple[Section, ...] = ("condition_types", "action_types", "triggers", "variables")

# Canonical value types, plus the spellings we map onto them. Anything else is kept as written
# but not type-checked: guessing would reject valid rules.
VALUE_TYPE_ALIASES: dict[str, str] = {
    "string": "string", "str": "string", "text": "string", "email": "string", "url": "string",
    "uri": "string", "date": "string", "datetime": "string", "uuid": "string", "enum": "string",
    "number": "number", "float": "number", "double": "number", "decimal": "number",
    "integer": "integer", "int": "integer", "long": "integer",
    "boolean": "boolean", "bool": "boolean",
    "array": "array", "list": "array",
    "object": "object", "dict": "object", "map": "object", "json": "object",
}  # fmt: skip

# The keys each section may be sent under (snake_case, camelCase NestJS DTOs, synonyms).
SECTION_KEYS: dict[Section, tuple[str, ...]] = {
    "condition_types": ("condition_types", "conditionTypes", "conditions", "condition_type"),
    "action_types": ("action_types", "actionTypes", "actions", "action_type", "availableActions"),
    "triggers": ("triggers", "trigger_types", "triggerTypes", "events", "event_types",
                 "eventTypes"),
    "variables": ("variables", "context_variables", "contextVariables", "available_variables",
                  "availableVariables", "data_sources", "dataSources", "fields"),
}  # fmt: skip
# Envelopes around the sections: `{"data": {"capabilities": {...}}}`, descended up to 4 deep.
WRAPPER_KEYS = ("capabilities", "data", "context", "aggregated_context", "aggregatedContext")
_MAX_WRAPPERS = 4

# Where an entry's name is, in order of precedence. `type` comes last and only outside
# variables, and only when its value is not a value-type word (see the module docstring).
NAME_KEYS: dict[Section, tuple[str, ...]] = {
    "condition_types": ("name", "code", "condition", "key", "id", "type"),
    "action_types": ("name", "code", "action", "key", "id", "type"),
    "triggers": ("name", "code", "trigger", "event", "key", "id", "type"),
    "variables": ("name", "path", "variable", "key", "id"),
}
PARAM_NAME_KEYS = ("name", "key", "id")
# Where the value type is: the explicit keys first, then `type`.
VALUE_TYPE_KEYS = ("dataType", "valueType", "value_type", "data_type", "type")
PARAM_TYPE_KEYS = ("declared_type", *VALUE_TYPE_KEYS)
DESCRIPTION_KEYS = ("description", "desc", "summary", "label", "title")
PARAM_KEYS = (
    "params", "parameters", "params_schema", "paramsSchema", "parameters_schema",
    "parametersSchema", "input_schema", "inputSchema", "schema", "inputs", "args",
)  # fmt: skip
ENUM_KEYS = ("enum", "values")
PARAM_ENUM_KEYS = ("enum", "options", "values", "allowedValues", "allowed_values")
REQUIRED_KEYS = ("required", "isRequired", "is_required")
UNIT_KEYS = ("unit", "units")
# Condition types sometimes list the variables they work on, under one of these keys.
NESTED_VARIABLE_KEYS = ("variables", "fields", "metrics")

# An `id` that is a database key (a UUID or a number) is not a name.
_DATABASE_ID = re.compile(r"^(\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                          r"[0-9a-fA-F]{12})$")  # fmt: skip

Loc = tuple[str | int, ...]


def canonical_type(raw: Any) -> str | None:
    """The canonical value type a spelling stands for, or None when it is not a value type."""
    return VALUE_TYPE_ALIASES.get(raw.strip().lower()) if isinstance(raw, str) else None


def is_value_type_word(raw: Any) -> bool:
    return canonical_type(raw) is not None


def text(value: Any) -> str | None:
    """A non-blank string, stripped; None otherwise."""
    return value.strip() or None if isinstance(value, str) else None


def first_key(item: Mapping[str, Any], keys: Sequence[str], kind: type | tuple[type, ...]) -> Any:
    """The first of `keys` whose value in `item` is of `kind` (None: none is)."""
    return next((k for k in keys if isinstance(item.get(k), kind)), None)


def is_database_id(value: str) -> bool:
    return _DATABASE_ID.match(value.strip()) is not None


def section_of(key: str) -> Section | None:
    return next((s for s, keys in SECTION_KEYS.items() if key in keys), None)


def unwrap(body: Mapping[str, Any]) -> tuple[Loc, Mapping[str, Any]]:
    """Descend through wrappers to the mapping that holds the sections; the keys descended."""
    path: Loc = ()
    for _ in range(_MAX_WRAPPERS):
        if any(section_of(str(k)) is not None for k in body):
            return path, body
        key = next((k for k in WRAPPER_KEYS if isinstance(body.get(k), Mapping)), None)
        if key is None:
            return path, body
        path, body = (*path, key), body[key]
    return path, body


def json_type(value: Any) -> str:
    """The JSON name of a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    return type(value).__name__


def json_size(value: Any) -> int:
    """Bytes of `value` as compact UTF-8 JSON (what the size bound is measured in). A lone
    surrogate counts as its three bytes instead of failing the measurement."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return len(text.encode("utf-8", "surrogatepass"))


# Deeper than any real catalogue; the reader and the prompt recurse, so it is a hard bound.
MAX_DEPTH = 32


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether `value` nests objects/lists more than `limit` levels (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, Mapping):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend((child, depth + 1) for child in item)
    return False


def shape_problems(raw: Any) -> list[tuple[Loc, str]]:
    """What makes `raw` unreadable as a catalogue: not an object, or a section that is neither a
    list nor an object. Each problem is (where, what); an empty list means readable. Entries
    inside sections are not checked here: the reader skips bad ones with a warning."""
    if not isinstance(raw, Mapping):
        return [((), f"expected a JSON object (the capability catalogue), got {json_type(raw)}")]
    if too_deep(raw):
        return [((), f"nested deeper than {MAX_DEPTH} levels: not a capability catalogue")]
    path, body = unwrap(raw)
    problems: list[tuple[Loc, str]] = []
    for key, value in body.items():
        section = section_of(str(key))
        if section is not None and not isinstance(value, (list, tuple, Mapping, type(None))):
            problems.append(
                ((*path, str(key)), f"expected a list or an object ({section}), got "
                 f"{json_type(value)}")
            )  # fmt: skip
    return problems


def describe_loc(loc: Loc) -> str:
    """`("data", "variables", 3)` → `data.variables[3]`; the root is `<root>`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<root>"
