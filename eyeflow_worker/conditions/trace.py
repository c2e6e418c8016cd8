"""Collects what `evaluate` reports: missing variables and a bounded explanation trace."""

from __future__ import annotations

from typing import Any

from .limits import MAX_EXPLANATION_CHARS, MAX_SOURCE_CHARS
from .values import format_value


def clip_source(text: str) -> str:
    return text if len(text) <= MAX_SOURCE_CHARS else text[:MAX_SOURCE_CHARS] + "…"


def operand_text(source: str, literal: bool, value: Any) -> str:
    """How an operand reads in a trace: literals as written, anything else with its value."""
    if literal:
        return source
    return f"{source} ({format_value(value)})"


def verdict(result: bool) -> str:
    return "true" if result else "false"


class Tracer:
    """Passed down the compiled closures when a full Evaluation is wanted (None otherwise)."""

    __slots__ = ("_last", "_missing", "_size", "_steps", "_truncated")

    def __init__(self) -> None:
        self._missing: dict[str, None] = {}
        self._steps: list[str] = []
        self._size = 0
        self._truncated = False
        self._last = ""

    def add_missing(self, source: str) -> None:
        self._missing.setdefault(source, None)

    def step(self, text: str) -> None:
        if self._truncated or self._size + len(text) > MAX_EXPLANATION_CHARS:
            # Keep the head of the trace and its final verdict, drop the middle.
            self._truncated = True
            self._last = text
            return
        self._steps.append(text)
        self._size += len(text) + 2

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(self._missing)

    def explanation(self) -> str:
        steps = self._steps
        if self._truncated:
            steps = [*steps, "…", self._last]
        return "; ".join(steps)
