"""Errors raised while turning condition text into a compiled condition.

Evaluation never raises: problems found while evaluating (a missing variable, a type mismatch,
a division by zero) make the affected test false and are described in the explanation.

`ConditionError` is an `InvalidInput` so a task that fails on a bad condition reports the
fleet's stable `invalid_input` error code without any translation.
"""

from __future__ import annotations

from typing import Any

from eyeflow_worker.core.errors import InvalidInput


class ConditionError(InvalidInput):
    """Base class of every condition-language error. `message` is the human-readable text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message,))


class ConditionSyntaxError(ConditionError):
    """The text is not a valid condition. `column` is 1-based; `expected` says what would fit."""

    def __init__(self, message: str, column: int, expected: str | None = None) -> None:
        super().__init__(message)
        self.column = column
        self.expected = expected
        self.details = {"column": column, "expected": expected}
        # Set by the lexer when a token could not be read: the tokens read before it and the
        # column where it began (None for an error the parser found). Not pickled.
        self.tokens_before: tuple[Any, ...] | None = None
        self.token_column: int | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.column, self.expected))


class UnexpectedCharacter(ConditionSyntaxError):
    """A character that begins no token of the language (`?`, `;`, `@`, a lone `&`, a stray `.`).

    Told apart from a malformed token (an unterminated string, a `$` without a name) because
    such a character usually means the text is prose, not an expression (`syntax_check.py`)."""


class ConditionLimitError(ConditionError):
    """The text exceeds a safety limit (length, nesting depth, regex pattern length, ...)."""
