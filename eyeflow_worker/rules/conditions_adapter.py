"""The one place the rules code talks to the condition language (`eyeflow_worker.conditions`).

It turns the language's exceptions into the readable strings the validator and the repair loop
need, and hands back the variables a condition uses and the bare (unquoted) words it compares
with, so the validator can spot a variable written without its `$`.
"""

from __future__ import annotations

from dataclasses import dataclass

from eyeflow_worker.conditions import ConditionError, parse, variables_of
from eyeflow_worker.conditions.nodes import Literal, Node, walk


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
    """Every bare-word literal in the tree, in source order, without duplicates."""
    found = (
        node.value
        for node in walk(tree)
        if isinstance(node, Literal) and node.bare and isinstance(node.value, str)
    )
    return tuple(dict.fromkeys(found))
