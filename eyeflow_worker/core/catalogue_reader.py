"""Reading a raw aggregated context (whatever shape NestJS sent) into the one `Catalogue`.

`read_catalogue` is the entry point: it never raises on bad input — an entry it cannot read is
skipped *with a warning saying what and where* (`variables[3]: entry has no usable name (keys:
type, description); skipped …`), never guessed at silently. The shapes and keys it accepts are
tables in `catalogue_shapes.py` (and the README's "The capability catalogue"); the checks on
the result (empty sections, variables named like value types, references to variables the
catalogue lacks) are in `catalogue_checks.py`.

Unknown fields are kept (in `extra`) and shown to the model: they may carry meaning we did not
anticipate. Sections come out sorted by name, so the prompt is the same whatever order NestJS
used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from eyeflow_worker.core.catalogue_checks import catalogue_warnings
from eyeflow_worker.core.catalogue_model import Capability, Catalogue, CatalogueReading, ParamSpec
from eyeflow_worker.core.catalogue_params import is_json_schema, read_param, schema_params
from eyeflow_worker.core.catalogue_shapes import (
    DESCRIPTION_KEYS,
    ENUM_KEYS,
    MAX_DEPTH,
    NAME_KEYS,
    NESTED_VARIABLE_KEYS,
    PARAM_KEYS,
    PARAM_NAME_KEYS,
    SECTIONS,
    UNIT_KEYS,
    VALUE_TYPE_KEYS,
    Loc,
    Section,
    canonical_type,
    describe_loc,
    first_key,
    is_database_id,
    is_value_type_word,
    json_type,
    section_of,
    text,
    too_deep,
    unwrap,
)

_LABELS: dict[Section, str] = {
    "condition_types": "condition type",
    "action_types": "action type",
    "triggers": "trigger",
    "variables": "variable",
}
# Keys that make a mapping inside a variable tree a variable's spec rather than a group.
_LEAF_KEYS = (*VALUE_TYPE_KEYS, "description", "unit", "enum")

Found = tuple[str, Capability]  # where it was read (as NestJS sent it), what was read
# (where, the raw entry, the key naming it in a section keyed by name — None in a list)
_Item = tuple[str, Any, str | None]


def read_catalogue(raw: Any) -> CatalogueReading:
    """Read `raw` (None: an empty catalogue) into a `Catalogue`, with what went wrong."""
    if too_deep(raw):
        # The reader walks the catalogue recursively; such a payload is no catalogue anyway.
        empty = Catalogue()
        warning = f"<root>: nested deeper than {MAX_DEPTH} levels; not read"
        return CatalogueReading(empty, (warning, *catalogue_warnings(empty)))
    reader = _Reader()
    catalogue = reader.catalogue(raw)
    return CatalogueReading(catalogue, (*reader.warnings, *catalogue_warnings(catalogue)))


def normalize_catalogue(raw: Any) -> Catalogue:
    """`read_catalogue(raw).catalogue`, for callers with no use for the warnings."""
    return read_catalogue(raw).catalogue


class _Reader:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warn(self, where: str, what: str) -> None:
        self.warnings.append(f"{where}: {what}")

    # --- the whole ---------------------------------------------------------------------------

    def catalogue(self, raw: Any) -> Catalogue:
        if raw is None:
            return Catalogue()
        if not isinstance(raw, Mapping):
            self.warn("<root>", f"expected an object, got {json_type(raw)}; nothing read")
            return Catalogue()
        path, body = unwrap(raw)
        sections, extra = self._split(path, body)
        found = {s: self.section(s, *sections[s]) if s in sections else [] for s in SECTIONS}
        nested = [v for where, ct in found["condition_types"] for v in self._nested(where, ct)]
        return Catalogue(
            condition_types=self.unique("condition_types", found["condition_types"]),
            action_types=self.unique("action_types", found["action_types"]),
            triggers=self.unique("triggers", found["triggers"]),
            variables=self.unique(
                "variables", [_dollar(v) for v in found["variables"]], [_dollar(v) for v in nested]
            ),
            extra=_canonical(extra),
        )

    def _split(
        self, path: Loc, body: Mapping[str, Any]
    ) -> tuple[dict[Section, tuple[str, Any]], dict[str, Any]]:
        """The sections (where, raw value) and the top-level fields that are none."""
        sections: dict[Section, tuple[str, Any]] = {}
        extra: dict[str, Any] = {}
        for key, value in body.items():
            section = section_of(str(key))
            where = describe_loc((*path, str(key)))
            if section is None:
                if key != "extra":
                    extra[str(key)] = value
            elif section in sections:
                first = sections[section][0]
                self.warn(where, f"ignored: {first} already gives the {_LABELS[section]}s")
            else:
                sections[section] = (where, value)
        given = body.get("extra")
        if isinstance(given, Mapping):
            extra.update(given)
        elif given is not None:
            extra["extra"] = given
        return sections, extra

    def unique(
        self, section: Section, found: Sequence[Found], also: Sequence[Found] = ()
    ) -> tuple[Capability, ...]:
        """Sorted by name; the first declaration of a name wins, later ones are reported.
        `also` (variables a condition type lists) may repeat declared ones without a warning."""
        seen: dict[str, Found] = {}
        for where, cap in found:
            first = seen.get(cap.name)
            if first is None:
                seen[cap.name] = (where, cap)
            else:
                label = _LABELS[section]
                self.warn(where, f"duplicate {label} {cap.name!r} (first at {first[0]}); dropped")
        for where, cap in also:
            seen.setdefault(cap.name, (where, cap))
        return tuple(seen[name][1] for name in sorted(seen))

    # --- sections ----------------------------------------------------------------------------

    def section(self, section: Section, where: str, value: Any) -> list[Found]:
        if section == "variables" and isinstance(value, Mapping):
            if _is_single_entry(value):
                cap = self.entry(section, where, value, None)
                return [(where, cap)] if cap is not None else []
            return self.tree(where, value, "")
        if value is None:
            return []
        items: list[_Item]
        if isinstance(value, Mapping):  # keyed by name
            items = [(f"{where}.{k}", spec, str(k)) for k, spec in value.items()]
        elif isinstance(value, (list, tuple)):
            items = [(f"{where}[{i}]", item, None) for i, item in enumerate(value)]
        else:
            self.warn(where, f"expected a list or an object, got {json_type(value)}; ignored")
            return []
        found = [(at, self.entry(section, at, item, key)) for at, item, key in items]
        return [(at, cap) for at, cap in found if cap is not None]

    def entry(self, section: Section, where: str, item: Any, key: str | None) -> Capability | None:
        """One entry: a name, an object, or (in a section keyed by name) the key's value."""
        if isinstance(item, Mapping):
            own = text(item.get("name"))
            if key is not None and own is None:
                return self.capability(section, where, item, text(key) or "", None)
            return self.capability(section, where, item, None, None)
        if key is not None:  # `{"PING": "Check it answers"}` or `{"PING": true}`
            description = text(item) if isinstance(item, str) else None
            return self.capability(section, where, {"description": description}, key.strip(), "")
        if isinstance(item, str):
            if not item.strip():
                self.warn(where, "blank name; skipped")
                return None
            return Capability(name=item.strip())
        self.warn(where, f"expected a name or an object, got {json_type(item)}; skipped")
        return None

    def tree(self, where: str, tree: Mapping[str, Any], prefix: str) -> list[Found]:
        """Variables as a tree, `{"metrics": {"cpu": "number", "mem": {"type": "number"}}}`:
        keys are path segments; a string leaf is a value type (or else a description); a
        mapping with a value type, description, unit or enum is a leaf's spec."""
        found: list[Found] = []
        for key, value in tree.items():
            at = f"{where}.{key}"
            if not str(key).strip():
                self.warn(at, "blank name; skipped")
                continue
            path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, Mapping) and not any(_leaf_value(value, k) for k in _LEAF_KEYS):
                found.extend(self.tree(at, value, path))
                continue
            if isinstance(value, Mapping):
                cap = self.capability("variables", at, value, path, None)
            elif is_value_type_word(value):
                cap = Capability(name=path, type=canonical_type(value))
            else:
                cap = Capability(name=path, description=text(value))
            if cap is not None:
                found.append((at, cap))
        return found

    def _nested(self, where: str, condition_type: Capability) -> list[Found]:
        """Variables a condition type lists (`{"name": "THRESHOLD", "metrics": [...]}`)."""
        found: list[Found] = []
        for key in NESTED_VARIABLE_KEYS:
            if key in condition_type.extra:
                found.extend(self.section("variables", f"{where}.{key}", condition_type.extra[key]))
        return found

    # --- one entry ---------------------------------------------------------------------------

    def capability(
        self,
        section: Section,
        where: str,
        item: Mapping[str, Any],
        name: str | None,
        name_key: str | None,
    ) -> Capability | None:
        """An entry object. `name` given: it was named by its place (a key, a tree path)."""
        if name is None:
            name, name_key = _pick_name(section, item)
        if not name:
            self.warn(where, _nameless(section, item))
            return None
        desc_key = first_key(item, DESCRIPTION_KEYS, str)
        type_key = next((k for k in VALUE_TYPE_KEYS if k != name_key and _is_type(item, k)), None)
        param_key = next((k for k in PARAM_KEYS if k in item and k != name_key), None)
        enum_key = first_key(item, ENUM_KEYS, (list, tuple))
        unit_key = first_key(item, UNIT_KEYS, str)
        params, closed = (
            self.params(f"{where}.{param_key}", item[param_key]) if param_key else ((), False)
        )
        used = {name_key, desc_key, type_key, param_key, enum_key, unit_key}
        if isinstance(item.get("params_closed"), bool):  # our own canonical form, read back
            closed = item["params_closed"]
            used.add("params_closed")
        if isinstance(item.get("extra"), Mapping):
            used.add("extra")
        extra = {str(k): v for k, v in item.items() if k not in used}
        extra.update(item["extra"] if "extra" in used else {})
        return Capability(
            name=name,
            description=text(item[desc_key]) if desc_key else None,
            params=params,
            params_closed=closed,
            type=canonical_type(item[type_key]) if type_key else None,
            enum=tuple(item[enum_key]) if enum_key else (),
            extra=_canonical(extra),
            unit=text(item[unit_key]) if unit_key else None,
        )

    def params(self, where: str, spec: Any) -> tuple[tuple[ParamSpec, ...], bool]:
        """Parameters as a list, a name→spec dict, or JSON Schema `{properties, required,
        additionalProperties}`. A list or dict is a closed declaration (these are the
        parameters there are); a JSON Schema is open unless additionalProperties is false."""
        if spec is None:
            return (), False
        if isinstance(spec, Mapping) and is_json_schema(spec):
            return schema_params(spec)
        items: list[_Item]
        if isinstance(spec, Mapping):
            items = [(f"{where}.{k}", s, str(k)) for k, s in spec.items()]
        elif isinstance(spec, (list, tuple)):
            items = [(f"{where}[{i}]", s, None) for i, s in enumerate(spec)]
        else:
            kind = json_type(spec)
            self.warn(where, f"expected a list or an object of parameters, got {kind}; ignored")
            return (), False
        seen: dict[str, ParamSpec] = {}
        for at, item, key in items:
            param = self.param_entry(at, item, key)
            if param is not None and param.name in seen:
                self.warn(at, f"duplicate parameter {param.name!r}; the first kept")
            elif param is not None:
                seen[param.name] = param
        return tuple(seen[name] for name in sorted(seen)), bool(seen)

    def param_entry(self, where: str, item: Any, key: str | None) -> ParamSpec | None:
        if key is not None and key.strip():
            return read_param(key.strip(), item, required=None)
        if isinstance(item, str) and item.strip():
            return ParamSpec(name=item.strip())
        if isinstance(item, Mapping):
            name = next((text(item.get(k)) for k in PARAM_NAME_KEYS if text(item.get(k))), None)
            if name is not None:
                return read_param(name, item, required=None)
            keys = ", ".join(sorted(str(k) for k in item)) or "none"
            self.warn(where, f"parameter has no usable name (keys: {keys}); skipped")
            return None
        self.warn(where, f"expected a parameter name or object, got {json_type(item)}; skipped")
        return None


