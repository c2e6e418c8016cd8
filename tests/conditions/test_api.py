"""The public API: names, caching, variables, explanations, the English heuristic."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import eyeflow_worker.conditions as conditions
from eyeflow_worker.conditions import (
    CompiledCondition,
    ConditionError,
    ConditionLimitError,
    ConditionSyntaxError,
    Evaluation,
    compile_condition,
    evaluate_condition,
    looks_like_expression,
    parse,
    variables_of,
)
from eyeflow_worker.conditions.limits import MAX_EXPLANATION_CHARS
from eyeflow_worker.conditions.nodes import Node


def test_public_names() -> None:
    for name in (
        "ConditionError",
        "ConditionSyntaxError",
        "ConditionLimitError",
        "parse",
        "compile_condition",
        "CompiledCondition",
        "Evaluation",
        "evaluate_condition",
        "variables_of",
        "looks_like_expression",
    ):
        assert hasattr(conditions, name)
    assert issubclass(ConditionSyntaxError, ConditionError)
    assert issubclass(ConditionLimitError, ConditionError)
    assert isinstance(parse("$a"), Node)


def test_compiled_condition_attributes() -> None:
    condition = compile_condition("$metrics.cpu > 80 AND $status == running")
    assert isinstance(condition, CompiledCondition)
    assert condition.source == "$metrics.cpu > 80 AND $status == running"
    assert condition.tree == parse(condition.source)
    assert condition.variables == ("$metrics.cpu", "$status")
    evaluation = condition.evaluate({"metrics": {"cpu": 91.5}, "status": "running"})
    assert isinstance(evaluation, Evaluation)
    assert evaluation == Evaluation(
        True,
        (),
        "$metrics.cpu (91.5) > 80 → true; $status ('running') == 'running' → true; AND → true",
    )
    with pytest.raises(AttributeError):
        evaluation.result = False  # type: ignore[misc]


def test_compile_is_cached() -> None:
    first = compile_condition("$cache_probe == 1")
    assert compile_condition("$cache_probe == 1") is first
    assert compile_condition("$cache_probe == 2") is not first


def test_compile_errors_propagate() -> None:
    with pytest.raises(ConditionSyntaxError):
        compile_condition("$a ==")
    with pytest.raises(ConditionSyntaxError):
        evaluate_condition("$a ==", {})
    with pytest.raises(ConditionLimitError):
        compile_condition("(" * 100 + "1" + ")" * 100)


@pytest.mark.parametrize(
    ("text", "variables"),
    [
        ("true", ()),
        ("$a", ("$a",)),
        ("$b > 1 AND $a < 2 OR $b == 3", ("$b", "$a")),
        ("$a['x'] == $a.x", ("$a.x",)),
        ("$a['x y'][0] EXISTS", ('$a["x y"][0]',)),
        ("$m.disks[0].free < 10", ("$m.disks[0].free",)),
        ("len($a) + max($b, $c) > 0", ("$a", "$b", "$c")),
        ("$x IN [$y, $z]", ("$x", "$y", "$z")),
        ("$a[-1] == 1", ("$a[-1]",)),
    ],
)
def test_variables_of(text: str, variables: tuple[str, ...]) -> None:
    assert variables_of(text) == variables


# (expression, context, explanation)
EXPLANATIONS: list[tuple[str, dict[str, object], str]] = [
    ("$a > 80", {"a": 91.5}, "$a (91.5) > 80 → true"),
    ("$a > 80%", {"a": 5}, "$a (5) > 80% → false"),
    ("$a > 80", {}, "$a (missing) > 80 → false"),
    ("$a > 5", {"a": "abc"}, "$a ('abc') > 5 → false (type mismatch: string vs number)"),
    ("$a / 0 > 1", {"a": 1}, "$a / 0 (error: division by zero) > 1 → false"),
    ("$a IN [x, y]", {"a": "x"}, "$a ('x') IN [x, y] → true"),
    ("$a NOT IN [x, y]", {"a": "x"}, "$a ('x') NOT IN [x, y] → false"),
    ("$a EXISTS", {}, "$a (missing) EXISTS → false"),
    ("$a IS NOT NULL", {"a": None}, "$a (null) IS NOT NULL → false"),
    ("NOT $a == 1", {"a": 1}, "$a (1) == 1 → true; NOT → false"),
    ("$a", {"a": "yes"}, "$a ('yes') → true"),
    ("len($t) >= 2", {"t": [1, 2, 3]}, "len($t) (3) >= 2 → true"),
    (
        "$a == 1 AND $b == 2 AND $c == 3",
        {"a": 2},
        "$a (2) == 1 → false; AND → false (short-circuit, 2 skipped)",
    ),
    ("$a == 1 OR $b == 2", {"a": 0, "b": 2}, "$a (0) == 1 → false; $b (2) == 2 → true; OR → true"),
    ("$s MATCHES '^a'", {"s": "abc"}, "$s ('abc') MATCHES '^a' → true"),
    ("$x == true", {"x": True}, "$x (true) == true → true"),
]


@pytest.mark.parametrize(("text", "context", "explanation"), EXPLANATIONS)
def test_explanations(text: str, context: dict[str, object], explanation: str) -> None:
    assert evaluate_condition(text, context).explanation == explanation


def test_explanation_values_are_truncated() -> None:
    evaluation = evaluate_condition("$s == 'x'", {"s": "y" * 10_000})
    assert len(evaluation.explanation) < 120
    assert "…" in evaluation.explanation
    evaluation = evaluate_condition("$l CONTAINS 'x'", {"l": list(range(10_000))})
    assert len(evaluation.explanation) < 160
    evaluation = evaluate_condition("$o.a == 1", {"o": {"a": {str(i): i for i in range(999)}}})
    assert len(evaluation.explanation) < 160


def test_explanation_total_is_bounded() -> None:
    text = "&&".join(f"$v{i}!={i}" for i in range(300))
    context = {f"v{i}": "z" * 500 for i in range(300)}
    evaluation = evaluate_condition(text, context)
    assert evaluation.result is True
    assert len(evaluation.explanation) <= MAX_EXPLANATION_CHARS + 300
    assert evaluation.explanation.endswith("AND → true")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$metrics.cpu > 80", True),
        ("cpu > 80", True),
        ("cpu usage > 80%", True),
        ("status = running", True),
        ("$status", True),
        ("len(tags) >= 2", True),
        ("true", True),
        ("42", True),
        ("a && b", True),
        ("the database looks overloaded", False),
        ("notify me when the disk is almost full", False),
        ("is the service healthy?", False),
        ("overloaded", False),
        ("not ready", False),
        ("ready and steady", False),
        ("", False),
        ("   ", False),
        ("CPU is high, memory too", False),
    ],
)
def test_looks_like_expression(text: str, expected: bool) -> None:
    assert looks_like_expression(text) is expected


def test_no_python_evaluation_in_product_code() -> None:
    package = Path(conditions.__file__).parent
    forbidden = re.compile(r"(?<![\w])(eval|exec)\(|\bcompile\(\s*[^)]*['\"](eval|exec)['\"]")
    for source in package.glob("*.py"):
        text = source.read_text(encoding="utf-8")
        assert not forbidden.search(text), source.name
        assert "import ast" not in text, source.name
        assert "builtins" not in text, source.name
