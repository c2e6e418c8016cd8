"""Closures for binary tests (`==`, `>`, IN, CONTAINS, MATCHES, ... and their NOT forms).

A comparison against a constant is the commonest step of a real condition, so besides the
general closure there are specialised ones (a number against a number, a string against a
string, a string IN a list of strings) whose fast branch skips the language's coercion rules
where plain Python gives the same answer, and records its step from pieces formatted here.

`compile_compare` only decides which closure fits; each kind is built by its own `_build_*`
function from the pieces in `_Parts`. The builders copy what their closure uses into locals:
the closures then read closure cells, never attributes, and make no call that building them
all inside one function would have saved.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .closures import Compile, Fn, describe, literal_value
from .limits import MAX_VALUE_CHARS
from .nodes import Compare, compare_label
from .operations import BINARY_TESTS, BinaryTest, matcher_for
from .trace import Trace, operand_text, verdict, verdicts
from .values import MISSING, EvalError, format_value, parse_number, type_name

#: Integers strictly between ±this have at most MAX_VALUE_CHARS characters, sign included.
_SHORT_INT = 10 ** (MAX_VALUE_CHARS - 1)

#: `general(a, b) -> (outcome, result)`: the language's test on two evaluated operands, with
#: MISSING / EvalError operands and NOT forms handled; `outcome` feeds the step's note.
General = Callable[[Any, Any], tuple[Any, bool]]
#: `record(tracer, a, b, outcome, result)`: append the step of the general path.
Record = Callable[[Trace, Any, Any, Any, bool], None]


def _compare_note(left: Any, right: Any, outcome: Any) -> str:
    if left is MISSING or right is MISSING:
        return ""
    if type(left) is EvalError or type(right) is EvalError:
        return ""
    if type(outcome) is EvalError:
        return f" ({format_value(outcome)})"
    if outcome is None:
        return f" (type mismatch: {type_name(left)} vs {type_name(right)})"
    return ""


def _set_membership(items: Any) -> frozenset[str] | None:
    """For `x IN [constant strings]`: the set to look a string `x` up in."""
    if type(items) is list and items and all(type(item) is str for item in items):
        return frozenset(items)
    return None


_ORDER_FUNCS: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


def _fast_constant_test(op: str, constant: Any) -> tuple[bool, Callable[[Any, Any], bool]] | None:
    """For `x op constant`: (numeric?, compare) when plain Python `op` gives the language's
    answer for a number (numeric constant) or a string (string constant) operand."""
    compare = _ORDER_FUNCS.get(op)
    if compare is None:
        return None
    kind = type(constant)
    if kind is float or kind is int:
        return True, compare
    if kind is str and (op in ("==", "!=") or parse_number(constant) is None):
        return False, compare
    return None


def _binary_test(node: Compare, right_constant: bool, right_value: Any) -> BinaryTest:
    """The operator's test; MATCHES against a constant pattern gets it compiled once, here."""
    if node.op == "matches" and right_constant and type(right_value) is str:
        return matcher_for(right_value)
    return BINARY_TESTS[node.op]


def _build_general(test: BinaryTest, negated: bool) -> General:
    def general(a: Any, b: Any) -> tuple[Any, bool]:
        if a is MISSING or b is MISSING or type(a) is EvalError or type(b) is EvalError:
            return None, False
        outcome = test(a, b)
        if type(outcome) is not bool:
            return outcome, False
        return outcome, outcome is not negated

    return general


def _build_record(
    left_text: str, left_literal: bool, label: str, right_text: str, right_literal: bool
) -> Record:
    def record(tracer: Trace, a: Any, b: Any, outcome: Any, result: bool) -> None:
        tracer.append(
            f"{operand_text(left_text, left_literal, a)} {label} "
            f"{operand_text(right_text, right_literal, b)} → {verdict(result)}"
            f"{_compare_note(a, b, outcome)}"
        )

    return record


@dataclass(frozen=True, slots=True)
class _Parts:
    """What the closures of one comparison are built from (read at compile time only)."""

    left: Fn
    right: Fn
    #: The right operand's value, when it is a constant (`literal_value`); else None.
    constant: Any
    negated: bool
    general: General
    record: Record
    #: The fast closures' step is `head + value text + tails[result]`, e.g.
    #: "$metrics.cpu (" + "91.5" + ") > 80 → true".
    head: str
    tails: tuple[str, str]


