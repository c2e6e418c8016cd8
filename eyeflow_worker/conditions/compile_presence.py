"""Closures for the presence tests: `x EXISTS`, `x IS NULL` and their NOT forms.

Unlike comparisons, these look at MISSING itself rather than treating it as "false": a missing
variable does not exist, and counts as null.
"""

from __future__ import annotations

from typing import Any

from .closures import Compile, Fn, describe
from .nodes import Exists, IsNull
from .trace import Trace, verdicts
from .values import MISSING, EvalError, format_value


def compile_exists(node: Exists, compile_node: Compile) -> Fn:
    operand = compile_node(node.operand)
    negated = node.negated
    text, _ = describe(node.operand)
    label = "NOT EXISTS" if negated else "EXISTS"
    head = f"{text} ("  # the operand's value is always shown, even for a literal
    tails = verdicts(f") {label} → ")

    def exists(context: Any, tracer: Trace | None) -> bool:
        value = operand(context, tracer)
        present = value is not MISSING and type(value) is not EvalError
        result = present is not negated
        if tracer is not None:
            tracer.append(head + format_value(value) + tails[result])
        return result

    return exists


def compile_is_null(node: IsNull, compile_node: Compile) -> Fn:
    operand = compile_node(node.operand)
    negated = node.negated
    text, literal = describe(node.operand)
    label = "IS NOT NULL" if negated else "IS NULL"
    steps = verdicts(f"{text} {label} → ")  # for a literal operand, shown without a value
    head = f"{text} ("
    tails = verdicts(f") {label} → ")

    def is_null(context: Any, tracer: Trace | None) -> bool:
        value = operand(context, tracer)
        if type(value) is EvalError:
            result = False
        elif negated:
            result = value is not None and value is not MISSING
        else:
            result = value is None or value is MISSING
        if tracer is not None:
            if literal:
                tracer.append(steps[result])
            else:
                tracer.append(head + format_value(value) + tails[result])
        return result

    return is_null
