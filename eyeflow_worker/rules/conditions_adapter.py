"""The one place the rules code talks to the condition language (`eyeflow_worker.conditions`).

It turns the language's exceptions into the readable strings the validator and the repair loop
need, and hands back the variables a condition uses and the bare (unquoted) words it compares
with, so the validator can spot a variable written without its `$`.
"""

from __future__ import annotations

from dataclasses import dataclass

from eyeflow_worker.conditions import ConditionError, parse, variables_of
from eyeflow_worker.conditions.nodes import (
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
)


@dataclass(frozen=True)
class CheckedCondition:
    error: str | None
    variables: tuple[str, ...] = ()
    # Unquoted words used as string values ("running" in `$status == running`), in source
    # order, deduplicated. Function names are not included.
    bare_words: tuple[str, ...] = ()


def check_condition(text: str) -> CheckedCondition:
    """Parse `text`; on failure say precisely where and why, in words a model can act on."""
    try:
        tree = parse(text)
        return CheckedCondition(None, tuple(variables_of(text)), _bare_words(tree))
    except ConditionError as exc:
        # Syntax errors already carry "at column N, expected X" in their message; limit errors
        # (too long, too deep) say which limit. Either way the message is what the model needs.
        return CheckedCondition(f"invalid condition {text!r}: {exc.message}")


def _bare_words(tree: Node) -> tuple[str, ...]:
    """Every bare-word literal in the tree, in source order (iterative, no recursion)."""
    found: dict[str, None] = {}
    stack: list[Node] = [tree]
    while stack:
        node = stack.pop()
        children: tuple[Node, ...] = ()
        if isinstance(node, Literal):
            if node.bare and isinstance(node.value, str):
                found.setdefault(node.value)
        elif isinstance(node, ListExpr):
            children = node.items
        elif isinstance(node, Call):
            children = node.args
        elif isinstance(node, Arithmetic | And | Or):
            children = node.operands
        elif isinstance(node, Compare):
            children = (node.left, node.right)
        elif isinstance(node, Negate | Exists | IsNull | Not):
            children = (node.operand,)
        stack.extend(reversed(children))
    return tuple(found)