def compile_compare(node: Compare, compile_node: Compile) -> Fn:
    left = compile_node(node.left)
    right = compile_node(node.right)
    right_constant, right_value = literal_value(node.right)
    test = _binary_test(node, right_constant, right_value)
    left_text, left_literal = describe(node.left)
    right_text, right_literal = describe(node.right)
    label = compare_label(node)
    parts = _Parts(
        left=left,
        right=right,
        constant=right_value,
        negated=node.negated,
        general=_build_general(test, node.negated),
        record=_build_record(left_text, left_literal, label, right_text, right_literal),
        head=f"{left_text} (",
        tails=verdicts(f") {label} {right_text} → "),
    )
    if not right_constant:
        return _build_compare(parts)
    # The fast closures show the left operand's value; a constant on the left too (`1 > 0`)
    # would show none, so such tests take the plain `compare_constant`.
    if not left_literal:
        fast = _fast_closure(node.op, parts)
        if fast is not None:
            return fast
    return _build_compare_constant(parts)


def _fast_closure(op: str, parts: _Parts) -> Fn | None:
    """A specialised closure for `value op constant`, when one applies."""
    if op == "in":
        strings = _set_membership(parts.constant)
        if strings is not None:
            return _build_in_strings(parts, strings)
    if parts.negated:
        return None
    fast = _fast_constant_test(op, parts.constant)
    if fast is None:
        return None
    numeric, compare = fast
    if numeric:
        return _build_compare_number(parts, compare)
    return _build_compare_string(parts, compare)


# The fast branches below record a step with no note (`head + value text + tails[result]`);
# any other value takes the general path, `general` then `record`.


def _build_in_strings(parts: _Parts, strings: frozenset[str]) -> Fn:
    left, negated, head, tails = parts.left, parts.negated, parts.head, parts.tails
    general, record, right_value = parts.general, parts.record, parts.constant

    def in_strings(context: Any, tracer: Trace | None) -> bool:
        a = left(context, tracer)
        if type(a) is str:
            result = (a in strings) is not negated
            if tracer is not None:
                if len(a) <= MAX_VALUE_CHARS:  # format_value of a short string: its repr
                    tracer.append(f"{head}{a!r}{tails[result]}")
                else:
                    tracer.append(head + format_value(a) + tails[result])
            return result
        outcome, result = general(a, right_value)
        if tracer is not None:
            record(tracer, a, right_value, outcome, result)
        return result

    return in_strings


def _build_compare_number(parts: _Parts, fast_compare: Callable[[Any, Any], bool]) -> Fn:
    left, head, tails = parts.left, parts.head, parts.tails
    general, record, right_value = parts.general, parts.record, parts.constant

    def compare_number(context: Any, tracer: Trace | None) -> bool:
        a = left(context, tracer)
        kind = type(a)
        if kind is float or kind is int:
            result: bool = fast_compare(a, right_value)
            if tracer is not None:
                # format_value of a float, or of an int short enough not to be clipped,
                # is its repr
                if kind is float or -_SHORT_INT < a < _SHORT_INT:
                    tracer.append(f"{head}{a!r}{tails[result]}")
                else:
                    tracer.append(head + format_value(a) + tails[result])
            return result
        outcome, result = general(a, right_value)
        if tracer is not None:
            record(tracer, a, right_value, outcome, result)
        return result

    return compare_number


def _build_compare_string(parts: _Parts, fast_compare: Callable[[Any, Any], bool]) -> Fn:
    left, head, tails = parts.left, parts.head, parts.tails
    general, record, right_value = parts.general, parts.record, parts.constant

    def compare_string(context: Any, tracer: Trace | None) -> bool:
        a = left(context, tracer)
        if type(a) is str:
            result: bool = fast_compare(a, right_value)
            if tracer is not None:
                if len(a) <= MAX_VALUE_CHARS:  # format_value of a short string: its repr
                    tracer.append(f"{head}{a!r}{tails[result]}")
                else:
                    tracer.append(head + format_value(a) + tails[result])
            return result
        outcome, result = general(a, right_value)
        if tracer is not None:
            record(tracer, a, right_value, outcome, result)
        return result

    return compare_string


def _build_compare_constant(parts: _Parts) -> Fn:
    left, general, record, right_value = parts.left, parts.general, parts.record, parts.constant

    def compare_constant(context: Any, tracer: Trace | None) -> bool:
        a = left(context, tracer)
        outcome, result = general(a, right_value)
        if tracer is not None:
            record(tracer, a, right_value, outcome, result)
        return result

    return compare_constant


def _build_compare(parts: _Parts) -> Fn:
    left, right, general, record = parts.left, parts.right, parts.general, parts.record

    def compare(context: Any, tracer: Trace | None) -> bool:
        a = left(context, tracer)
        b = right(context, tracer)
        outcome, result = general(a, b)
        if tracer is not None:
            record(tracer, a, b, outcome, result)
        return result

    return compare
