"""A structural diff of two workflow-rules documents, for `refine`'s `changes`.

Rules are matched by name, actions within a branch by (action name, occurrence), so the diff
reads the way a person would describe the edit ("added SEND_EMAIL to rule x"). Every change is
a small dict: `kind`, `path`, `summary` (a sentence), and `before`/`after` where they apply.
Moves are changes too: `rules_reordered` and `actions_reordered` compare the order of the rules
(actions) both sides have, so an added or removed one does not hide a reorder. Unnamed or
duplicate-named rules (possible in a caller's input) are named by position (`rules[1]`).

Both sides are compared in normalised form (`WorkflowRules(...).to_json_dict()`: defaults filled
in, nulls dropped) whenever they validate against the schema, so `refine` does not report an
action without `params`, or a `"retry": null`, as changed when the model kept it verbatim. A side
that does not validate (possible for a caller's `current_rules`) is compared as given.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from eyeflow_worker.core.workflow_rules import WorkflowRules

Change = dict[str, Any]


def diff_rules(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    old, new = normalised(old), normalised(new)
    changes: list[Change] = []
    for field in ("workflow_name", "trigger", "description"):
        if old.get(field) != new.get(field):
            changes.append(
                _change(
                    f"{field}_changed", field, f"{field} changed", old.get(field), new.get(field)
                )
            )
    old_rules = _by_name(old.get("rules"))
    new_rules = _by_name(new.get("rules"))
    removed = [k for k in old_rules if k not in new_rules]
    added = [k for k in new_rules if k not in old_rules]
    renamed = _renames(removed, added, old_rules, new_rules)
    for before_key, after_key in renamed.items():
        before, after = old_rules[before_key], new_rules[after_key]
        if before.name == after.name:
            continue  # a duplicate-named rule matched by content: the same rule, not renamed
        changes.append(
            _change(
                "rule_renamed",
                after.path,
                f"{before.label} renamed to {after.name!r}",
                before.name,
                after.name,
            )
        )
    for key in removed:
        if key not in renamed:
            entry = old_rules[key]
            changes.append(
                _change("rule_removed", entry.path, f"{entry.label} removed", entry.rule, None)
            )
    for key in added:
        if key not in renamed.values():
            entry = new_rules[key]
            changes.append(
                _change("rule_added", entry.path, f"{entry.label} added", None, entry.rule)
            )
    # Order of the rules both sides have (renamed ones under their new key).
    before_order = [renamed.get(k, k) for k in old_rules if k in new_rules or k in renamed]
    common = set(before_order)
    after_order = [k for k in new_rules if k in common]
    if before_order != after_order:
        old_key = {v: k for k, v in renamed.items()}
        changes.append(
            _change(
                "rules_reordered",
                "rules",
                "rules reordered",
                [old_rules[old_key.get(k, k)].display for k in before_order],
                [new_rules[k].display for k in after_order],
            )
        )
    for key, entry in new_rules.items():
        if key in old_rules and old_rules[key].rule != entry.rule:
            changes.extend(_rule_changes(entry, old_rules[key].rule, entry.rule))
    return changes


def normalised(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    """`doc` as the schema would emit it, or `doc` unchanged when it does not validate."""
    try:
        return WorkflowRules.model_validate(doc).to_json_dict()
    except ValidationError:
        return doc


def _change(kind: str, path: str, summary: str, before: Any, after: Any) -> Change:
    return {"kind": kind, "path": path, "summary": summary, "before": before, "after": after}


@dataclass(frozen=True)
class _Entry:
    """A rule of one side, with how changes refer to it (never by the internal matching key)."""

    rule: Mapping[str, Any]
    name: Any  # as written; None or a non-string when the rule is unnamed
    path: str  # "rules[<name>]", or "rules[<index>]" for an unnamed or duplicate-named rule
    label: str  # "rule 'x'", "rule 'x' at rules[1]" or "unnamed rule at rules[1]"

    @property
    def display(self) -> str:
        return self.name if isinstance(self.name, str) else self.path


_Key = tuple[str | None, int]  # (name, -1), or (None, index) for a positional key


def _by_name(rules: Any) -> dict[_Key, _Entry]:
    """Rules keyed by name; unnamed or duplicate-named ones (possible in caller input) get a
    positional key, which is internal: summaries and paths use the entry's own words."""
    out: dict[_Key, _Entry] = {}
    if isinstance(rules, Sequence) and not isinstance(rules, str):
        for i, rule in enumerate(rules):
            if not isinstance(rule, Mapping):
                continue
            name = rule.get("name")
            if isinstance(name, str) and (name, -1) not in out:
                out[(name, -1)] = _Entry(rule, name, f"rules[{name}]", f"rule {name!r}")
            else:
                label = f"rule {name!r}" if isinstance(name, str) else "unnamed rule"
                out[(None, i)] = _Entry(rule, name, f"rules[{i}]", f"{label} at rules[{i}]")
    return out


def _renames(
    removed: list[_Key],
    added: list[_Key],
    old: Mapping[_Key, _Entry],
    new: Mapping[_Key, _Entry],
) -> dict[_Key, _Key]:
    """A removed and an added rule identical except for the name are one renamed rule."""
    out: dict[_Key, _Key] = {}
    for r in removed:
        body = {k: v for k, v in old[r].rule.items() if k != "name"}
        match = next(
            (
                a
                for a in added
                if a not in out.values()
                and {k: v for k, v in new[a].rule.items() if k != "name"} == body
            ),
            None,
        )
        if match is not None:
            out[r] = match
    return out


def _rule_changes(
    entry: _Entry, old: Mapping[str, Any], new: Mapping[str, Any]
) -> Iterator[Change]:
    base, label = entry.path, entry.label
    for key in ("condition", "description"):
        if old.get(key) != new.get(key):
            yield _change(
                f"rule_{key}_changed",
                f"{base}.{key}",
                f"{label}: {key} changed",
                old.get(key),
                new.get(key),
            )
    for branch in ("then", "else"):
        yield from _action_changes(
            label, f"{base}.{branch}", branch, old.get(branch) or [], new.get(branch) or []
        )
    known = {"name", "condition", "description", "then", "else"}
    for key in sorted((set(old) | set(new)) - known):
        if old.get(key) != new.get(key):
            yield _change(
                "rule_field_changed",
                f"{base}.{key}",
                f"{label}: {key} changed",
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


def _action_changes(rule: str, base: str, branch: str, old: Any, new: Any) -> Iterator[Change]:
    before, after = _keyed(old), _keyed(new)
    for key, action in after.items():
        label = _label(key)
        if key not in before:
            yield _change(
                "action_added",
                f"{base}[{label}]",
                f"{rule}: {branch} action {label} added",
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
                f"{rule}: {branch} action {label} changed ({', '.join(fields)})",
                before[key],
                action,
            )
    for key, action in before.items():
        if key not in after:
            label = _label(key)
            yield _change(
                "action_removed",
                f"{base}[{label}]",
                f"{rule}: {branch} action {label} removed",
                action,
                None,
            )
    # Reordering is judged on the actions both sides have: an added or removed action does
    # not hide that the others were moved around.
    before_order = [k for k in before if k in after]
    after_order = [k for k in after if k in before]
    if before_order != after_order:
        yield _change(
            "actions_reordered",
            base,
            f"{rule}: {branch} actions reordered",
            [_label(k) for k in before_order],
            [_label(k) for k in after_order],
        )


def _label(key: tuple[str, int]) -> str:
    return key[0] if key[1] == 1 else f"{key[0]}#{key[1]}"
