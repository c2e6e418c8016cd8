"""Closures for computed values: list literals, arithmetic, unary minus and function calls.

These closures record no trace steps of their own: a value only shows up in the explanation
through the comparison or truth test that uses it. What the operators mean is defined in
operations.py; this module only wires the operand closures to it.
"""

from __future__ import annotations

from typing import Any

from .closures import Compile, Fn, constant, literal_value
from .nodes import Arithmetic, Call, ListExpr, Negate
from .operations import FUNCTION_IMPLS, arithmetic, call, negate
from .trace import Trace
from .values import MISSING, EvalError


def compile_list(node: ListExpr, compile_node: Compile) -> Fn:
    is_constant, value = literal_value(node)
    if is_constant:
        return constant(value)
    items = tuple(compile_node(item) for item in node.items)

    def make_list(context: Any, tracer: Trace | None) -> Any:
        return [item(context, tracer) for item in items]

    return make_list


def compile_arithmetic(node: Arithmetic, compile_node: Compile) -> Fn:
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


def compile_negate(node: Negate, compile_node: Compile) -> Fn:
    operand = compile_node(node.operand)

    def compute(context: Any, tracer: Trace | None) -> Any:
        return negate(operand(context, tracer))

    return compute


def compile_call(node: Call, compile_node: Compile) -> Fn:
    args = tuple(compile_node(arg) for arg in node.args)
    name = node.name
    if len(args) == 1:
        (arg,) = args
        impl = FUNCTION_IMPLS[name]

        # The commonest shape: the generic `call` (a tuple of arguments, a table lookup and
        # its MISSING/EvalError check) is inlined.
        def call1(context: Any, tracer: Trace | None) -> Any:
            value = arg(context, tracer)
            if value is MISSING or type(value) is EvalError:
                return value
            return impl(value)

        return call1

    def call_n(context: Any, tracer: Trace | None) -> Any:
        return call(name, tuple(arg(context, tracer) for arg in args))

    return call_n
