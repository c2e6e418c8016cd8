"""A structural diff of two workflow-rules documents, for `refine`'s `changes`.

Rules are matched by name, actions within a branch by (action name, occurrence), so the diff
reads the way a person would describe the edit ("added SEND_EMAIL to rule x"). Every change is
a small dict: `kind`, `path`, `summary` (a sentence), and `before`/`after` where they apply.

Both sides are compared in normalised form (`WorkflowRules(...).to_json_dict()`: defaults filled
in, nulls dropped) whenever they validate against the schema, so `refine` does not report an
action without `params`, or a `"retry": null`, as changed when the model kept it verbatim. A side
that does not validate (possible for a caller's `current_rules`) is compared as given.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from eyeflow_worker.rules.schema import WorkflowRules

Change = dict[str, Any]


def diff_rules(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    old, new = normalised(old), normalised(new)
    changes: list[Change] = []
    for key in ("workflow_name", "trigger", "description"):
        if old.get(key) != new.get(key):
            changes.append(
                _change(f"{key}_changed", key, f"{key} changed", old.get(key), new.get(key))
            )
    old_rules = _by_name(old.get("rules"))
    new_rules = _by_name(new.get("rules"))
    removed = [n for n in old_rules if n not in new_rules]
    added = [n for n in new_rules if n not in old_rules]
    renamed = _renames(removed, added, old_rules, new_rules)
    for before, after in renamed.items():
        changes.append(
            _change(
                "rule_renamed",
                f"rules[{after}]",
                f"rule {before!r} renamed to {after!r}",
                before,
                after,
            )
        )
    for name in removed:
        if name not in renamed:
            changes.append(
                _change(
                    "rule_removed",
                    f"rules[{name}]",
                    f"rule {name!r} removed",
                    old_rules[name],
                    None,
                )
            )
    for name in added:
        if name not in renamed.values():
            changes.append(
                _change(
                    "rule_added", f"rules[{name}]", f"rule {name!r} added", None, new_rules[name]
                )
            )
    for name, rule in new_rules.items():
        if name in old_rules and old_rules[name] != rule:
            changes.extend(_rule_changes(name, old_rules[name], rule))
    return changes


def normalised(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    """`doc` as the schema would emit it, or `doc` unchanged when it does not validate."""
    try:
        return WorkflowRules.model_validate(doc).to_json_dict()
    except ValidationError:
        return doc


def _change(kind: str, path: str, summary: str, before: Any, after: Any) -> Change:
    return {"kind": kind, "path": path, "summary": summary, "before": before, "after": after}


def _by_name(rules: Any) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    if isinstance(rules, Sequence) and not isinstance(rules, str):
        for i, rule in enumerate(rules):
            if isinstance(rule, Mapping):
                # Unnamed or duplicate-named rules (possible in caller input) get a positional key.
                name = rule.get("name")
                key = name if isinstance(name, str) and name not in out else f"#{i}"
                out[key] = rule
    return out


def _renames(
    removed: list[str],
    added: list[str],
    old: Mapping[str, Mapping[str, Any]],
    new: Mapping[str, Mapping[str, Any]],
) -> dict[str, str]:
    """A removed and an added rule identical except for the name are one renamed rule."""
    out: dict[str, str] = {}
    for r in removed:
        body = {k: v for k, v in old[r].items() if k != "name"}
        match = next(
            (
                a
                for a in added
                if a not in out.values()
                and {k: v for k, v in new[a].items() if k != "name"} == body
            ),
            None,
        )
        if match is not None:
            out[r] = match
    return out


def _rule_changes(name: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> Iterator[Change]:
    base = f"rules[{name}]"
    for key in ("condition", "description"):
        if old.get(key) != new.get(key):
            yield _change(
                f"rule_{key}_changed",
                f"{base}.{key}",
                f"rule {name!r}: {key} changed",
                old.get(key),
                new.get(key),
            )
    for branch in ("then", "else"):
        yield from _action_changes(name, branch, old.get(branch) or [], new.get(branch) or [])
    known = {"name", "condition", "description", "then", "else"}
    for key in sorted((set(old) | set(new)) - known):
        if old.get(key) != new.get(key):
            yield _change(
                "rule_field_changed",
                f"{base}.{key}",
                f"rule {name!r}: {key} changed",
                old.get(key),
                new.get(key),
            )


def _keyed(actions: Any) -> dict[tuple[str, int], Mapping[str, Any]]:
    out: dict[tuple[str, int], Mapping[str, Any]] = {}
    seen: dict[str, int] = {}
    for action in actions if isinstance(actions, list) else []:
        if isinstance(action, Mapping):
            act = str(action.get("action"))
            seen[act] = seen.get(act, 0) + 1
            out[(act, seen[act])] = action
    return out


def _action_changes(name: str, branch: str, old: Any, new: Any) -> Iterator[Change]:
    before, after = _keyed(old), _keyed(new)
    base = f"rules[{name}].{branch}"
    for key, action in after.items():
        label = _label(key)
        if key not in before:
            yield _change(
                "action_added",
                f"{base}[{label}]",
                f"rule {name!r}: {branch} action {label} added",
                None,
                action,
            )
        elif before[key] != action:
            fields = sorted(
                k for k in set(before[key]) | set(action) if before[key].get(k) != action.get(k)
            )
            yield _change(
                "action_modified",
                f"{base}[{label}]",
                f"rule {name!r}: {branch} action {label} changed ({', '.join(fields)})",
                before[key],
                action,
            )
    for key, action in before.items():
        if key not in after:
            label = _label(key)
            yield _change(
                "action_removed",
                f"{base}[{label}]",
                f"rule {name!r}: {branch} action {label} removed",
                action,
                None,
            )
    if list(before) != list(after) and set(before) == set(after):
        yield _change(
            "actions_reordered",
            base,
            f"rule {name!r}: {branch} actions reordered",
            [_label(k) for k in before],
            [_label(k) for k in after],
        )


def _label(key: tuple[str, int]) -> str:
    return key[0] if key[1] == 1 else f"{key[0]}#{key[1]}"
