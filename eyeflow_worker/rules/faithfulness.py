"""Are the rules faithful to the intent? A deterministic check, run after the catalogue checks.

`check_faithfulness(intent, rules, catalogue)` returns precise, repairable error strings (they
go back to the model verbatim in a repair turn), each naming the place:

* **Thresholds** (what counts as one: `faithfulness_intent`). Each must appear in a condition,
  compared with a variable in the intent's direction — up ("exceeds", "above", "at least"…)
  is `>`/`>=`, down ("below", "under", "at most"…) is `<`/`<=`, with the variable on either
  side — and in the variable's unit: 85% is 85 against a percent variable and 0.85 against a
  fraction variable, 10 GB is 10240 or 10000 against an MB variable, 2 minutes is 120 against
  a seconds variable. The unit of a variable is the one the catalogue states, else the one its
  name ends with (`_percent`, `_pct`, `_fraction`, `_ms`, `_seconds`, `_minutes`, `_hours`,
  `_days`, `_kb`, `_mb`, `_gb`, `_tb`; see `faithfulness_units`). Conditions are parsed with
  the condition language, never pattern-matched: `NOT ($x < 85)` reads as `$x >= 85`.
* **Named channels, teams and severities** ("slack", "#db-alerts", "the dba team", on-call,
  "critical", "P1") must appear in the params of an action that can carry them: a param whose
  enum lists the value (`channel: [email, slack, sms]`, `priority: [P1…P4]`), a free-form
  param of that kind (`channel`/`recipient` for "#names", `team`/`recipient`/`assignee` for
  teams, `severity`/`priority`/`level` for severities), or, for channels and teams, an action
  named after it (`POST_SLACK_MESSAGE`, `SEND_EMAIL`, `NOTIFY_FINANCE`).

Where it cannot decide, it says nothing: a variable of unknown unit accepts every reading of
the intent's number; a rule with an `else` branch accepts either direction; the complement of
a share ("usage above 80%" as `$free_percent < 20`) is accepted; a threshold that is absent
from the conditions is not reported when a condition does not parse, when the number appears
in an action (`replicas: 3`, a retry count), when the catalogue has no numeric variable, or —
for durations, which are often time windows — when no variable of the catalogue is measured in
time. A channel is required only when the catalogue has an action that can carry it; a team or
a severity only when the rules use such an action (which action to use is not this check's
question).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from eyeflow_worker.conditions import ConditionError, parse
from eyeflow_worker.conditions.nodes import (
    And,
    Compare,
    Literal,
    Negate,
    Node,
    Not,
    Or,
    Variable,
    iter_variables,
    to_source,
    walk,
)
from eyeflow_worker.core.catalogue_model import Catalogue
from eyeflow_worker.core.workflow_rules import Action, FallbackAction, WorkflowRules
from eyeflow_worker.rules.faithfulness_intent import UP, Threshold, read_intent
from eyeflow_worker.rules.faithfulness_names import named_errors
from eyeflow_worker.rules.faithfulness_units import (
    Unit,
    contains,
    convert,
    describe_unit,
    every_reading,
    show_number,
    variable_unit,
)

_FLIPPED = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "==": "==", "!=": "!="}
_NEGATED = {">": "<=", ">=": "<", "<": ">=", "<=": ">", "==": "!=", "!=": "=="}
_ALLOWED = {UP: frozenset({">", ">="}), "down": frozenset({"<", "<="})}
_FIX = {UP: "use > or >=", "down": "use < or <="}


def check_faithfulness(intent: str, rules: WorkflowRules, catalogue: Catalogue) -> list[str]:
    """Every way `rules` departs from what `intent` says (empty: faithful, or undecidable)."""
    facts = read_intent(intent)
    errors: list[str] = []
    if facts.thresholds:
        conditions = _read_conditions(rules)
        for threshold in facts.thresholds:
            error = _threshold_error(threshold, conditions, rules, catalogue)
            if error is not None and error not in errors:
                errors.append(error)
    errors.extend(named_errors(facts.named, rules, catalogue))
    return errors


# --- the conditions, as comparisons -------------------------------------------------------


@dataclass(frozen=True)
class _Comparison:
    rule: int
    subject: str  # the compared expression, as condition text: "$metrics.cpu_percent"
    variable: str | None  # the subject when it is a plain variable
    op: str  # with the subject on the left and any NOT applied
    value: float
    either_way: bool  # the rule has an `else` branch: both directions can be faithful


@dataclass(frozen=True)
class _Conditions:
    comparisons: tuple[_Comparison, ...]
    numbers: tuple[float, ...]  # every number in the conditions and in the actions
    complete: bool  # every condition parsed


def _read_conditions(rules: WorkflowRules) -> _Conditions:
    comparisons: list[_Comparison] = []
    numbers: list[float] = []
    complete = True
    for i, rule in enumerate(rules.rules):
        try:
            tree = parse(rule.condition)
        except ConditionError:
            complete = False  # reported by the condition layer; nothing to read here
            continue
        comparisons.extend(_comparisons(tree, i, either_way=bool(rule.else_)))
        numbers.extend(n for n in map(_number, walk(tree)) if n is not None)
        for action in _rule_actions(rule.then, rule.else_ or []):
            numbers.extend(_numbers_in(action.model_dump(mode="json")))
    return _Conditions(tuple(comparisons), tuple(numbers), complete)


def _rule_actions(*branches: list[Action]) -> Iterator[Action | FallbackAction]:
    for actions in branches:
        for action in actions:
            yield action
            if action.on_failure is not None:
                yield from action.on_failure.actions


def _comparisons(tree: Node, rule: int, *, either_way: bool) -> Iterator[_Comparison]:
    stack: list[tuple[Node, bool]] = [(tree, False)]
    while stack:
        node, negated = stack.pop()
        if isinstance(node, Not):
            stack.append((node.operand, not negated))
        elif isinstance(node, And | Or):
            stack.extend((operand, negated) for operand in reversed(node.operands))
        elif isinstance(node, Compare) and node.op in _FLIPPED and not node.negated:
            found = _comparison(node, negated, rule, either_way)
            if found is not None:
                yield found


def _comparison(node: Compare, negated: bool, rule: int, either_way: bool) -> _Comparison | None:
    right, left = _number(node.right), _number(node.left)
    if right is not None and left is None and iter_variables(node.left):
        subject, value, op = node.left, right, node.op
    elif left is not None and right is None and iter_variables(node.right):
        subject, value, op = node.right, left, _FLIPPED[node.op]
    else:
        return None
    variable = subject.source if isinstance(subject, Variable) else None
    op = _NEGATED[op] if negated else op
    return _Comparison(rule, to_source(subject), variable, op, value, either_way)


def _number(node: Node) -> float | None:
    sign = 1.0
    if isinstance(node, Negate):
        node, sign = node.operand, -1.0
    value = node.value if isinstance(node, Literal) else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return sign * float(value)
    return None


def _numbers_in(value: Any) -> Iterator[float]:
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield float(value)
    elif isinstance(value, str):
        try:
            yield float(value.strip().rstrip("%").replace(",", ""))
        except ValueError:
            return
    elif isinstance(value, dict):
        for item in value.values():
            yield from _numbers_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _numbers_in(item)


# --- thresholds ---------------------------------------------------------------------------


def _threshold_error(
    t: Threshold, conditions: _Conditions, rules: WorkflowRules, catalogue: Catalogue
) -> str | None:
    units = [(c, variable_unit(c.variable, catalogue) if c.variable else None) for c in
             conditions.comparisons]  # fmt: skip
    same_value = [c for c, unit in units if contains(_accepted(t, unit), c.value)]
    if any(_direction_ok(t, c) for c in same_value):
        return None
    if same_value:
        c = same_value[0]
        return (
            f"rules[{c.rule}].condition: the intent says {_quote(t.said)} but the condition"
            f" compares {c.subject} {c.op} {show_number(c.value)} ({_FIX[t.direction]})"
        )
    if any(_complement_ok(t, c, unit) for c, unit in units):
        return None
    for c, unit in units:
        message = _unit_error(t, c, unit)
        if message is not None:
            return message
    if _present(t, conditions.numbers) or not conditions.complete:
        return None
    if not _could_be_compared(t, catalogue):
        return None
    where = "rules[0].condition" if len(rules.rules) == 1 else "rules[*].condition"
    return (
        f"{where}: the intent's threshold {t.amount} is missing from the conditions"
        f" (the intent says {_quote(t.said)})"
    )


def _accepted(t: Threshold, unit: Unit | None) -> tuple[float, ...]:
    """The numbers a faithful comparison of a variable measured in `unit` would use."""
    if t.unit is None:
        if unit is None or unit.family == "share":
            return (t.value, t.value * 100, t.value / 100)  # unitless intent: cannot decide
        return (t.value,)
    if unit is None or unit.family != t.unit.family:
        return every_reading(t.value, t.unit)
    return convert(t.value, t.unit, unit)


def _direction_ok(t: Threshold, c: _Comparison) -> bool:
    return c.either_way or c.op in _ALLOWED[t.direction]


def _complement_ok(t: Threshold, c: _Comparison, unit: Unit | None) -> bool:
    """ "Usage above 80%" written as "free below 20%": the other side of the same share."""
    if t.unit is None or t.unit.family != "share" or (unit is not None and unit.family != "share"):
        return False
    percent = t.value if t.unit.name == "percent" else t.value * 100
    values = {"percent": (100 - percent,), "fraction": (1 - percent / 100,)}
    candidates = values[unit.name] if unit is not None else (100 - percent, 1 - percent / 100)
    opposite = "down" if t.direction == UP else UP
    return contains(candidates, c.value) and (c.either_way or c.op in _ALLOWED[opposite])


def _unit_error(t: Threshold, c: _Comparison, unit: Unit | None) -> str | None:
    """The intent's number written in another unit than the variable's."""
    if t.unit is None or unit is None or unit.family != t.unit.family or c.variable is None:
        return None
    if not contains(every_reading(t.value, t.unit), c.value):
        return None
    right = " or ".join(show_number(v) for v in convert(t.value, t.unit, unit))
    message = (
        f"rules[{c.rule}].condition: {c.variable} is {describe_unit(unit)}; the intent's"
        f" {t.amount} is {right}, not {show_number(c.value)}"
    )
    if not _direction_ok(t, c):
        message += f" (and the intent says {_quote(t.said)}: {_FIX[t.direction]})"
    return message


def _present(t: Threshold, numbers: tuple[float, ...]) -> bool:
    readings = set(every_reading(t.value, t.unit)) | set(_accepted(t, None))
    return any(contains(numbers, r) for r in readings)


def _could_be_compared(t: Threshold, catalogue: Catalogue) -> bool:
    """Whether the catalogue has a variable this threshold could be compared with at all."""
    if not catalogue.variables:
        return True  # nothing declared: any variable may exist
    numeric = [v for v in catalogue.variables if v.type in (None, "number", "integer")]
    if not numeric:
        return False
    if t.unit is not None and t.unit.family == "time":
        units = (variable_unit(v.name, catalogue) for v in numeric)
        return any(u is not None and u.family == "time" for u in units)
    return True


def _quote(text: str) -> str:
    return '"' + text.replace('"', "'") + '"'
