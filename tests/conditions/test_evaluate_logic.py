"""Table-driven semantics of NOT / AND / OR and their precedence; short-circuiting."""

from __future__ import annotations

import pytest

from eyeflow_worker.conditions import compile_condition, evaluate_condition

from .conftest import assert_semantics

# (expression, expected result)
CASES: list[tuple[str, bool]] = [
    # --- logic ---
    ("true AND true", True),
    ("true AND false", False),
    ("false OR true", True),
    ("false OR false", False),
    ("NOT false", True),
    ("NOT NOT true", True),
    ("! false", True),
    ("!true", False),
    ("true && false", False),
    ("false || true", True),
    ("true and true", True),
    ("false Or true", True),
    ("not true", False),
    ("true AND true AND true AND false", False),
    ("false OR false OR false OR true", True),
    ("$metrics.cpu > 80 AND $status == running", True),
    ("$metrics.cpu > 95 OR $status == running", True),
    ("$metrics.cpu > 95 OR $status == stopped", False),
    ("NOT $metrics.cpu > 95", True),
    ("NOT ($metrics.cpu > 95 OR $status == stopped)", True),
    ("$enabled AND $count", True),
    ("$enabled AND $empty", False),
    ("($a > 1) == false", True),
    ("($metrics.cpu > 1) == true", True),
    ("$missing OR true", True),
    ("$missing AND true", False),
    # --- precedence ---
    ("true OR true AND false", True),  # AND binds tighter than OR
    ("(true OR true) AND false", False),
    ("false AND false OR true", True),
    ("NOT true AND false", False),  # (NOT true) AND false
    ("NOT false AND true", True),
    ("NOT false OR false", True),
    ("NOT (false OR true)", False),
    ("NOT 1 == 2", True),  # NOT binds looser than comparison
    ("NOT 1 + 1 == 2", False),
    ("1 + 1 == 2 AND 2 * 2 == 4", True),
    ("(1 < 2) == true", True),
]


@pytest.mark.parametrize(("expression", "expected"), CASES)
def test_operator_semantics(expression: str, expected: bool) -> None:
    assert_semantics(expression, expected)


def test_short_circuit_does_not_evaluate_the_rest() -> None:
    calls: list[str] = []

    class Spy(dict):  # type: ignore[type-arg]
        def __contains__(self, key: object) -> bool:
            calls.append(str(key))
            return super().__contains__(key)

        def __getitem__(self, key: object) -> object:
            calls.append(str(key))
            return super().__getitem__(key)

    spy = Spy(a=1, b=2)
    assert evaluate_condition("$a == 2 AND $b == 2", spy).result is False
    assert "b" not in calls
    calls.clear()
    assert evaluate_condition("$a == 1 OR $b == 2", spy).result is True
    assert "b" not in calls
    calls.clear()
    assert compile_condition("$a == 1 OR $b == 2").test(spy) is True
    assert "b" not in calls
