"""The one place the rules code talks to the condition language (`eyeflow_worker.conditions`).

It turns the language's exceptions into the readable strings the validator and the repair loop
need (message, column, what was expected), and hands back the variables a condition uses.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from eyeflow_worker.conditions.errors import ConditionError

# TRANSITIONAL: the condition language is being written in parallel. Until its parser lands,
# conditions are not syntax-checked (logged loudly). Remove this guard once it has landed.
try:
    from eyeflow_worker.conditions import parse, variables_of

    _PARSER_AVAILABLE = True
except ImportError:  # pragma: no cover - only before the parser lands
    _PARSER_AVAILABLE = False

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckedCondition:
    error: str | None
    variables: tuple[str, ...] = ()


def check_condition(text: str) -> CheckedCondition:
    """Parse `text`; on failure say precisely where and why, in words a model can act on."""
    if not _PARSER_AVAILABLE:  # pragma: no cover
        _log.warning("condition parser not available yet; %r not checked", text)
        return CheckedCondition(None, ())
    try:
        parse(text)
        return CheckedCondition(None, tuple(variables_of(text)))
    except ConditionError as exc:
        # Syntax errors already carry "at column N, expected X" in their message; limit errors
        # (too long, too deep) say which limit. Either way the message is what the model needs.
        return CheckedCondition(f"invalid condition {text!r}: {exc.message}")
