"""The condition expression language of Eyeflow workflow rules.

    $metrics.cpu > 80% AND ($status == running OR $alerts CONTAINS "disk")

Text is parsed once into a syntax tree (`parse`), compiled into a tree of closures
(`compile_condition`, LRU-cached by source text) and evaluated against a context mapping
(`CompiledCondition.evaluate`, or the allocation-free `CompiledCondition.test`). Nothing is
ever handed to Python's own evaluator. The language is specified in docs/conditions.md.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from .closures import Fn
from .compiler import compile_boolean
from .errors import ConditionError, ConditionLimitError, ConditionSyntaxError
from .limits import CONDITION_CACHE_SIZE
from .nodes import And, Literal, Node, Not, Or, iter_variables, to_source
from .parser import parse
from .trace import Trace, finish, missing_of

__all__ = [
    "CompiledCondition",
    "ConditionError",
    "ConditionLimitError",
    "ConditionSyntaxError",
    "Evaluation",
    "Node",
    "compile_condition",
    "evaluate_condition",
    "looks_like_expression",
    "parse",
    "to_source",
    "variables_of",
]


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The outcome of evaluating a condition against a context."""

    result: bool
    #: Variables looked up and not found, in source form, deduplicated, in order of lookup.
    missing: tuple[str, ...]
    #: A short, bounded trace of the deciding values.
    explanation: str


# A frozen dataclass's generated __init__ sets each field through object.__setattr__, which
# for a small condition costs about as much as evaluating it. `evaluate` builds its results by
# setting the slots directly instead: the same kind of object, equal to one built the usual way.
_new_object = object.__new__
_set_result = Evaluation.__dict__["result"].__set__
_set_missing = Evaluation.__dict__["missing"].__set__
_set_explanation = Evaluation.__dict__["explanation"].__set__


def _evaluation(result: bool, missing: tuple[str, ...], explanation: str) -> Evaluation:
    evaluation: Evaluation = _new_object(Evaluation)
    _set_result(evaluation, result)
    _set_missing(evaluation, missing)
    _set_explanation(evaluation, explanation)
    return evaluation


class CompiledCondition:
    """A parsed and compiled condition; immutable and safe to share between threads."""

    __slots__ = ("_run", "source", "tree", "variables")

    source: str
    tree: Node
    variables: tuple[str, ...]

    def __init__(self, source: str, tree: Node) -> None:
        self.source = source
        self.tree = tree
        self.variables = tuple(dict.fromkeys(v.source for v in iter_variables(tree)))
        self._run: Fn = compile_boolean(tree)

    def test(self, context: Mapping[str, Any]) -> bool:
        """The result alone: the fast path (no trace, no missing list). Never raises."""
        try:
            return bool(self._run(context, None))
        except Exception:
            return False

    def evaluate(self, context: Mapping[str, Any]) -> Evaluation:
        """The result with missing variables and an explanation. Never raises."""
        trace: Trace = [None]  # no missing variables yet, no steps (see trace.py)
        try:
            result: bool = self._run(context, trace)  # compile_boolean: always a real bool
        except Exception as exc:  # a hostile context object; the language itself cannot fail
            return _evaluation(
                False,
                missing_of(trace),
                f"evaluation failed ({type(exc).__name__}) → false",
            )
        missing, explanation = finish(trace)
        evaluation: Evaluation = _new_object(Evaluation)  # _evaluation(), inlined
        _set_result(evaluation, result)
        _set_missing(evaluation, missing)
        _set_explanation(evaluation, explanation)
        return evaluation

    def __repr__(self) -> str:
        return f"CompiledCondition({self.source!r})"


@functools.lru_cache(maxsize=CONDITION_CACHE_SIZE)
def _compile_cached(text: str) -> CompiledCondition:
    return CompiledCondition(text, parse(text))


def compile_condition(text: str) -> CompiledCondition:
    """Parse and compile `text` (cached by text). Raises ConditionSyntaxError/LimitError."""
    if type(text) is not str:
        parse(text)  # raises the proper ConditionSyntaxError
    return _compile_cached(text)


def evaluate_condition(text: str, context: Mapping[str, Any]) -> Evaluation:
    """Compile (cached) and evaluate. Raises ConditionError only for invalid text."""
    return compile_condition(text).evaluate(context)


def variables_of(text: str) -> tuple[str, ...]:
    """The variable paths `text` uses, in source form, deduplicated, in order of appearance."""
    return compile_condition(text).variables


_OPERATOR_HINT: Final = re.compile(r"\$|==|!=|>=|<=|<>|&&|\|\||[<>=]")


def _is_structural(tree: Node) -> bool:
    """False for trees made only of bare/quoted words joined by NOT/AND/OR ("not ready")."""
    stack: list[Node] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Literal):
            if not isinstance(node.value, str):
                return True
        elif isinstance(node, Not):
            stack.append(node.operand)
        elif isinstance(node, And | Or):
            stack.extend(node.operands)
        else:
            return True
    return False


def looks_like_expression(text: str) -> bool:
    """Heuristic: is `text` meant as a condition expression (True) or plain English (False)?

    True when it contains `$` or a comparison/logic operator symbol, or when it parses into
    something more than words ("cpu_high" and "not ready" parse, but read as English).
    """
    if not isinstance(text, str) or not text.strip():
        return False
    if _OPERATOR_HINT.search(text):
        return True
    try:
        tree = parse(text)
    except ConditionError:
        return False
    return _is_structural(tree)
