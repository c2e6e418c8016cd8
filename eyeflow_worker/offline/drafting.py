"""The embedded offline drafter: workflow rules from an intent and the catalogue, no LLM.

Deterministic and grounded only in the catalogue: it picks the catalogue actions whose names
and descriptions best match the intent's words, fills required parameters with values of the
declared type taken from the intent, derives a condition from the wording, and labels the
result as a deterministic draft. Where it had to default something, the description says so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from eyeflow_worker.core.catalogue_model import Capability, Catalogue, ParamSpec
from eyeflow_worker.offline import text as tx
from eyeflow_worker.offline.condition_draft import draft_condition
from eyeflow_worker.rules.faithfulness_intent import named_things
from eyeflow_worker.rules.faithfulness_names import value_to_carry

DRAFT_LABEL = (
    "Drafted deterministically from the capability catalogue by Eyeflow's embedded offline "
    "drafter (not an LLM); review before use."
)
_GENERIC_TRIGGER_WORDS = frozenset({"on", "workflow", "event", "trigger", "run", "when"})
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_CHANNEL = re.compile(r"(?<![\w])#[\w-]+")
_RECIPIENT = re.compile(
    r"\b(?:notify|alert|email|page|tell|inform|ping|message|escalate to"
    r"|send (?:it|an? \w+) to)\s+"
    r"(?:the\s+)?(?P<who>[\w-]+(?:\s+(?:team|group|department|manager|channel|lead|on-call))?)"
)
_TEAM = re.compile(r"\b(?:the\s+)?(?P<name>[\w-]+)\s+team\b")
_ROLE_WORDS = ("employee", "manager", "approver", "owner", "submitter", "reviewer", "assignee")
_ENTITY = re.compile(
    r"\b(?:the\s+)?(?P<name>[\w-]+)\s+(?:service|server|host|container|cluster|app|application|api)\b"
)
_ENTITY_WORDS = ("database", "db", "api", "web", "frontend", "backend", "cache", "redis", "queue")


def draft_rules(intent: str, catalogue: Catalogue) -> dict[str, Any]:
    """A complete workflow-rules document for `intent`, using only names from `catalogue`."""
    notes: list[str] = []
    condition = draft_condition(intent, catalogue)
    if not condition.recognised:
        notes.append("condition defaulted to `true`")
    actions = [
        {"action": a.name, "params": fill_params(a, intent, notes, catalogue.variable_names)}
        for a in choose_actions(intent, catalogue, notes)
    ]
    rule: dict[str, Any] = {
        "name": tx.slug(condition.name_hint, max_words=8) or "rule-1",
        "description": condition.explanation,
        "condition": condition.expression,
        "then": actions,
    }
    description = f"{DRAFT_LABEL} Intent: {intent.strip()}"
    if notes:
        description += " Defaults used: " + "; ".join(dict.fromkeys(notes)) + "."
    return {
        "workflow_name": tx.slug(intent),
        "description": description,
        "trigger": choose_trigger(intent, catalogue, condition.variables),
        "rules": [rule],
    }


# --- actions ------------------------------------------------------------------------------


def _action_words(action: Capability) -> tuple[frozenset[str], frozenset[str]]:
    """(concepts of the name, concepts of description/params/enum values/category)."""
    name = _concepts_of(action.name)
    other_text = " ".join(
        [action.description or "", *(p.name for p in action.params)]
        + [str(e) for p in action.params for e in p.enum]
        + [str(v) for v in action.extra.values() if isinstance(v, str)]
    )
    return name, _concepts_of(other_text)


@lru_cache(maxsize=4096)
def _concepts_of(text: str) -> frozenset[str]:
    # Cached: the same catalogue's actions are scored against every intent of a batch.
    return frozenset(tx.concept(w) for w in tx.words(text) if w not in tx.STOPWORDS)


def _score(action: Capability, wanted: Sequence[str], raw: Sequence[str] = ()) -> float:
    name, other = _action_words(action)
    score = sum(3.0 if c in name else 1.0 if c in other else 0.0 for c in wanted)
    # The same word (up to inflection) beats a mere synonym: "escalate" → SEND_WITH_ESCALATION.
    name_words = tx.words(action.name)
    score += sum(0.5 for w in raw for n in name_words if tx.prefix_match(w, n))
    return score


def _action_text(intent: str) -> str:
    """The part of the intent that says what to do, without channel names and addresses."""
    action_text, _condition = tx.split_intent(intent)
    return _CHANNEL.sub(" ", _EMAIL.sub(" ", action_text))


def choose_actions(intent: str, catalogue: Catalogue, notes: list[str]) -> list[Capability]:
    """One action per thing-to-do the intent names, best catalogue match for each."""
    if not catalogue.action_types:
        raise ValueError("the capability catalogue declares no action types to draft with")
    text = _action_text(intent)
    intent_concepts = tx.concepts(intent)
    raw = [w for w in tx.words(text) if w not in tx.STOPWORDS]
    wanted = [c for c in tx.concepts(text) if c in tx.ACTION_CONCEPTS]
    strong = [c for c in wanted if c not in tx.WEAK_ACTION_CONCEPTS]
    chosen: list[Capability] = []
    for concept in strong or wanted:
        # Rank by the verb itself, then by the rest of the intent (e.g. "team" → an action
        # with a team parameter), then alphabetically for determinism.
        ranked = sorted(
            catalogue.action_types,
            key=lambda a: (-_score(a, [concept]), -_score(a, intent_concepts, raw), a.name),
        )
        best = ranked[0]
        if _score(best, [concept]) > 0 and best not in chosen:
            chosen.append(best)
    if chosen:
        return chosen[:3]
    ranked = sorted(
        catalogue.action_types, key=lambda a: (-_score(a, intent_concepts, raw), a.name)
    )
    if _score(ranked[0], intent_concepts, raw) > 0:
        return [ranked[0]]
    fallback = next(
        (a for a in catalogue.action_types if {"notify", "log"} & _action_words(a)[0]),
        catalogue.action_types[0],
    )
    notes.append(f"no action matched the intent's words, so {fallback.name} was used")
    return [fallback]


# --- parameters ---------------------------------------------------------------------------

_MESSAGE_WORDS = {"message", "body", "text", "content", "description", "summary", "details",
                  "reason", "note", "notes", "comment", "comments", "justification"}  # fmt: skip
_TITLE_WORDS = {"subject", "title", "headline", "label", "name"}
_PERSON_WORDS = {"recipient", "recipients", "to", "team", "assignee", "owner", "approver",
                 "user", "manager", "group", "contact", "email", "channel", "buddy", "mentor",
                 "reviewer", "employee", "person", "role", "attendees", "participants",
                 "members", "invitees"}  # fmt: skip
_ENTITY_PARAM_WORDS = {"service", "host", "server", "system", "app", "application", "target",
                       "resource", "container", "cluster"}  # fmt: skip
_CHANNEL_PARAM_WORDS = {"channel", "channels", "recipient", "recipients", "destination",
                        "target"}  # fmt: skip
_URGENCY = ("critical", "urgent", "immediately", "asap", "emergency", "severe", "p1")


def fill_params(
    action: Capability, intent: str, notes: list[str], variables: Sequence[str] = ()
) -> dict[str, Any]:
    """Values for the required parameters (and optional ones the intent names explicitly).

    A channel, team or severity the intent names goes into every parameter that can carry it
    (`rules/faithfulness_names.py`), optional ones included: "#db-alerts" into the recipient,
    "urgent" into an optional priority.
    """
    named = named_things(intent)
    params: dict[str, Any] = {}
    for p in action.params:
        explicit = _enum_named_in(p, intent)
        value = explicit
        if value is None and p.required:
            value = _value(p, action, intent, notes, variables)
        value = value_to_carry(p, named, value)
        if value is not None:
            params[p.name] = value
    return params


def _enum_named_in(p: ParamSpec, intent: str) -> Any:
    intent_words = set(tx.words(intent))
    for option in p.enum:
        option_words = tx.words(str(option))
        if option_words and all(w in intent_words for w in option_words):
            return option
    return None


def _value(
    p: ParamSpec, action: Capability, intent: str, notes: list[str], variables: Sequence[str]
) -> Any:
    name_words = set(tx.words(p.name))
    if p.enum:
        return _pick_enum(p, intent, notes, action)
    kind = p.type or "string"
    if kind == "string":
        return _string_value(p, name_words, intent, notes, action, variables)
    if kind in ("integer", "number"):
        return _number_value(p, name_words, intent, notes, action, integer=kind == "integer")
    if kind == "boolean":
        notes.append(f"{action.name}.{p.name} set to true")
        return True
    if kind == "array":
        if name_words & _PERSON_WORDS:
            return [_recipient(intent, notes, action, p)]
        notes.append(f"{action.name}.{p.name} left as an empty list")
        return []
    notes.append(f"{action.name}.{p.name} left as an empty object")
    return {}


def _pick_enum(p: ParamSpec, intent: str, notes: list[str], action: Capability) -> Any:
    lowered = intent.lower()
    options = list(p.enum)
    urgent = any(w in lowered for w in _URGENCY)
    by_text = {str(o).lower(): o for o in options}
    for preferred in (
        ("critical", "p1", "urgent", "highest") if urgent else ("high", "p2", "warning", "medium")
    ):
        if preferred in by_text:
            notes.append(f"{action.name}.{p.name} chosen as {by_text[preferred]!r}")
            return by_text[preferred]
    notes.append(f"{action.name}.{p.name} defaulted to {options[0]!r}")
    return options[0]


def _string_value(
    p: ParamSpec,
    name_words: set[str],
    intent: str,
    notes: list[str],
    action: Capability,
    variables: Sequence[str] = (),
) -> str:
    text = intent.strip()
    if name_words & _MESSAGE_WORDS and not name_words & _PERSON_WORDS:
        return text
    if name_words & _TITLE_WORDS and not name_words & _PERSON_WORDS:
        return text if len(text) <= 80 else text[:77] + "..."
    if name_words & _PERSON_WORDS or (p.raw_type == "email"):
        return _recipient(intent, notes, action, p)
    if name_words & _ENTITY_PARAM_WORDS:
        return _entity(intent, notes, action, p)
    if name_words & {"ip", "address"}:
        found = re.search(r"\b\d{1,3}(?:\.\d{1,3}){3}\b", intent)
        if found:
            return found.group()
        # The address comes from the event: refer to the catalogue variable that holds it.
        source = next((v for v in variables if "ip" in tx.words(v)), None)
        if source is not None:
            notes.append(f"{action.name}.{p.name} refers to the context variable {source}")
            return source
        notes.append(f"{action.name}.{p.name} left as 'unknown' (no address in the intent)")
        return "unknown"
    return text


def _recipient(intent: str, notes: list[str], action: Capability, p: ParamSpec) -> str:
    param_words = set(tx.words(p.name))
    found = _EMAIL.search(intent)
    if found and (p.raw_type == "email" or param_words & {"email", "to", "recipient", "contact"}):
        return found.group()
    channel = _CHANNEL.search(intent)
    if channel and param_words & _CHANNEL_PARAM_WORDS and p.raw_type != "email":
        return channel.group()  # "#db-alerts" is where the message goes: channel or recipient
    team = _TEAM.search(intent.lower())
    if team and team.group("name") in tx.STOPWORDS:
        team = None  # "the team": which team is not said
    if team and param_words & {"team", "group", "recipient", "recipients", "to", "assignee"}:
        name = team.group("name")
        return name if "team" in param_words else f"{name}-team"
    match = _RECIPIENT.search(_action_text(intent).lower())
    if match and param_words & {"recipient", "recipients", "to", "contact", "user", "person"}:
        who = match.group("who").strip()
        if who not in tx.STOPWORDS and not who.isdigit():
            return who.replace(" ", "-")
    if found:
        return found.group()
    # A person the intent does not name: say which role is meant rather than invent someone.
    role = next((w for w in tx.words(p.name) if w in _ROLE_WORDS), None)
    if role is None:
        role = next((w for w in tx.words(intent) if w in _ROLE_WORDS), None)
    if role is not None:
        notes.append(f"{action.name}.{p.name} set to the role {role!r} (no one named)")
        return role
    notes.append(f"{action.name}.{p.name} defaulted to 'on-call' (no recipient named)")
    return "on-call"


def _entity(intent: str, notes: list[str], action: Capability, p: ParamSpec) -> str:
    match = _ENTITY.search(intent.lower())
    if match and match.group("name") not in tx.STOPWORDS:
        return match.group("name")
    for word in tx.words(intent):
        if word in _ENTITY_WORDS:
            return word
    notes.append(f"{action.name}.{p.name} defaulted to 'default' (no service named)")
    return "default"


def _number_value(
    p: ParamSpec,
    name_words: set[str],
    intent: str,
    notes: list[str],
    action: Capability,
    *,
    integer: bool,
) -> int | float:
    unit = next(
        (u for words, u in (({"seconds", "second", "secs", "timeout", "delay"}, "s"),
                            ({"minutes", "minute", "mins", "min"}, "min"),
                            ({"hours", "hour"}, "h"), ({"days", "day"}, "d"))
         if name_words & words),
        None,
    )  # fmt: skip
    if unit is not None:
        found = tx.duration_in(_action_text(intent), unit)
        if found is not None:
            return found
        default = {"s": 300, "min": 30, "h": 24, "d": 1}[unit]
        notes.append(f"{action.name}.{p.name} defaulted to {default}")
        return default
    near = _number_near(_action_text(intent), name_words)
    if near is not None:
        return int(near) if integer else near
    notes.append(f"{action.name}.{p.name} defaulted to 1")
    return 1


def _number_near(text: str, name_words: set[str]) -> int | float | None:
    """A number written next to the parameter's name: "6 replicas", "quantity of 3"."""
    lowered = text.lower()
    for word in sorted(name_words):
        w = re.escape(word)
        pattern = rf"(\d[\d,]*(?:\.\d+)?)\s+{w}|{w}\s+(?:of\s+|to\s+)?(\d[\d,]*(?:\.\d+)?)"
        match = re.search(pattern, lowered)
        if match:
            return tx.number_value(match.group(1) or match.group(2))
    return None


# --- trigger ------------------------------------------------------------------------------


def choose_trigger(intent: str, catalogue: Catalogue, variables: tuple[str, ...]) -> str:
    if not catalogue.triggers:
        return "ON_WORKFLOW_START"
    wanted = tx.concepts(intent) + [tx.concept(w) for v in variables for w in tx.words(v)[:1]]

    def score(t: Capability) -> float:
        name = {tx.concept(w) for w in tx.words(t.name)} - _GENERIC_TRIGGER_WORDS
        desc = {tx.concept(w) for w in tx.words(t.description or "")} - _GENERIC_TRIGGER_WORDS
        return sum(2.0 if c in name else 0.5 if c in desc else 0.0 for c in wanted)

    ranked = sorted(catalogue.triggers, key=lambda t: (-score(t), t.name))
    if score(ranked[0]) > 0:
        return ranked[0].name
    for preferred in ("ON_WORKFLOW_START", "ON_EVENT"):
        if preferred in catalogue.trigger_names:
            return preferred
    return next((t.name for t in catalogue.triggers if "START" in t.name.upper()), ranked[0].name)
