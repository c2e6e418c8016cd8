"""Missing variables: what a test of one yields, which ones `evaluate` reports (branches
skipped by a short circuit do not), and contexts that are partial or not mappings at all."""

from __future__ import annotations

import pytest

from eyeflow_worker.conditions import compile_condition, evaluate_condition

from .conftest import assert_semantics, make_context

# (expression, expected result)
CASES: list[tuple[str, bool]] = [
    # --- missing variables: every comparison is false, whichever the operator ---
    ("$missing == 1", False),
    ("$missing != 1", False),
    ("$missing > 1", False),
    ("$missing < 1", False),
    ("$missing == null", False),
    ("$missing IN [1, 2]", False),
    ("$missing NOT IN [1, 2]", False),
    ("$missing CONTAINS a", False),
    ("$missing NOT CONTAINS a", False),
    ("$missing STARTS_WITH a", False),
    ("$missing MATCHES 'a'", False),
    ("$missing NOT MATCHES 'a'", False),
    ("NOT $missing == 1", True),
    ("NOT ($missing == 1)", True),
    ("$metrics.nope > 0", False),
    ("$metrics.cpu.deeper > 0", False),
    ("$status.x == 1", False),
]


@pytest.mark.parametrize(("expression", "expected"), CASES)
def test_operator_semantics(expression: str, expected: bool) -> None:
    assert_semantics(expression, expected)


# (expression, expected result, expected missing)
MISSING_CASES: list[tuple[str, bool, tuple[str, ...]]] = [
    ("$metrics.mem > 80", False, ()),
    ("$metrics.memory > 80", False, ("$metrics.memory",)),
    ("$a == 1 OR $b == 2", False, ("$a", "$b")),
    ("$b == 1 OR $a == 2 OR $b == 3", False, ("$b", "$a")),
    ("$a == $a", False, ("$a",)),
    ("$a == $b", False, ("$a", "$b")),
    ("$a['x y'] > 1", False, ('$a["x y"]',)),
    ("$a['x'] > 1 OR $a.x < 1", False, ("$a.x",)),
    ("$metrics.disks[5].free < 1", False, ("$metrics.disks[5].free",)),
    ("$x EXISTS", False, ("$x",)),
    ("$x IS NULL", True, ("$x",)),
    ("$x NOT EXISTS", True, ("$x",)),
    ("len($x) + $y > 0", False, ("$x", "$y")),
    ("max($x, $y, $status) == 1", False, ("$x", "$y")),
    ("$status IN [$x, running]", True, ("$x",)),
    # short-circuit: branches that are not evaluated do not report
    ("false AND $x == 1", False, ()),
    ("true OR $x == 1", True, ()),
    ("$status == running OR $x == 1", True, ()),
    ("$status == stopped AND $x == 1", False, ()),
    ("$status == stopped OR $x == 1", False, ("$x",)),
    ("$status == running AND $x == 1", False, ("$x",)),
    ("$x == 1 AND $y == 1", False, ("$x",)),
    ("$x == 1 OR $y == 1", False, ("$x", "$y")),
    ("($x == 1 OR $status == running) AND $y > 0", False, ("$x", "$y")),
    ("NOT $x == 1 OR $y == 1", True, ("$x",)),
]


@pytest.mark.parametrize(("expression", "expected", "missing"), MISSING_CASES)
def test_missing_variables(expression: str, expected: bool, missing: tuple[str, ...]) -> None:
    evaluation = evaluate_condition(expression, make_context())
    assert evaluation.result is expected, evaluation.explanation
    assert evaluation.missing == missing


@pytest.mark.parametrize(
    "context",
    [{}, {"metrics": None}, {"metrics": []}, {"metrics": "x"}, {"metrics": {"cpu": None}}],
)
def test_partial_contexts(context: dict[str, object]) -> None:
    evaluation = evaluate_condition("$metrics.cpu > 1", context)
    assert evaluation.result is False
    expected_missing = () if context.get("metrics") == {"cpu": None} else ("$metrics.cpu",)
    assert evaluation.missing == expected_missing


def test_non_mapping_context_resolves_nothing() -> None:
    for context in (None, [], "text", 42, object()):
        evaluation = evaluate_condition("$a EXISTS", context)  # type: ignore[arg-type]
        assert evaluation.result is False
        assert evaluation.missing == ("$a",)
        assert compile_condition("$a IS NULL").test(context) is True  # type: ignore[arg-type]
