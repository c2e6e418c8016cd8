"""Collects what `evaluate` reports: missing variables and a bounded explanation trace.

A trace is a plain list rather than an object with methods: `evaluate` runs in a few
microseconds, and an instance with an `__init__` plus a method call per step cost as much as
the evaluation itself. The compiled closures append finished step strings (their constant parts
precomputed at compile time, see compiler.py and the compile_* modules); slot 0 holds the
missing variables, as a dict used as an ordered set, or None while nothing is missing (the usual
case, which then costs no bookkeeping at all).
"""

from __future__ import annotations

from typing import Any

from .limits import MAX_EXPLANATION_CHARS, MAX_SOURCE_CHARS
from .values import format_value

#: [missing-variables dict or None, step, step, ...]; a new one is `[None]`.
Trace = list[Any]


def clip_source(text: str) -> str:
    return text if len(text) <= MAX_SOURCE_CHARS else text[:MAX_SOURCE_CHARS] + "…"


def operand_text(source: str, literal: bool, value: Any) -> str:
    """How an operand reads in a trace: literals as written, anything else with its value."""
    if literal:
        return source
    return f"{source} ({format_value(value)})"


def verdict(result: bool) -> str:
    return "true" if result else "false"


def verdicts(prefix: str, suffix: str = "") -> tuple[str, str]:
    """The two finished forms of a step whose only variable part is its verdict, indexed by
    the verdict (`steps[result]`), so that recording it is one append, no formatting."""
    return f"{prefix}{verdict(False)}{suffix}", f"{prefix}{verdict(True)}{suffix}"


def add_missing(trace: Trace, source: str) -> None:
    found = trace[0]
    if found is None:
        trace[0] = {source: None}
    else:
        found.setdefault(source, None)  # keeps the position of the first lookup


def missing_of(trace: Trace) -> tuple[str, ...]:
    found = trace[0]
    return () if found is None else tuple(found)


def finish(trace: Trace) -> tuple[tuple[str, ...], str]:
    """(missing variables, explanation) of a completed trace."""
    found = trace[0]
    steps = trace[1:]
    text = "; ".join(steps)
    if len(text) > MAX_EXPLANATION_CHARS:
        text = _cut(steps)
    return () if found is None else tuple(found), text


def _cut(steps: list[str]) -> str:
    """The steps joined with "; ", cut to about MAX_EXPLANATION_CHARS: the head of the trace
    is kept, then "…" and the final verdict.

    Only called when the full join is too long. (Otherwise nothing would be dropped: the
    joined length is what the last step's size check below sees, every earlier check less.)
    """
    kept: list[str] = []
    size = 0
    for step in steps:
        if size + len(step) > MAX_EXPLANATION_CHARS:
            # Once a step does not fit, all later ones are dropped too, except the last.
            kept += ["…", steps[-1]]
            break
        kept.append(step)
        size += len(step) + 2
    return "; ".join(kept)