# --- helpers ---------------------------------------------------------------------------------


def _is_type(item: Mapping[str, Any], key: str) -> bool:
    # An unrecognised word under a type key (`"type": "notification"`) is not a value type: it
    # stays in `extra`, visible to the model.
    return is_value_type_word(item.get(key))


def _leaf_value(value: Mapping[str, Any], key: str) -> bool:
    return isinstance(value.get(key), list if key == "enum" else str)


def _pick_name(section: Section, item: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The first usable name key for the section (see `catalogue_shapes.NAME_KEYS`). A variable
    is referenced as `$path` in conditions, so a label that is no path ("Order total") gives way
    to a key that is one (`path`, `variable`…), and is used only when there is none."""
    label: tuple[str, str] | None = None
    for key in NAME_KEYS[section]:
        value = text(item.get(key))
        if value is None:
            continue
        if key == "id" and is_database_id(value):
            continue  # a database key, not a name
        if key == "type" and is_value_type_word(value):
            continue  # a value type is never a name
        if section == "variables" and not _VARIABLE_PATH.fullmatch(value):
            label = label or (value, key)
            continue
        return value, key
    return label if label is not None else (None, None)


_VARIABLE_PATH = re.compile(r"\$?[A-Za-z_][\w-]*(?:\.[\w-]+|\[\d+\])*")


def _nameless(section: Section, item: Mapping[str, Any]) -> str:
    keys = ", ".join(sorted(str(k) for k in item)) or "none"
    names = ", ".join(k for k in NAME_KEYS[section] if k != "type")
    hint = f"a {_LABELS[section]} is named by {names}"
    if section != "variables":
        hint += " (or by type, unless its value is a value type)"
    elif any(k in item for k in VALUE_TYPE_KEYS):
        hint += "; type is the value type, never the name"
    return f"entry has no usable name (keys: {keys}); skipped — {hint}"


def _is_single_entry(value: Mapping[str, Any]) -> bool:
    """`"variables": {"name": "cpu", "type": "number"}` is one variable, not a tree."""
    return any(
        text(value.get(k)) is not None and not is_value_type_word(value.get(k))
        for k in ("name", "path", "variable")
    )


def _dollar(found: Found) -> Found:
    """Variables are referenced as `$path.to.value` in conditions; store them that way."""
    where, var = found
    if var.name.startswith("$"):
        return found
    return where, var.model_copy(update={"name": "$" + var.name})


def _canonical(value: Any) -> Any:
    """Recursively sort mapping keys so that extra fields render identically every time."""
    if isinstance(value, Mapping):
        return {str(k): _canonical(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value
