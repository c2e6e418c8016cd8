"""Closures for truth values and logic: a value used as a condition, NOT, AND and OR.

AND and OR short-circuit on both paths, so operands that do not decide the result are neither
evaluated nor reported as missing; the trace notes how many were skipped.
"""

from __future__ import annotations

from typing import Any

from .closures import Compile, Fn, describe
from .nodes import And, Node, Not, Or
from .trace import Trace, verdict, verdicts
from .values import format_value, truth


def compile_truthy(node: Node, operand: Fn) -> Fn:
    """Wrap `operand`, the compiled `node`, so that it returns the truth of its value."""
    text, literal = describe(node)
    steps = verdicts(f"{text} → ")  # for a literal operand, shown without a value
    head = f"{text} ("
    tails = verdicts(") → ")

    def truthy(context: Any, tracer: Trace | None) -> bool:
        value = operand(context, tracer)
        result = truth(value)
        if tracer is not None:
            if literal:
                tracer.append(steps[result])
            else:
                tracer.append(head + format_value(value) + tails[result])
        return result

    return truthy


def compile_not(node: Not, compile_boolean: Compile) -> Fn:
    operand = compile_boolean(node.operand)
    steps = verdicts("NOT → ")

    def not_(context: Any, tracer: Trace | None) -> bool:
        result = not operand(context, tracer)
        if tracer is not None:
            tracer.append(steps[result])
        return result

    return not_


def compile_logic(node: And | Or, compile_boolean: Compile) -> Fn:
    operands = tuple(compile_boolean(operand) for operand in node.operands)
    is_and = isinstance(node, And)
    stop = not is_and  # AND stops at the first false operand, OR at the first true one
    label = "AND" if is_and else "OR"
    stopped = _stopped_steps(label, stop, len(operands))
    finished = f"{label} → {verdict(not stop)}"
    if len(operands) == 2:
        # The commonest shape, unrolled (no loop, no enumerate) on both paths.
        build_pair = _build_and2 if is_and else _build_or2
        return build_pair(operands, stopped, finished)
    return _build_logic(operands, stop, stopped, finished)


def _stopped_steps(label: str, stop: bool, count: int) -> tuple[str, ...]:
    """The step recorded when operand i decides the result early (the last one skips none)."""
    return tuple(
        f"{label} → {verdict(stop)}"
        + (f" (short-circuit, {count - index - 1} skipped)" if index < count - 1 else "")
        for index in range(count)
    )


def _build_and2(operands: tuple[Fn, ...], stopped: tuple[str, ...], finished: str) -> Fn:
    first, second = operands
    stopped_first, stopped_second = stopped

    def and2(context: Any, tracer: Trace | None) -> bool:
        if tracer is None:
            return first(context, None) and second(context, None)  # type: ignore[no-any-return]
        if not first(context, tracer):
            tracer.append(stopped_first)
            return False
        if not second(context, tracer):
            tracer.append(stopped_second)
            return False
        tracer.append(finished)
        return True

    return and2


def _build_or2(operands: tuple[Fn, ...], stopped: tuple[str, ...], finished: str) -> Fn:
    first, second = operands
    stopped_first, stopped_second = stopped

    def or2(context: Any, tracer: Trace | None) -> bool:
        if tracer is None:
            return first(context, None) or second(context, None)  # type: ignore[no-any-return]
        if first(context, tracer):
            tracer.append(stopped_first)
            return True
        if second(context, tracer):
            tracer.append(stopped_second)
            return True
        tracer.append(finished)
        return False

    return or2


def _build_logic(
    operands: tuple[Fn, ...], stop: bool, stopped: tuple[str, ...], finished: str
) -> Fn:
    """Any number of operands: a loop, with the traced path in a function of its own."""

    def traced(context: Any, tracer: Trace) -> bool:
        for index, operand in enumerate(operands):
            if operand(context, tracer) == stop:
                tracer.append(stopped[index])
                return stop
        tracer.append(finished)
        return not stop

    def logic(context: Any, tracer: Trace | None) -> bool:
        if tracer is not None:
            return traced(context, tracer)
        for operand in operands:
            if operand(context, None) == stop:
                return stop
        return not stop

    return logic
