"""Derive a condition expression from an intent's wording (offline drafter only).

Recognises comparisons ("exceeds 85%", "above 80", "below 10", "more than 5 failed logins",
"5 or more", "equals 3"), status phrases ("is down", "goes offline") and enum values named in
the text ("a contractor joins" → `$employee.type == "contractor"`), and maps the words around
them to a catalogue variable. When nothing can be recognised it says so instead of guessing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from eyeflow_worker.core.catalogue_model import Capability, Catalogue
from eyeflow_worker.offline import text as tx
from eyeflow_worker.rules.faithfulness_units import convert, parse_unit, variable_unit

# (operator, phrases), longest phrases first so "greater than or equal to" beats "greater than".
_COMPARATORS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (">=", ("greater than or equal to", "more than or equal to", "higher than or equal to",
            "at least", "no less than", "no fewer than", "not less than", "not fewer than",
            "not below", "not under", "reaches", "reach", "hits", ">=")),
    ("<=", ("less than or equal to", "lower than or equal to", "at most", "no more than",
            "not more than", "no greater than", "not greater than", "no higher than",
            "not higher than", "not above", "not over", "does not exceed", "doesn't exceed",
            "<=")),
    ("!=", ("not equal to", "does not equal", "!=")),
    ("==", ("is exactly", "equal to", "equals", "equal", "==")),
    (">", ("goes above", "rises above", "climbs above", "is above", "greater than", "more than",
           "higher than", "larger than", "bigger than", "longer than", "older than",
           "in excess of", "exceeding", "exceeded",
           "exceeds", "exceed", "surpasses", "tops", "above", "over", ">")),
    ("<", ("drops below", "falls below", "goes below", "dips below", "is below", "less than",
           "lower than", "fewer than", "smaller than", "shorter than", "younger than", "below",
           "under", "beneath", "<")),
)  # fmt: skip
_PHRASE_TO_OP = {p: op for op, phrases in _COMPARATORS for p in phrases}
_OP_RE = "|".join(re.escape(p) for p in sorted(_PHRASE_TO_OP, key=len, reverse=True))
_COMPARISON = re.compile(rf"(?<![\w])(?P<op>{_OP_RE})\s+(?:of\s+|than\s+|to\s+)?{tx._NUMBER}")
_POSTFIX = re.compile(
    rf"{tx._NUMBER}\s+(?:or|and)\s+(?P<post>more|greater|higher|above|over|up|larger|bigger"
    r"|longer|older|fewer|less|lower|below|under|smaller|shorter)\b"
)
_POSTFIX_UP = frozenset(
    {"more", "greater", "higher", "above", "over", "up", "larger", "bigger", "longer", "older"}
)
_STATUS = re.compile(
    r"\b(?:is|are|goes|go|went|becomes|become|gets|turns|is marked)\s+"
    r"(?P<state>down|offline|unreachable|unavailable|degraded|up|online|failed|failing|healthy|unhealthy)\b"
)
_OP_WORDS = {
    ">": "above",
    ">=": "at-least",
    "<": "below",
    "<=": "at-most",
    "==": "equals",
    "!=": "not",
}


@dataclass(frozen=True)
class DraftedCondition:
    expression: str
    explanation: str
    variables: tuple[str, ...]
    name_hint: str  # for the rule name
    recognised: bool  # False: the generic fallback


def draft_condition(intent: str, catalogue: Catalogue) -> DraftedCondition:
    lowered = intent.lower()
    parts: list[tuple[str, str, str]] = []  # (expression, explanation, variable)
    notes: list[str] = []
    for op, num, unit, start, end in _comparisons(lowered):
        context = _context_words(lowered, start, end, unit)
        var = _best_variable(context, catalogue, numeric=True)
        if var is None:
            notes.append(f"no catalogue variable matches {lowered[start:end].strip()!r}")
            continue
        literal = json.dumps(_in_unit_of(var, num, unit, catalogue))
        parts.append((f"{var} {op} {literal}", f"{var} {op} {literal}", var))
    for m in _STATUS.finditer(lowered):
        found = _status_part(
            m.group("state"), _context_words(lowered, m.start(), m.end(), None), catalogue
        )
        if found is not None:
            parts.append(found)
    if not parts:
        found = _enum_part(lowered, catalogue)
        if found is not None:
            parts.append(found)
    if not parts:
        why = "; ".join(notes) or "no measurable condition was recognised in the intent"
        return DraftedCondition(
            "true",
            f"Runs every time the trigger fires (condition `true`): {why}. Edit the condition "
            "if the rule should only run in some cases.",
            (),
            "on-trigger",
            recognised=False,
        )
    joiner = (
        " OR "
        if re.search(r"\bor\b", lowered) and len(parts) > 1 and " and " not in lowered
        else " AND "
    )
    unique = list(dict.fromkeys(parts))
    expression = joiner.join(p[0] for p in unique)
    first_var = unique[0][2]
    hint = tx.slug(first_var.split(".")[-1], max_words=4)
    op_match = re.search(r" (>=|<=|==|!=|>|<) (\S+)$", unique[0][0])
    if op_match:
        hint += f"-{_OP_WORDS[op_match.group(1)]}-{tx.slug(op_match.group(2), max_words=2)}"
    explanation = f"Condition derived from the intent's wording: {expression}."
    if notes:
        explanation += " Not mapped: " + "; ".join(notes) + "."
    return DraftedCondition(expression, explanation, tuple(p[2] for p in unique), hint, True)


def _comparisons(text: str) -> list[tuple[str, int | float, str | None, int, int]]:
    found: list[tuple[str, int | float, str | None, int, int]] = []
    for m in _COMPARISON.finditer(text):
        q = tx.quantity(m)
        found.append((_PHRASE_TO_OP[m.group("op")], q.value, q.unit, m.start(), m.end()))
    for m in _POSTFIX.finditer(text):
        q = tx.quantity(m)
        op = ">=" if m.group("post") in _POSTFIX_UP else "<="
        found.append((op, q.value, q.unit, m.start(), m.end()))
    return sorted(found, key=lambda f: f[3])


def _in_unit_of(
    var: str, value: int | float, unit: str | None, catalogue: Catalogue
) -> int | float:
    """The intent's amount in the unit `var` is measured in: 85% against a fraction is 0.85,
    10 GB against an MB variable 10240, 2 seconds against an ms variable 2000."""
    source, target = parse_unit(unit), variable_unit(var, catalogue)
    if source is None or target is None or source.family != target.family:
        return value
    converted = round(convert(float(value), source, target)[0], 9)
    return int(converted) if converted.is_integer() else converted


def _context_words(text: str, start: int, end: int, unit: str | None) -> list[str]:
    """Concepts just before the comparison ("database memory") and just after ("failed logins")."""
    before = [w for w in tx.words(text[:start]) if w not in tx.STOPWORDS][-4:]
    after: list[str] = []
    for w in tx.words(text[end:])[:5]:
        if w in tx.STOPWORDS or w in ("then", "notify", "alert"):
            break
        after.append(w)
    found = [tx.concept(w) for w in before + after[:3]]
    if unit == "%":
        found.append("percent")
    elif unit == "ms":
        found.append("latency")
    return found


def _variable_words(var: Capability) -> tuple[list[str], list[str]]:
    name = [tx.concept(w) for w in tx.words(var.name) if w not in tx.STOPWORDS]
    desc = [tx.concept(w) for w in tx.words(var.description or "") if w not in tx.STOPWORDS]
    return name, desc


def _best_variable(context: list[str], catalogue: Catalogue, *, numeric: bool) -> str | None:
    if not catalogue.variables:
        # Nothing declared: name the variable after the words, under a neutral root.
        kept = [c for c in context if c not in ("percent",)]
        return f"$event.{'_'.join(kept[-3:])}" if kept else None
    best: tuple[float, str] | None = None
    for var in catalogue.variables:
        if numeric and var.type not in (None, "number", "integer"):
            continue
        name, desc = _variable_words(var)
        # Words later in the context (nearer the number) weigh a little more: in "database
        # memory exceeds 85%" the metric is "memory" of the "database".
        score = 0.0
        for pos, c in enumerate(context):
            weight = 1.0 + pos / 10
            if c in name:
                score += 2 * weight
            elif c in desc:
                score += weight
        # Prefer the variable whose name is mostly explained by the context (db_memory over memory).
        score -= 0.1 * len([w for w in name if w not in context])
        if score > 0.5 and (best is None or score > best[0]):
            best = (score, var.name)
    return best[1] if best else None


_STATE_SYNONYMS = {
    "down": ("down", "offline", "unreachable", "unavailable", "failed", "unhealthy"),
    "up": ("up", "online", "healthy", "running"),
    "degraded": ("degraded",),
}


def _status_part(
    state: str, context: list[str], catalogue: Catalogue
) -> tuple[str, str, str] | None:
    canonical = next((k for k, v in _STATE_SYNONYMS.items() if state in v), state)
    candidates = [v for v in catalogue.variables if v.type in (None, "string")]
    status_vars = [v for v in candidates if {"status", "state", "health"} & set(tx.words(v.name))]
    if not catalogue.variables:
        var_name = "$service.status"
        value = canonical
    elif status_vars:
        scored = sorted(status_vars, key=lambda v: -tx.overlap(_variable_words(v)[0], context))
        chosen = scored[0]
        var_name = chosen.name
        options = [str(e) for e in chosen.enum]
        value = next(
            (
                o
                for o in options
                if o.lower() == state or o.lower() in _STATE_SYNONYMS.get(canonical, ())
            ),
            options[0] if options and canonical not in options else canonical,
        )
        if options and value not in options:
            return None
    else:
        return None
    literal = json.dumps(value)
    return f"{var_name} == {literal}", f"{var_name} == {literal}", var_name


def _enum_part(text: str, catalogue: Catalogue) -> tuple[str, str, str] | None:
    """A declared enum value named in the intent, e.g. "contractor" → `$employee.type == ...`."""
    intent_words = set(tx.words(text)) | {tx.stem(w) for w in tx.words(text)}
    for var in catalogue.variables:
        for option in var.enum:
            option_words = tx.words(str(option))
            if option_words and all(
                w in intent_words or tx.stem(w) in intent_words for w in option_words
            ):
                literal = json.dumps(option)
                return f"{var.name} == {literal}", f"{var.name} == {literal}", var.name
    return None
