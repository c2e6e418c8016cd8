"""The named-things half of the faithfulness check: channels, teams and severities in params.

A name the intent gives (see `faithfulness_intent`) is carried by a parameter that fits it:
one whose enum lists it (any parameter for a channel word such as "slack"; for teams and
severities a parameter of that kind), or a free-form string parameter of its kind — "#names"
go in `channel`/`recipient`/`to`/`destination`…, teams in `team`/`recipient`/`assignee`/
`group`/`owner`…, severities in `severity`/`priority`/`level`/`urgency`. A channel word or a
team is also carried by an action named after it (`POST_SLACK_MESSAGE`, `SEND_EMAIL`,
`NOTIFY_FINANCE`). Free text (`message`, `body`, `title`…) never counts: it echoes the intent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from eyeflow_worker.core.catalogue_model import Catalogue, ParamSpec
from eyeflow_worker.core.workflow_rules import Action, FallbackAction, WorkflowRules
from eyeflow_worker.rules.faithfulness_intent import Named

_KIND_PARAMS: dict[str, frozenset[str]] = {
    "channel": frozenset({"channel", "channels", "channel_name", "slack_channel", "destination",
                          "target", "recipient", "recipients", "to", "medium", "via"}),
    "team": frozenset({"team", "teams", "team_name", "recipient", "recipients", "assignee",
                       "assign_to", "group", "owner", "escalation_team", "escalate_to",
                       "on_call", "oncall", "to"}),
    "severity": frozenset({"severity", "priority", "level", "urgency", "importance", "sev",
                           "log_level"}),
}  # fmt: skip
_CHANNEL_ALIASES = {"email": ("email", "mail"), "sms": ("sms",), "slack": ("slack",)}


@dataclass(frozen=True)
class _Place:
    where: str  # "rules[0].then[1]"
    action: Action | FallbackAction
    param: ParamSpec


def named_errors(named: Sequence[Named], rules: WorkflowRules, catalogue: Catalogue) -> list[str]:
    errors: list[str] = []
    for item in named:
        error = _named_error(item, rules, catalogue)
        if error is not None:
            errors.append(error)
    return errors


def _named_error(item: Named, rules: WorkflowRules, catalogue: Catalogue) -> str | None:
    used = list(rules.located_actions())
    if any(_carries(item, action, catalogue) for _, action in used):
        return None
    places = [
        _Place(where, action, p)
        for where, action in used
        for p in _spec_params(action.action, catalogue)
        if _fits(p, item)
    ]
    if places:
        place = places[0]
        value = place.action.params.get(place.param.name)
        wanted = _spelling(place.param, item)
        field = f"{place.where}.params.{place.param.name}"
        now = "is not set" if value is None else f"is {json.dumps(value, ensure_ascii=False)}"
        return (
            f"{field}: the intent names the {item.kind} {_quote(item.said)} but"
            f" {place.param.name} {now} (use {json.dumps(wanted, ensure_ascii=False)})"
        )
    if item.kind != "channel":
        return None  # no action of the rules takes a team or severity: cannot decide
    able = list(_able_actions(item, catalogue))
    if not able:
        return None
    where = "rules[0].then" if len(rules.rules) == 1 else "rules[*].then"
    return (
        f"{where}: the intent names the channel {_quote(item.said)} but no action carries it;"
        f" use {' or '.join(able[:3])}"
    )


def value_to_carry(p: ParamSpec, named: Sequence[Named], current: Any) -> Any:
    """What a drafted parameter `p` should hold so that it carries what the intent names.

    `current` when it already carries a named item that fits `p` (or none fits); otherwise the
    first fitting item, spelled as the enum spells it (in a list for an array parameter).
    """
    fitting = [item for item in named if _fits(p, item)]
    if not fitting or any(_holds(current, item) for item in fitting):
        return current
    value = _spelling(p, fitting[0])
    return [value] if p.type == "array" else value


def _holds(value: Any, item: Named) -> bool:
    return any(_norm(item.value) in _norm(text) for text in _texts(value))


def _spec_params(action: str, catalogue: Catalogue) -> tuple[ParamSpec, ...]:
    spec = catalogue.action(action)
    return spec.params if spec is not None else ()


def _fits(p: ParamSpec, item: Named) -> bool:
    """Whether parameter `p` is a place for `item`."""
    kind_param = p.name.lower() in _KIND_PARAMS[item.kind]
    if p.enum:
        listed = any(_norm(str(e)) == _norm(item.value) for e in p.enum)
        return listed and (kind_param or item.kind == "channel")
    if not kind_param or p.raw_type == "email" or p.type not in (None, "string", "array"):
        return False
    # A channel word ("slack") is a medium, not a value of a free-form field; "#names" are.
    return item.kind != "channel" or item.value.startswith("#")


def _carries(item: Named, action: Action | FallbackAction, catalogue: Catalogue) -> bool:
    if item.kind != "severity" and _named_after(item, action.action):
        return True
    spec = catalogue.action(action.action)
    for name, value in action.params.items():
        declared = spec.param(name) if spec is not None else None
        fits = _fits(declared, item) if declared is not None else (
            name.lower() in _KIND_PARAMS[item.kind]
        )  # fmt: skip
        if fits and _holds(value, item):
            return True
    return False


def _named_after(item: Named, action_name: str) -> bool:
    if item.value.startswith("#"):
        return False
    words = set(re.split(r"[^a-z0-9]+", action_name.lower()))
    wanted = _CHANNEL_ALIASES.get(item.value, (_norm(item.value),))
    return any(w in words for w in wanted)


def _able_actions(item: Named, catalogue: Catalogue) -> Iterator[str]:
    for spec in catalogue.action_types:
        for p in spec.params:
            if _fits(p, item):
                yield f"{spec.name} with {p.name} {json.dumps(_spelling(p, item))}"
                break
        else:
            if _named_after(item, spec.name):
                yield spec.name


def _spelling(p: ParamSpec, item: Named) -> Any:
    """The value to suggest: the enum's own spelling when it lists it."""
    for e in p.enum:
        if _norm(str(e)) == _norm(item.value):
            return e
    return item.value


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _texts(v)


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def _quote(text: str) -> str:
    return '"' + text.replace('"', "'") + '"'
