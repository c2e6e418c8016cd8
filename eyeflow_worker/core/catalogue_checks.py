"""What a read catalogue should make its owner look at — checks on the `Catalogue` itself, after
reading (the reader reports what it skipped or dropped on the way):

- an empty section the prompt relies on: no action types (a rule has nothing to do), no
  variables (conditions can refer to nothing), no triggers (any trigger name goes);
- a variable named like a value type (`$number`): the name was almost certainly in another key;
- a condition type or action type referring (in its description, parameters or extra fields)
  to a `$variable` the catalogue does not declare.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from eyeflow_worker.core.catalogue_model import Capability, Catalogue
from eyeflow_worker.core.catalogue_shapes import is_value_type_word

# A `$variable` reference as the condition language writes it: `$path.to.value`.
_REFERENCE = re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


def catalogue_warnings(catalogue: Catalogue) -> list[str]:
    warnings: list[str] = []
    if not catalogue.action_types:
        warnings.append("action_types: none declared; a rule has no action to perform")
    if not catalogue.variables:
        warnings.append("variables: none declared; conditions cannot refer to any $variable")
    if not catalogue.triggers:
        warnings.append("triggers: none declared; any trigger name will be accepted")
    warnings.extend(
        f"variables: {name!r} is named like a value type; was its name in another key?"
        for name in value_type_named(catalogue)
    )
    warnings.extend(
        f"variables: {name!r} is not a $path a condition can refer to (a label? send `path`)"
        for name in catalogue.variable_names
        if not _REFERENCE.fullmatch(name)
    )
    known = catalogue.variable_names
    for section, entries in (
        ("condition_types", catalogue.condition_types),
        ("action_types", catalogue.action_types),
    ):
        for entry in entries:
            for ref in sorted(set(_references(entry))):
                if not variable_declared(ref, known):
                    warnings.append(
                        f"{section}[{entry.name}]: refers to {ref}, which the catalogue's "
                        "variables do not declare"
                    )
    return warnings


def value_type_named(catalogue: Catalogue) -> list[str]:
    """The variables whose name is a value-type word (`$number`, `$string`…)."""
    return [v.name for v in catalogue.variables if is_value_type_word(v.name.lstrip("$"))]


def variable_declared(ref: str, known: Sequence[str]) -> bool:
    """A declared root (`$metrics`) covers its fields, a declared field covers deeper access,
    and a reference to a root (`$metrics`) is declared when one of its fields is — as the
    validator reads conditions."""
    return any(ref == k or ref.startswith(k + ".") or k.startswith(ref + ".") for k in known)


def _references(entry: Capability) -> Iterator[str]:
    texts: list[Any] = [entry.description, entry.extra]
    for p in entry.params:
        texts.extend([p.description, list(p.enum)])
    for text in _strings(texts):
        yield from _REFERENCE.findall(text)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)
