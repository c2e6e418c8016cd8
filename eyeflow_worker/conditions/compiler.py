"""Compiler driver: syntax tree → a tree of Python closures, by dispatch on the node kind.

Every compiled node is `fn(context, tracer) -> value` (`Fn`, see closures.py). `tracer` is None
on the fast path (`CompiledCondition.test`), which then does no bookkeeping at all; `evaluate`
passes a trace list (see trace.py) that records missing variables and the explanation. Both
paths run the same closures, so they cannot disagree. Boolean nodes (comparisons, NOT, AND,
OR, EXISTS, IS NULL) return real bools.

`evaluate` is what the product calls, so recording is kept cheap too: everything constant in a
step's text (operand sources, operator labels, verdicts, short-circuit notes) is formatted once,
at compile time, and recording a step is one list append of a concatenation of those pieces
with the operand values' text.

The closures for each kind of node are built in the `compile_*` modules. This module only
picks one, and hands it `compile_node` / `compile_boolean` for its operands: the recursion
goes through arguments, so those modules never import this one back.
"""

from __future__ import annotations

from .closures import Fn, constant
from .compile_compare import compile_compare
from .compile_logic import compile_logic, compile_not, compile_truthy
from .compile_presence import compile_exists, compile_is_null
from .compile_values import compile_arithmetic, compile_call, compile_list, compile_negate
from .compile_variables import compile_variable
from .nodes import (
    BOOLEAN_NODES,
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
)


def compile_boolean(node: Node) -> Fn:
    """Compile a node used as a truth value: its closure always returns a bool."""
    if isinstance(node, BOOLEAN_NODES):
        return compile_node(node)
    if isinstance(node, Literal) and type(node.value) is bool:
        return constant(node.value)
    return compile_truthy(node, compile_node(node))


def compile_node(node: Node) -> Fn:
    """Compile any node to a closure returning its value (MISSING / EvalError included)."""
    if isinstance(node, Literal):
        return constant(node.value)
    if isinstance(node, Variable):
        return compile_variable(node)
    if isinstance(node, Compare):
        return compile_compare(node, compile_node)
    if isinstance(node, And | Or):
        return compile_logic(node, compile_boolean)
    if isinstance(node, Not):
        return compile_not(node, compile_boolean)
    if isinstance(node, Arithmetic):
        return compile_arithmetic(node, compile_node)
    if isinstance(node, Call):
        return compile_call(node, compile_node)
    if isinstance(node, ListExpr):
        return compile_list(node, compile_node)
    if isinstance(node, Negate):
        return compile_negate(node, compile_node)
    if isinstance(node, Exists):
        return compile_exists(node, compile_node)
    if isinstance(node, IsNull):
        return compile_is_null(node, compile_node)
    raise TypeError(f"not a condition node: {type(node).__name__}")
