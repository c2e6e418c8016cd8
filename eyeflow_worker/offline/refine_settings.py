"""The offline refine steps that change a setting of the existing actions: the delivery channel
("use slack instead of email"), the severity or priority ("make it critical"), the recipient
("send it to the dba team"). Each works on one clause of the feedback and answers with a summary
of what it changed, a `NotApplied` reason when it understood the clause but the catalogue or the
rules cannot express it, or None when the clause is not about its setting.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from eyeflow_worker.core.catalogue_model import Capability, Catalogue, ParamSpec
from eyeflow_worker.offline import text as tx
from eyeflow_worker.offline.drafting import fill_params
from eyeflow_worker.rules.feedback import (
    CHANNEL_PARAMS,
    action_channel,
    channels_named,
    missing_channel_reason,
)

Doc = dict[str, Any]


@dataclass(frozen=True)
class NotApplied:
    reason: str


StepResult = str | NotApplied | None

_ADDING: Final = re.compile(r"\b(also|add|additionally|as well|plus|too)\b")
_REMOVING: Final = re.compile(r"\b(remove|drop|delete|don't|do not|no longer|stop sending)\b")
_OLD_CHANNEL: Final = re.compile(
    r"\b(?:instead of|rather than|from|not|no more)\s+(?:the\s+)?([\w-]+)"
)
_MESSAGE_PARAMS: Final = frozenset({"message", "text", "body", "content", "summary", "subject"})


def actions_of(doc: Doc) -> Iterator[Doc]:
    """Every action of every rule's `then` and `else`, as the mutable dicts they are."""
    rules = doc.get("rules")
    for rule in rules if isinstance(rules, list) else []:
        if not isinstance(rule, dict):
            continue
        for branch in ("then", "else"):
            actions = rule.get(branch)
            if isinstance(actions, list):
                yield from (a for a in actions if isinstance(a, dict))


def _with_specs(doc: Doc, catalogue: Catalogue) -> Iterator[tuple[Doc, Capability]]:
    """Every action whose type the catalogue declares, with that declaration."""
    for action in actions_of(doc):
        spec = catalogue.action(str(action.get("action")))
        if spec is not None:
            yield action, spec


def _params(action: Doc) -> dict[str, Any]:
    params = action.get("params")
    if not isinstance(params, dict):
        params = action["params"] = {}
    return params


# --- channel --------------------------------------------------------------------------------


def change_channel(doc: Doc, clause: str, catalogue: Catalogue) -> StepResult:
    lowered = clause.lower()
    named = channels_named(clause)
    if not named or _ADDING.search(lowered) or _REMOVING.search(lowered):
        return None  # another action, or one fewer: `_add_action` / `_remove_action`
    old_match = _OLD_CHANNEL.search(lowered)
    old = next(iter(channels_named(old_match.group(1))), None) if old_match else None
    new = next((c for c in named if c != old), None)
    if new is None:
        return None
    missing = missing_channel_reason(new, catalogue)
    if missing is not None:
        return NotApplied(missing)
    changed: list[str] = []
    for action, spec in _with_specs(doc, catalogue):
        changed += _switch(action, spec, old, new, clause, catalogue)
    if changed:
        return "; ".join(changed)
    if old is not None:
        return NotApplied(f"no action in these rules sends by {old}")
    return NotApplied(f"no action in these rules can be moved to {new}")


def _switch(
    action: Doc, spec: Capability, old: str | None, new: str, clause: str, catalogue: Catalogue
) -> list[str]:
    param, option = _channel_option(spec, new)
    if param is not None:
        params = _params(action)
        current = str(params.get(param.name, "")).lower()
        if (old is None or current == old) and params.get(param.name) != option:
            params[param.name] = option
            return [f"{spec.name}.{param.name} set to {option!r}"]
        return []
    dedicated = action_channel(spec)
    if dedicated is None or dedicated == new or (old is not None and dedicated != old):
        return []
    replacement = _action_for(new, catalogue)
    if replacement is None:
        return []
    before = _params(action)
    notes: list[str] = []
    params = fill_params(replacement, clause, notes, catalogue.variable_names)
    chosen, option = _channel_option(replacement, new)
    if chosen is not None:
        params[chosen.name] = option
    message = next((v for k, v in before.items() if k in _MESSAGE_PARAMS), None)
    for p in replacement.params:
        if p.name in before and p is not chosen:
            params[p.name] = copy.deepcopy(before[p.name])  # same name: same meaning
        elif p.name in _MESSAGE_PARAMS and message is not None:
            params[p.name] = message
    action["action"], action["params"] = replacement.name, params
    return [
        f"{spec.name} replaced by {replacement.name}" + (f" ({'; '.join(notes)})" if notes else "")
    ]


