"""What a compiled node is (`Fn`), and the compile-time helpers every node kind's compiler shares.

Every compiled node is `fn(context, tracer) -> value`. `tracer` is None on the fast path
(`CompiledCondition.test`), which then does no bookkeeping at all; `evaluate` passes a trace
list (see trace.py) that records missing variables and the explanation.

This module sits below all the `compile_*` modules and imports none of them, so they can share
it without an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .nodes import ListExpr, Literal, Node, to_source
from .trace import Trace, clip_source
from .values import format_value

Fn = Callable[[Any, Trace | None], Any]
#: A recursive entry point (`compile_node` or `compile_boolean`). Node kinds with operands get
#: it as an argument from compiler.py, rather than importing compiler.py back, which would
#: make an import cycle.
Compile = Callable[[Node], Fn]


def constant(value: Any) -> Fn:
    def constant(_context: Any, _tracer: Trace | None) -> Any:
        return value

    return constant


def literal_value(node: Node) -> tuple[bool, Any]:
    """(True, value) when the node is a constant known at compile time."""
    if isinstance(node, Literal):
        return True, node.value
    if isinstance(node, ListExpr) and all(isinstance(item, Literal) for item in node.items):
        return True, [item.value for item in node.items if isinstance(item, Literal)]
    return False, None


def describe(node: Node) -> tuple[str, bool]:
    """(how the operand reads in a trace, whether it is a constant shown without a value)."""
    if isinstance(node, Literal) and isinstance(node.value, str):
        if node.bare or not node.text:
            return format_value(node.value), True  # bare words read quoted: 'running'
        return clip_source(node.text), True  # quoted strings as written
    is_constant = isinstance(node, Literal | ListExpr) and literal_value(node)[0]
    return clip_source(to_source(node)), is_constant
