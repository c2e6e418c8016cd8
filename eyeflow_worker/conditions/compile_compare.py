"""Closures for binary tests (`==`, `>`, IN, CONTAINS, MATCHES, ... and their NOT forms).

A comparison against a constant is the commonest step of a real condition, so besides the
general closure there are specialised ones (a number against a number, a string against a
string, a string IN a list of strings) whose fast branch skips the language's coercion rules
where plain Python gives the same answer, and records its step from pieces formatted here.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from .closures import Compile, Fn, describe, literal_value
from .limits import MAX_VALUE_CHARS
from .nodes import COMPARISONS, Compare
from .operations import BINARY_TESTS, BinaryTest, matcher_for
from .trace import Trace, operand_text, verdict, verdicts
from .values import MISSING, EvalError, format_value, parse_number, type_name

#: Integers strictly between ±this have at most MAX_VALUE_CHARS characters, sign included.
_SHORT_INT = 10 ** (MAX_VALUE_CHARS - 1)


def _op_label(node: Compare) -> str:
    label = node.op if node.op in COMPARISONS else node.op.upper()
    return "NOT " + label if node.negated else label


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


def compile_compare(node: Compare, compile_node: Compile) -> Fn:
    left = compile_node(node.left)
    right = compile_node(node.right)
    right_constant, right_value = literal_value(node.right)
    test: BinaryTest = BINARY_TESTS[node.op]
    if node.op == "matches" and right_constant and type(right_value) is str:
        test = matcher_for(right_value)
    negated = node.negated
    left_text, left_literal = describe(node.left)
    right_text, right_literal = describe(node.right)
    label = _op_label(node)

    def record(tracer: Trace, a: Any, b: Any, outcome: Any, result: bool) -> None:
        tracer.append(
            f"{operand_text(left_text, left_literal, a)} {label} "
            f"{operand_text(right_text, right_literal, b)} → {verdict(result)}"
            f"{_compare_note(a, b, outcome)}"
        )

    def general(a: Any, b: Any) -> tuple[Any, bool]:
        if a is MISSING or b is MISSING or type(a) is EvalError or type(b) is EvalError:
            return None, False
        outcome = test(a, b)
        if type(outcome) is not bool:
            return outcome, False
        return outcome, outcome is not negated

    # The fast closures below all compare a value against a constant shown as written
    # ("$metrics.cpu (91.5) > 80 → true"); when their fast branch is taken the step has no note,
    # so it is `head + value text + tails[result]`. A constant on the left too (`1 > 0`) would
    # show no value: such tests take the general closures.
    fast_ok = right_constant and not left_literal
    head = f"{left_text} ("
    tails = verdicts(f") {label} {right_text} → ")

    strings = _set_membership(right_value) if fast_ok and node.op == "in" else None
    if strings is not None:

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

    fast = _fast_constant_test(node.op, right_value) if fast_ok and not negated else None
    if fast is not None and fast[0]:
        fast_compare = fast[1]

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

    if fast is not None:
        fast_compare = fast[1]

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

    if right_constant:

        def compare_constant(context: Any, tracer: Trace | None) -> bool:
            a = left(context, tracer)
            outcome, result = general(a, right_value)
            if tracer is not None:
                record(tracer, a, right_value, outcome, result)
            return result

        return compare_constant

    def compare(context: Any, tracer: Trace | None) -> bool:
        a = left(context, tracer)
        b = right(context, tracer)
        outcome, result = general(a, b)
        if tracer is not None:
            record(tracer, a, b, outcome, result)
        return result

    return compare
