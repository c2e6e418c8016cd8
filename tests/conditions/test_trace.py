"""The evaluate() trace: its cheap recording must read exactly like the plain formatting rules.

The compile_* modules format the constant parts of each step at compile time and take
shortcuts for common values (a short string's or a float's repr); trace.py joins and cuts the
steps once at the end. These tests pin both against the straightforward definitions.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eyeflow_worker.conditions import Evaluation, compile_condition, evaluate_condition
from eyeflow_worker.conditions.limits import MAX_EXPLANATION_CHARS, MAX_VALUE_CHARS
from eyeflow_worker.conditions.trace import Trace, add_missing, finish
from eyeflow_worker.conditions.values import format_value


def _reference_explanation(steps: list[str]) -> str:
    """The bound as first specified: add steps while they fit; once one does not, keep only
    the very last step after an ellipsis."""
    kept: list[str] = []
    size = 0
    truncated = False
    last = ""
    for step in steps:
        if truncated or size + len(step) > MAX_EXPLANATION_CHARS:
            truncated = True
            last = step
            continue
        kept.append(step)
        size += len(step) + 2
    if truncated:
        kept += ["…", last]
    return "; ".join(kept)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=400), max_size=30))
def test_finish_cuts_like_the_reference(lengths: list[int]) -> None:
    steps = [f"{index}:" + "x" * length for index, length in enumerate(lengths)]
    trace: Trace = [None, *steps]
    assert finish(trace) == ((), _reference_explanation(steps))


@pytest.mark.parametrize("total", [MAX_EXPLANATION_CHARS - 1, MAX_EXPLANATION_CHARS])
def test_an_explanation_that_just_fits_is_whole(total: int) -> None:
    steps = ["a" * 500, "b" * (total - 502)]
    assert finish([None, *steps]) == ((), "; ".join(steps))


def test_an_explanation_one_over_is_cut() -> None:
    fits = ["a" * 500, "b" * 498]  # 1000 characters with the separator
    assert finish([None, *fits, "c"]) == ((), "; ".join([*fits, "…", "c"]))
    assert finish([None, "a" * 500, "b" * 499, "c"]) == ((), "a" * 500 + "; …; c")


def test_missing_is_deduplicated_in_order_of_first_lookup() -> None:
    trace: Trace = [None]
    for source in ("$b", "$a", "$b", "$c", "$a"):
        add_missing(trace, source)
    assert finish(trace) == (("$b", "$a", "$c"), "")
    evaluation = evaluate_condition("$b == $a OR $b == 1 OR $c IS NULL OR $a EXISTS", {})
    assert evaluation.missing == ("$b", "$a", "$c")


# Values around the shortcuts' edges: ints just inside/outside the unclipped width, strings of
# MAX_VALUE_CHARS and one more, floats of every shape.
_SHORT_INT = 10 ** (MAX_VALUE_CHARS - 1)
EDGE_VALUES: list[Any] = [
    0,
    -7,
    _SHORT_INT - 1,
    -(_SHORT_INT - 1),
    _SHORT_INT,
    -_SHORT_INT,
    10**60,
    2**20000,
    91.5,
    -2.2250738585072014e-308,
    1e308,
    float("nan"),
    float("-inf"),
    "",
    "x" * MAX_VALUE_CHARS,
    "x" * (MAX_VALUE_CHARS + 1),
    'it\'s "quoted"\n',
    "running",
    True,
    None,
    [1, "a"],
]


def _cases() -> Iterator[tuple[str, str]]:
    """(condition, expected explanation pattern with {v} for the value's text)."""
    yield "$v > 80", "$v ({v}) > 80 → {r}"
    yield "$v == 'running'", "$v ({v}) == 'running' → {r}"
    yield "$v IN [starting, running]", "$v ({v}) IN [starting, running] → {r}"


@pytest.mark.parametrize("value", EDGE_VALUES, ids=format_value)
@pytest.mark.parametrize(("text", "pattern"), list(_cases()))
def test_value_texts_match_format_value(value: Any, text: str, pattern: str) -> None:
    condition = compile_condition(text)
    evaluation = condition.evaluate({"v": value})
    verdict = "true" if condition.test({"v": value}) else "false"
    expected = pattern.format(v=format_value(value), r=verdict)
    if evaluation.explanation != expected:  # only a note may follow (type mismatch, error)
        assert evaluation.explanation.startswith(expected + " (")


def test_constant_operands_read_as_written() -> None:
    assert evaluate_condition("1 > 0", {}).explanation == "1 > 0 → true"
    assert evaluate_condition("'b' IN [a, b]", {}).explanation == "'b' IN [a, b] → true"
    assert evaluate_condition("x == x", {}).explanation == "'x' == 'x' → true"
    assert evaluate_condition("null IS NULL", {}).explanation == "null IS NULL → true"
    assert evaluate_condition("5 EXISTS", {}).explanation == "5 (5) EXISTS → true"
    assert evaluate_condition("'0'", {}).explanation == "'0' → false"


def test_logic_steps() -> None:
    context = {"a": 1, "b": 2}
    assert evaluate_condition("$a == 1 AND $b == 1", context).explanation == (
        "$a (1) == 1 → true; $b (2) == 1 → false; AND → false"
    )
    assert evaluate_condition("$a == 2 AND $b == 1 AND $c", context).explanation == (
        "$a (1) == 2 → false; AND → false (short-circuit, 2 skipped)"
    )
    assert evaluate_condition("$a == 2 OR $b == 2", context).explanation == (
        "$a (1) == 2 → false; $b (2) == 2 → true; OR → true"
    )
    assert evaluate_condition("$a == 1 || $c", context).explanation == (
        "$a (1) == 1 → true; OR → true (short-circuit, 1 skipped)"
    )
    assert evaluate_condition("NOT $c", context).explanation == "$c (missing) → false; NOT → true"


def test_evaluate_returns_a_plain_evaluation() -> None:
    evaluation = evaluate_condition("$a > 1", {"a": 2})
    expected = Evaluation(True, (), "$a (2) > 1 → true")
    assert type(evaluation) is Evaluation
    assert evaluation == expected
    assert hash(evaluation) == hash(expected)
    assert repr(evaluation) == repr(expected)
    assert pickle.loads(pickle.dumps(evaluation)) == expected  # noqa: S301 - our own object
    with pytest.raises(AttributeError):
        evaluation.missing = ("$x",)  # type: ignore[misc]


class _Hostile(Mapping[str, Any]):
    """A mapping that cannot tell its length."""

    def __getitem__(self, key: str) -> Any:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        raise RuntimeError("boom")


def test_missing_survives_a_failure() -> None:
    context = {"a": _Hostile(), "b": _Hostile()}
    evaluation = compile_condition("$x == 1 OR $a == $b").evaluate(context)
    assert evaluation == Evaluation(False, ("$x",), "evaluation failed (RuntimeError) → false")
