"""The one place the rules code talks to the condition language (`eyeflow_worker.conditions`).

It turns the language's exceptions into the readable strings the validator and the repair loop
need, and hands back the variables a condition uses.
"""

from __future__ import annotations

from dataclasses import dataclass

from eyeflow_worker.conditions import ConditionError, parse, variables_of


@dataclass(frozen=True)
class CheckedCondition:
    error: str | None
    variables: tuple[str, ...] = ()


def check_condition(text: str) -> CheckedCondition:
    """Parse `text`; on failure say precisely where and why, in words a model can act on."""
    try:
        parse(text)
        return CheckedCondition(None, tuple(variables_of(text)))
    except ConditionError as exc:
        # Syntax errors already carry "at column N, expected X" in their message; limit errors
        # (too long, too deep) say which limit. Either way the message is what the model needs.
        return CheckedCondition(f"invalid condition {text!r}: {exc.message}")
