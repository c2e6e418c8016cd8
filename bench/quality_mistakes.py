"""The mistakes the scripted model makes, and where they go (seeded).

Each mistake is a pure edit of the correct rules document. Kinds and their slot (an intent
gets at most one mistake per slot, so two mistakes never fight over the same field):

    condition  wrong_direction   first comparison flipped (`<` for "exceeds")
               wrong_unit        literal not converted to the variable's unit (85 for a
                                 fraction, 2 for "2 GB" in an MB variable, 10 for "10 minutes"
                                 in a seconds variable); only intents with `unit_slip`
               dropped_threshold last conjunct of a compound condition left out
               invented_variable first variable renamed to a plausible one the catalogue lacks
    action     unknown_action    first action renamed (SEND_* <-> POST_*, CREATE_* <-> OPEN_*…)
               missing_param     a required parameter of the first action left out
               generic_value     a channel/team/severity/priority/level named in the intent
                                 replaced by a generic value ("#general", "on-call", another
                                 enum value)
    shape      wrong_key         the rules list under "steps" instead of "rules"
    wrapper    prose / fence     the JSON in a sentence, or in a ```json fence (orthogonal:
                                 the extractor should cope, so it is not counted as a mistake)

Plan (per intent, `random.Random(seed)` over the intents in file order): 30% no mistake,
50% one mistake, 20% two (different slots); kinds are drawn uniformly among those applicable
to the intent, weighted (`WEIGHTS`) so that the kinds applicable to few intents (units,
compound conditions) still show up; 25% of all answers get a wrapper.
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Doc = dict[str, Any]

SEMANTIC = ("wrong_direction", "wrong_unit", "dropped_threshold", "generic_value")
SLOTS: dict[str, str] = {
    "wrong_direction": "condition",
    "wrong_unit": "condition",
    "dropped_threshold": "condition",
    "invented_variable": "condition",
    "unknown_action": "action",
    "missing_param": "action",
    "generic_value": "action",
    "wrong_key": "shape",
}
# Words by which a repair message points at a slot, when it names no exact token.
SLOT_WORDS: dict[str, tuple[str, ...]] = {
    "condition": ("condition", "threshold", "direction", "unit", "compar", "operator", "variable"),
    "action": ("then[", "action", "param", "channel", "team", "severity", "priority", "queue"),
    "shape": ("rules", "unknown field", "steps"),
}
# Draw weights: the kinds that apply to few intents weigh more, so each kind shows up.
WEIGHTS = {"wrong_direction": 3, "wrong_unit": 8, "dropped_threshold": 8, "invented_variable": 1,
           "unknown_action": 1, "missing_param": 1, "generic_value": 2, "wrong_key": 1}  # fmt: skip
_FLIP = {">": "<", ">=": "<=", "<": ">", "<=": ">="}
_COMPARISON = re.compile(r"(>=|<=|>|<)")
_VARIABLE = re.compile(r"\$[\w.]+")
_JOINER = re.compile(r"\s+(AND|OR)\s+")
# The parameters that carry a channel, team or severity named in the intent — the
# faithfulness check's documented scope (not e-mail addresses, queues, tiers or roles).
_NAMED_PARAMS = ("channel", "team", "recipient", "severity", "priority", "level")
_VERB_SWAPS = {"SEND": "POST", "POST": "SEND", "CREATE": "OPEN", "OPEN": "CREATE",
               "NOTIFY": "ALERT", "ALERT": "NOTIFY", "PAGE": "NOTIFY",
               "REQUEST": "ASK"}  # fmt: skip
_WORD_SWAPS = {"percent": "pct", "count": "total", "ms": "millis", "gb": "gigabytes",
               "minutes": "mins", "hours": "hrs", "days": "d", "score": "rating"}  # fmt: skip


@dataclass(frozen=True)
class Mistake:
    kind: str
    tokens: tuple[str, ...]  # what a repair message naming this mistake is likely to contain
    edit: Callable[[Doc], None]  # applied in place to a copy of the correct document

    @property
    def slot(self) -> str:
        return SLOTS[self.kind]


@dataclass(frozen=True)
class Plan:
    mistakes: tuple[Mistake, ...]
    wrapper: str | None  # None, "prose" or "fence"


def render(gold: Doc, mistakes: tuple[Mistake, ...]) -> Doc:
    doc = copy.deepcopy(gold)
    for m in sorted(mistakes, key=lambda m: m.kind == "wrong_key"):  # renaming "rules" last
        m.edit(doc)
    return doc


# --- the kinds ----------------------------------------------------------------------------


def _set_condition(new: str) -> Callable[[Doc], None]:
    def edit(doc: Doc) -> None:
        doc["rules"][0]["condition"] = new

    return edit


def wrong_direction(gold: Doc) -> Mistake | None:
    cond: str = gold["rules"][0]["condition"]
    m = _COMPARISON.search(cond)
    if m is None:
        return None
    flipped = cond[: m.start()] + _FLIP[m.group()] + cond[m.end() :]
    var = _VARIABLE.findall(cond[: m.start()])[-1:]
    return Mistake("wrong_direction", (*var, _FLIP[m.group()]), _set_condition(flipped))


def wrong_unit(gold: Doc, slip: tuple[tuple[str, str], ...]) -> Mistake | None:
    if not slip:
        return None
    cond: str = gold["rules"][0]["condition"]
    for right, wrong in slip:
        cond = re.sub(rf"(?<![\w.]){re.escape(right)}(?![\w.])", wrong, cond)
    return Mistake("wrong_unit", tuple(w for _, w in slip), _set_condition(cond))


def dropped_threshold(gold: Doc) -> Mistake | None:
    cond: str = gold["rules"][0]["condition"]
    parts = _JOINER.split(cond)  # [part, joiner, part, ...]
    if len(parts) < 3 or not _COMPARISON.search(parts[-1]):
        return None
    kept = "".join(f" {p} " if p in ("AND", "OR") else p for p in parts[:-2])
    return Mistake("dropped_threshold", tuple(_VARIABLE.findall(parts[-1])), _set_condition(kept))


def invented_variable(gold: Doc, known: set[str]) -> Mistake | None:
    cond: str = gold["rules"][0]["condition"]
    found = _VARIABLE.findall(cond)
    if not found:
        return None
    var = found[0]
    *root, leaf = var.split(".")
    words = leaf.split("_")
    words = [_WORD_SWAPS.get(w, w) for w in words]
    new = ".".join([*root, "_".join(words) if words != leaf.split("_") else leaf + "_value"])
    if new in known:
        new += "_now"
    return Mistake("invented_variable", (new,), _set_condition(cond.replace(var, new, 1)))


def unknown_action(gold: Doc, actions: set[str]) -> Mistake:
    name: str = gold["rules"][0]["then"][0]["action"]
    verb, _, rest = name.partition("_")
    new = f"{_VERB_SWAPS[verb]}_{rest}" if verb in _VERB_SWAPS and rest else f"DO_{name}"
    if new in actions:
        new += "_NOW"

    def edit(doc: Doc) -> None:
        doc["rules"][0]["then"][0]["action"] = new

    return Mistake("unknown_action", (new,), edit)


def missing_param(gold: Doc, required: Mapping[str, list[str]]) -> Mistake | None:
    first = gold["rules"][0]["then"][0]
    names = [p for p in required.get(first["action"], []) if p in first["params"]]
    if not names:
        return None
    name = names[-1]

    def edit(doc: Doc) -> None:
        doc["rules"][0]["then"][0]["params"].pop(name, None)

    return Mistake("missing_param", (f"params.{name}",), edit)


def _generic(param: str, value: str, enum: list[str]) -> str:
    others = [e for e in enum if e != value]
    if others:
        return others[0]
    return {"channel": "#general", "team": "on-call", "recipient": "on-call"}.get(param, "default")


def generic_value(gold: Doc, intent: str, enums: Mapping[str, list[str]]) -> Mistake | None:
    first = gold["rules"][0]["then"][0]
    lowered = intent.lower()
    for param in _NAMED_PARAMS:
        value = first["params"].get(param)
        if isinstance(value, str) and value and value.lower() in lowered:
            new = _generic(param, value, enums.get(f"{first['action']}.{param}", []))

            def edit(doc: Doc, param: str = param, new: str = new) -> None:
                doc["rules"][0]["then"][0]["params"][param] = new

            return Mistake("generic_value", (f"params.{param}", value), edit)
    return None


def _wrong_key(doc: Doc) -> None:
    doc["steps"] = doc.pop("rules")


WRONG_KEY = Mistake("wrong_key", ("steps", "rules: required"), _wrong_key)


# --- the plan -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogueFacts:
    """What the mistakes need to know about a catalogue (from `expected.json`)."""

    actions: set[str]
    variables: set[str]
    required: dict[str, list[str]]
    enums: dict[str, list[str]]


def applicable(
    gold: Doc, intent: str, slip: tuple[tuple[str, str], ...], facts: CatalogueFacts
) -> list[Mistake]:
    found = [
        wrong_direction(gold),
        wrong_unit(gold, slip),
        dropped_threshold(gold),
        invented_variable(gold, facts.variables),
        unknown_action(gold, facts.actions),
        missing_param(gold, facts.required),
        generic_value(gold, intent, facts.enums),
        WRONG_KEY,
    ]
    return [m for m in found if m is not None]


def plan(rng: random.Random, options: list[Mistake]) -> Plan:
    roll = rng.random()
    count = 0 if roll < 0.30 else 1 if roll < 0.80 else 2
    chosen: list[Mistake] = []
    for _ in range(count):
        free = [m for m in options if m.slot not in {c.slot for c in chosen}]
        kinds = sorted({m.kind for m in free})
        if not kinds:
            break
        kind = rng.choices(kinds, weights=[WEIGHTS[k] for k in kinds])[0]
        chosen.append(next(m for m in free if m.kind == kind))
    wrap = rng.random()
    wrapper = "prose" if wrap < 0.125 else "fence" if wrap < 0.25 else None
    return Plan(tuple(chosen), wrapper)
