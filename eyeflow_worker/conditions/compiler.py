"""Compiler: syntax tree → a tree of Python closures.

Every compiled node is `fn(context, tracer) -> value`. `tracer` is None on the fast path
(`CompiledCondition.test`), which then does no bookkeeping at all; `evaluate` passes a trace
list (see trace.py) that records missing variables and the explanation. Both paths run the
same closures, so they cannot disagree. Boolean nodes (comparisons, NOT, AND, OR, EXISTS,
IS NULL) return real bools.

`evaluate` is what the product calls, so recording is kept cheap too: everything constant in a
step's text (operand sources, operator labels, verdicts, short-circuit notes) is formatted once
here, at compile time, and recording a step is one list append of a concatenation of those
pieces with the operand values' text.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from .lexer import PathSegment
from .limits import MAX_VALUE_CHARS
from .nodes import (
    BOOLEAN_NODES,
    COMPARISONS,
    And,
    Arithmetic,
    Call,
    Compare,
    Exists,
    IsNull,
    ListExpr,
    Literal,
    Negate,
    Node,
    Not,
    Or,
    Variable,
    to_source,
)
from .operations import (
    BINARY_TESTS,
    FUNCTION_IMPLS,
    BinaryTest,
    arithmetic,
    call,
    matcher_for,
    negate,
)
from .trace import Trace, add_missing, clip_source, operand_text, verdict, verdicts
from .values import (
    MISSING,
    EvalError,
    format_value,
    is_list,
    is_object,
    normalize,
    parse_number,
    truth,
    type_name,
)

Fn = Callable[[Any, Trace | None], Any]
_PLAIN = frozenset({str, int, float, bool, type(None), dict, list})
#: Integers strictly between ±this have at most MAX_VALUE_CHARS characters, sign included.
_SHORT_INT = 10 ** (MAX_VALUE_CHARS - 1)


# --- variables ----------------------------------------------------------------------------


def resolve(context: Any, path: tuple[PathSegment, ...]) -> Any:
    """Follow `path` through mappings and lists; MISSING where it does not resolve.

    Only mapping keys and list indexes are followed (never attributes); a mapping's
    `__missing__` (defaultdict) is never triggered.
    """
    current = context
    try:
        for segment in path:
            if type(current) is dict:
                found = current.get(segment, MISSING)
                if found is MISSING and type(segment) is int:
                    found = current.get(str(segment), MISSING)
                current = found
            elif type(segment) is int and is_list(current):
                try:
                    current = current[segment]
                except IndexError:
                    return MISSING
            elif is_object(current):
                if segment in current:
                    current = current[segment]
                elif type(segment) is int and str(segment) in current:
                    current = current[str(segment)]
                else:
                    return MISSING
            else:
                return MISSING
            if current is MISSING:
                return MISSING
    except Exception as exc:
        return EvalError(f"could not read the value ({type(exc).__name__})")
    return normalize(current)


def _compile_variable(node: Variable) -> Fn:
    path = node.path
    source = node.source
    plain = _PLAIN

    def slow(context: Any, tracer: Trace | None) -> Any:
        value = resolve(context, path)
        if value is MISSING and tracer is not None:
            add_missing(tracer, source)
        return value

    if not all(type(segment) is str for segment in path) or len(path) > 3:
        return slow

    if len(path) == 1:
        (key,) = path

        def get1(context: Any, tracer: Trace | None) -> Any:
            if type(context) is dict:
                value = context.get(key, MISSING)
                if type(value) in plain:
                    return value
            return slow(context, tracer)

        return get1

    if len(path) == 2:
        key0, key1 = path

        def get2(context: Any, tracer: Trace | None) -> Any:
            if type(context) is dict:
                inner = context.get(key0)
                if type(inner) is dict:
                    value = inner.get(key1, MISSING)
                    if type(value) in plain:
                        return value
            return slow(context, tracer)

        return get2

    key0, key1, key2 = path

    def get3(context: Any, tracer: Trace | None) -> Any:
        if type(context) is dict:
            inner = context.get(key0)
            if type(inner) is dict:
                inner = inner.get(key1)
                if type(inner) is dict:
                    value = inner.get(key2, MISSING)
                    if type(value) in plain:
                        return value
        return slow(context, tracer)

    return get3


# --- values -------------------------------------------------------------------------------


def _constant(value: Any) -> Fn:
    def constant(_context: Any, _tracer: Trace | None) -> Any:
        return value

    return constant


def _literal_value(node: Node) -> tuple[bool, Any]:
    """(True, value) when the node is a constant known at compile time."""
    if isinstance(node, Literal):
        return True, node.value
    if isinstance(node, ListExpr) and all(isinstance(item, Literal) for item in node.items):
        return True, [item.value for item in node.items if isinstance(item, Literal)]
    return False, None


def _compile_list(node: ListExpr) -> Fn:
    is_constant, value = _literal_value(node)
    if is_constant:
        return _constant(value)
    items = tuple(compile_node(item) for item in node.items)

    def make_list(context: Any, tracer: Trace | None) -> Any:
        return [item(context, tracer) for item in items]

    return make_list


def _compile_arithmetic(node: Arithmetic) -> Fn:
    first = compile_node(node.operands[0])
    rest = tuple(
        (op, compile_node(operand)) for op, operand in zip(node.ops, node.operands[1:], strict=True)
    )

    def compute(context: Any, tracer: Trace | None) -> Any:
        value = first(context, tracer)
        for op, operand in rest:
            value = arithmetic(op, value, operand(context, tracer))
        return value

    return compute


def _compile_negate(node: Negate) -> Fn:
    operand = compile_node(node.operand)

    def compute(context: Any, tracer: Trace | None) -> Any:
        return negate(operand(context, tracer))

    return compute


def _compile_call(node: Call) -> Fn:
    args = tuple(compile_node(arg) for arg in node.args)
    name = node.name
    if len(args) == 1:
        (arg,) = args
        impl = FUNCTION_IMPLS[name]

        def call1(context: Any, tracer: Trace | None) -> Any:
            value = arg(context, tracer)
            if value is MISSING or type(value) is EvalError:
                return value
            return impl(value)

        return call1

    def call_n(context: Any, tracer: Trace | None) -> Any:
        return call(name, tuple(arg(context, tracer) for arg in args))

    return call_n


# --- tests --------------------------------------------------------------------------------


def _op_label(node: Compare) -> str:
    label = node.op if node.op in COMPARISONS else node.op.upper()
    return "NOT " + label if node.negated else label


def _describe(node: Node) -> tuple[str, bool]:
    """(how the operand reads in a trace, whether it is a constant shown without a value)."""
    if isinstance(node, Literal) and isinstance(node.value, str):
        if node.bare or not node.text:
            return format_value(node.value), True  # bare words read quoted: 'running'
        return clip_source(node.text), True  # quoted strings as written
    is_constant = isinstance(node, Literal | ListExpr) and _literal_value(node)[0]
    return clip_source(to_source(node)), is_constant


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


def _compile_compare(node: Compare) -> Fn:
    left = compile_node(node.left)
    right = compile_node(node.right)
    right_constant, right_value = _literal_value(node.right)
    test: BinaryTest = BINARY_TESTS[node.op]
    if node.op == "matches" and right_constant and type(right_value) is str:
        test = matcher_for(right_value)
    negated = node.negated
    left_text, left_literal = _describe(node.left)
    right_text, right_literal = _describe(node.right)
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


def _compile_exists(node: Exists) -> Fn:
    operand = compile_node(node.operand)
    negated = node.negated
    text, _ = _describe(node.operand)
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


def _compile_is_null(node: IsNull) -> Fn:
    operand = compile_node(node.operand)
    negated = node.negated
    text, literal = _describe(node.operand)
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


# --- logic --------------------------------------------------------------------------------


def compile_boolean(node: Node) -> Fn:
    """Compile a node used as a truth value: its closure always returns a bool."""
    if isinstance(node, BOOLEAN_NODES):
        return compile_node(node)
    if isinstance(node, Literal) and type(node.value) is bool:
        return _constant(node.value)
    operand = compile_node(node)
    text, literal = _describe(node)
    steps = verdicts(f"{text} → ")  # for a literal operand, shown without a value
    head = f"{text} ("
    tails = verdicts(") → ")

    def truthy(context: Any, tracer: Trace | None) -> bool:
        value = operand(context, tracer)
        result = truth(value)
        if tracer is not None:
            if literal:
                tracer.append(steps[result])
            else:
                tracer.append(head + format_value(value) + tails[result])
        return result

    return truthy


def _compile_not(node: Not) -> Fn:
    operand = compile_boolean(node.operand)
    steps = verdicts("NOT → ")

    def not_(context: Any, tracer: Trace | None) -> bool:
        result = not operand(context, tracer)
        if tracer is not None:
            tracer.append(steps[result])
        return result

    return not_


def _compile_logic(node: And | Or) -> Fn:
    operands = tuple(compile_boolean(operand) for operand in node.operands)
    is_and = isinstance(node, And)
    stop = not is_and  # AND stops at the first false operand, OR at the first true one
    label = "AND" if is_and else "OR"
    count = len(operands)
    # The step recorded when operand i decides the result early, and when none does.
    stopped = tuple(
        f"{label} → {verdict(stop)}"
        + (f" (short-circuit, {count - index - 1} skipped)" if index < count - 1 else "")
        for index in range(count)
    )
    finished = f"{label} → {verdict(not stop)}"

    def traced(context: Any, tracer: Trace) -> bool:
        for index, operand in enumerate(operands):
            if operand(context, tracer) == stop:
                tracer.append(stopped[index])
                return stop
        tracer.append(finished)
        return not stop

    if count == 2:
        # The commonest shape, unrolled (no loop, no enumerate) on both paths.
        first, second = operands
        stopped_first, stopped_second = stopped

        if is_and:

            def and2(context: Any, tracer: Trace | None) -> bool:
                if tracer is None:
                    return first(context, None) and second(context, None)  # type: ignore[no-any-return]
                if not first(context, tracer):
                    tracer.append(stopped_first)
                    return False
                if not second(context, tracer):
                    tracer.append(stopped_second)
                    return False
                tracer.append(finished)
                return True

            return and2

        def or2(context: Any, tracer: Trace | None) -> bool:
            if tracer is None:
                return first(context, None) or second(context, None)  # type: ignore[no-any-return]
            if first(context, tracer):
                tracer.append(stopped_first)
                return True
            if second(context, tracer):
                tracer.append(stopped_second)
                return True
            tracer.append(finished)
            return False

        return or2

    def logic(context: Any, tracer: Trace | None) -> bool:
        if tracer is not None:
            return traced(context, tracer)
        for operand in operands:
            if operand(context, None) == stop:
                return stop
        return not stop

    return logic


# --- dispatch -----------------------------------------------------------------------------


def compile_node(node: Node) -> Fn:
    """Compile any node to a closure returning its value (MISSING / EvalError included)."""
    if isinstance(node, Literal):
        return _constant(node.value)
    if isinstance(node, Variable):
        return _compile_variable(node)
    if isinstance(node, Compare):
        return _compile_compare(node)
    if isinstance(node, And | Or):
        return _compile_logic(node)
    if isinstance(node, Not):
        return _compile_not(node)
    if isinstance(node, Arithmetic):
        return _compile_arithmetic(node)
    if isinstance(node, Call):
        return _compile_call(node)
    if isinstance(node, ListExpr):
        return _compile_list(node)
    if isinstance(node, Negate):
        return _compile_negate(node)
    if isinstance(node, Exists):
        return _compile_exists(node)
    if isinstance(node, IsNull):
        return _compile_is_null(node)
    raise TypeError(f"not a condition node: {type(node).__name__}")
