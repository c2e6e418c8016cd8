"""The syntax tree: small frozen dataclasses, plus `to_source` to print a node back as text.

`column` (1-based, where the node starts) is informational and excluded from equality, so two
trees parsed from differently spaced text compare equal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

from .lexer import PathSegment

Scalar = str | int | float | bool | None

#: Comparison-level binary operators (negated forms are spelled 'not in', 'not contains', ...).
COMPARISONS: Final = frozenset({"==", "!=", ">", ">=", "<", "<="})
MEMBERSHIP: Final = frozenset({"in", "contains", "starts_with", "ends_with", "matches"})
FUNCTIONS: Final[dict[str, tuple[int, int | None]]] = {
    # name: (min args, max args or None for unbounded)
    "len": (1, 1),
    "lower": (1, 1),
    "upper": (1, 1),
    "abs": (1, 1),
    "min": (1, None),
    "max": (1, None),
}


@dataclass(frozen=True, slots=True)
class Node:
    column: int = field(default=0, compare=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Literal(Node):
    """A number, string, true/false or null. `bare` marks unquoted words used as strings."""

    value: Scalar
    text: str = field(default="", compare=False)
    bare: bool = field(default=False, compare=False)


@dataclass(frozen=True, slots=True)
class Variable(Node):
    """`$root.key[0]`: `path` starts with the root name."""

    path: tuple[PathSegment, ...]

    @property
    def source(self) -> str:
        return variable_source(self.path)


@dataclass(frozen=True, slots=True)
class ListExpr(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Call(Node):
    name: str  # lower-case
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Negate(Node):
    """Unary minus."""

    operand: Node


@dataclass(frozen=True, slots=True)
class Arithmetic(Node):
    """`operands[0] ops[0] operands[1] ops[1] ...`, evaluated left to right; ops are + - * /.

    One node holds a run of same-precedence operators, so long sums do not nest deeply.
    """

    operands: tuple[Node, ...]
    ops: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Compare(Node):
    """`left op right`: op is one of COMPARISONS or MEMBERSHIP; `negated` for NOT IN etc."""

    op: str
    left: Node
    right: Node
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Exists(Node):
    """`operand EXISTS` (or `operand NOT EXISTS` when negated)."""

    operand: Node
    negated: bool = False


@dataclass(frozen=True, slots=True)
class IsNull(Node):
    """`operand IS NULL` (or `IS NOT NULL` when negated)."""

    operand: Node
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Not(Node):
    operand: Node


@dataclass(frozen=True, slots=True)
class And(Node):
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or(Node):
    operands: tuple[Node, ...]


BOOLEAN_NODES: Final = (Compare, Exists, IsNull, Not, And, Or)

_PLAIN_KEY: Final = re.compile(r"\w+")


def variable_source(path: tuple[PathSegment, ...]) -> str:
    """Canonical source form of a path: `$metrics.disks[0]["free space"]`."""
    parts = ["$", str(path[0])]
    for segment in path[1:]:
        if isinstance(segment, int):
            parts.append(f"[{segment}]")
        elif _PLAIN_KEY.fullmatch(segment):
            parts.append("." + segment)
        else:
            parts.append("[" + json.dumps(segment, ensure_ascii=False) + "]")
    return "".join(parts)


def _literal_source(node: Literal) -> str:
    if node.text:
        return node.text
    value = node.value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


_PRECEDENCE: Final[dict[type[Node], int]] = {
    Or: 1,
    And: 2,
    Not: 3,
    Compare: 4,
    Exists: 4,
    IsNull: 4,
}


def _precedence(node: Node) -> int:
    if isinstance(node, Arithmetic):
        return 5 if node.ops[0] in "+-" else 6
    return _PRECEDENCE.get(type(node), 8)


def _wrap(node: Node, minimum: int) -> str:
    text = to_source(node)
    return f"({text})" if _precedence(node) < minimum else text


def to_source(node: Node) -> str:
    """Print a node back as condition text (canonical spacing and keyword spelling).

    Kinds printed alike share a branch. The recursion stays in this one function (through
    `_wrap`) rather than going through a printer function per kind: that would add a stack
    frame per level of the tree, and compiling, which prints operands near the bottom of a
    deep stack, would hit Python's recursion limit at a shallower nesting than it does now.
    """
    if isinstance(node, Literal):
        return _literal_source(node)
    if isinstance(node, Variable):
        return node.source
    if isinstance(node, ListExpr):
        return "[" + ", ".join(to_source(item) for item in node.items) + "]"
    if isinstance(node, Call):
        return node.name + "(" + ", ".join(to_source(arg) for arg in node.args) + ")"
    if isinstance(node, Negate | Not):
        prefix, level = ("-", 7) if isinstance(node, Negate) else ("NOT ", 4)
        return prefix + _wrap(node.operand, level)
    if isinstance(node, Arithmetic):
        level = _precedence(node)
        text = [_wrap(node.operands[0], level)]
        for op, operand in zip(node.ops, node.operands[1:], strict=True):
            text.append(f" {op} ")
            text.append(_wrap(operand, level + 1))
        return "".join(text)
    if isinstance(node, Compare):
        return f"{_wrap(node.left, 5)} {compare_label(node)} {_wrap(node.right, 5)}"
    if isinstance(node, Exists | IsNull):
        return _wrap(node.operand, 5) + _postfix_label(node)
    if isinstance(node, And | Or):
        joiner, level = (" AND ", 3) if isinstance(node, And) else (" OR ", 2)
        return joiner.join(_wrap(operand, level) for operand in node.operands)
    raise TypeError(f"not a condition node: {type(node).__name__}")


def compare_label(node: Compare) -> str:
    """How a comparison's operator reads: `>`, `IN`, `NOT MATCHES`."""
    op = node.op if node.op in COMPARISONS else node.op.upper()
    return "NOT " + op if node.negated else op


def _postfix_label(node: Exists | IsNull) -> str:
    if isinstance(node, Exists):
        return " NOT EXISTS" if node.negated else " EXISTS"
    return " IS NOT NULL" if node.negated else " IS NULL"


def children(node: Node) -> tuple[Node, ...]:
    """The node's direct sub-expressions, left to right."""
    if isinstance(node, ListExpr):
        return node.items
    if isinstance(node, Call):
        return node.args
    if isinstance(node, Arithmetic | And | Or):
        return node.operands
    if isinstance(node, Compare):
        return (node.left, node.right)
    if isinstance(node, Negate | Exists | IsNull | Not):
        return (node.operand,)
    return ()


def walk(node: Node) -> Iterator[Node]:
    """Every node of the tree in source order (pre-order; iterative: no recursion limit)."""
    stack: list[Node] = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(children(current)))


def iter_variables(node: Node) -> list[Variable]:
    """Every Variable in the tree, in source order."""
    return [current for current in walk(node) if isinstance(current, Variable)]