def _channel_option(spec: Capability, channel: str) -> tuple[ParamSpec | None, Any]:
    for p in spec.params:
        if p.name.lower() in CHANNEL_PARAMS:
            option = next((o for o in p.enum if str(o).lower() == channel), None)
            if option is not None:
                return p, option
    return None, None


def _action_for(channel: str, catalogue: Catalogue) -> Capability | None:
    """The catalogue action that delivers on `channel`: a dedicated one, else one that takes the
    channel as a parameter."""
    dedicated = [a for a in catalogue.action_types if action_channel(a) == channel]
    if dedicated:
        return dedicated[0]
    return next((a for a in catalogue.action_types if _channel_option(a, channel)[0]), None)


# --- severity -------------------------------------------------------------------------------

_LEVEL_PARAMS: Final = frozenset({"severity", "priority", "level", "urgency"})
# Values distinctive enough to mean a level without the word "severity" next to them.
_STRONG_LEVELS: Final = frozenset(
    {"critical", "highest", "urgent", "blocker", "p1", "p2", "p3", "p4"}
)


def change_severity(doc: Doc, clause: str, catalogue: Catalogue) -> StepResult:
    words = set(tx.words(clause))
    asked = words & _LEVEL_PARAMS
    if not asked and not words & _STRONG_LEVELS:
        return None
    changed: list[str] = []
    offered: list[str] = []
    for action, spec in _with_specs(doc, catalogue):
        for p in spec.params:
            if p.name.lower() not in _LEVEL_PARAMS or not p.enum:
                continue
            offered.append(f"{spec.name}.{p.name}: {', '.join(map(str, p.enum))}")
            option = next((o for o in p.enum if str(o).lower() in words), None)
            if option is not None and _params(action).get(p.name) != option:
                _params(action)[p.name] = option
                changed.append(f"{action['action']}.{p.name} set to {option!r}")
    if changed:
        return "; ".join(changed)
    if not offered:
        return (
            NotApplied("no action in these rules takes a severity or priority") if asked else None
        )
    return NotApplied(f"no value the catalogue offers is named ({'; '.join(offered)})")


# --- recipient ------------------------------------------------------------------------------

_EMAIL: Final = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_HASH_CHANNEL: Final = re.compile(r"(?<![\w])#[\w-]+")
_WHO: Final = re.compile(
    r"\b(?P<cue>(?:send|route|deliver)(?:\s+(?:it|them|this|alerts?|notifications?))?\s+to|"
    r"notify|alert|page|tell|inform|cc|recipient(?:\s+(?:is|to|should be|=))?|for)\s+"
    r"(?:the\s+)?(?P<who>[\w-]+)(?P<team>\s+team)?\b"
)
_RECIPIENT_PARAMS: Final = frozenset(
    {"recipient", "recipients", "to", "team", "assignee", "contact", "user", "owner", "email"}
)


def change_recipient(doc: Doc, clause: str, catalogue: Catalogue) -> StepResult:
    if _ADDING.search(clause.lower()) or _REMOVING.search(clause.lower()):
        return None
    who = _recipient_in(clause, catalogue)
    if who is None:
        return None
    value, is_team = who
    changed: list[str] = []
    for action, spec in _with_specs(doc, catalogue):
        for p in spec.params:
            name = p.name.lower()
            if name not in _RECIPIENT_PARAMS or p.enum:
                continue
            if value.startswith("#") and name == "team":
                continue
            wanted = f"{value}-team" if is_team and name != "team" else value
            new: Any = [wanted] if p.type == "array" else wanted
            if _params(action).get(p.name) != new:
                _params(action)[p.name] = new
                changed.append(f"{spec.name}.{p.name} set to {new!r}")
    if changed:
        return "; ".join(changed)
    return NotApplied(f"no action in these rules takes a recipient for {value!r}")


def _recipient_in(clause: str, catalogue: Catalogue) -> tuple[str, bool] | None:
    """(who, names a team) the clause sends to, or None."""
    found = _EMAIL.search(clause) or _HASH_CHANNEL.search(clause)
    if found:
        return found.group(), False
    match = _WHO.search(clause.lower())
    if match is None:
        return None
    who = match.group("who")
    if match.group("cue") == "for" and match.group("team") is None:
        return None  # "for the dba team" names a recipient, "for failures" does not
    excluded = {t.lower() for t in catalogue.trigger_names} | {"threshold", "limit", "it"}
    if who in tx.STOPWORDS or who in excluded or channels_named(who) or who[0].isdigit():
        return None
    return who, match.group("team") is not None
