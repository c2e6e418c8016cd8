"""Hostile input: huge numbers, long strings, pathological regexes, odd context objects."""

from __future__ import annotations

import time
from collections import OrderedDict, defaultdict
from collections.abc import Iterator, Mapping
from decimal import Decimal
from enum import Enum, IntEnum
from fractions import Fraction
from typing import Any

import pytest

from eyeflow_worker.conditions import compile_condition, evaluate_condition
from eyeflow_worker.conditions.limits import MAX_EXPLANATION_CHARS, MAX_REGEX_LENGTH


def test_catastrophic_backtracking_regex_is_linear() -> None:
    text = "a" * 50_000 + "!"
    started = time.perf_counter()
    evaluation = evaluate_condition("$s MATCHES '(a+)+$'", {"s": text})
    assert evaluation.result is False
    assert evaluate_condition("$s MATCHES '^(a|aa)+$'", {"s": text}).result is False
    assert evaluate_condition("$s MATCHES '(a*)*b'", {"s": text}).result is False
    assert evaluate_condition("$s MATCHES '(a+)+!'", {"s": text}).result is True
    assert time.perf_counter() - started < 1.0


def test_dynamic_regex_from_context() -> None:
    condition = compile_condition("$s MATCHES $p")
    assert condition.test({"s": "abc", "p": "^a"}) is True
    assert condition.test({"s": "abc", "p": "^b"}) is False
    bad = condition.evaluate({"s": "abc", "p": "("})
    assert bad.result is False
    assert "invalid regular expression" in bad.explanation
    long = condition.evaluate({"s": "abc", "p": "a" * (MAX_REGEX_LENGTH + 1)})
    assert long.result is False
    assert "limit" in long.explanation
    assert condition.test({"s": "abc", "p": 5}) is False
    assert condition.test({"s": "a" * 50_000 + "!", "p": "(a+)+$"}) is False


def test_huge_numbers_in_context() -> None:
    huge = 10**5000  # more digits than Python will print
    evaluation = evaluate_condition("$x > 1 AND $x * $x > 0", {"x": huge})
    assert evaluation.result is False  # the product exceeds the integer limit → false
    assert "too large" in evaluation.explanation
    assert evaluate_condition("$x > 1", {"x": huge}).result is True
    assert "bit integer" in evaluate_condition("$x > 1", {"x": huge}).explanation
    assert evaluate_condition("$x / 3 > 1", {"x": huge}).result is False
    assert evaluate_condition("$x + 0.5 > 1", {"x": huge}).result is False
    assert evaluate_condition("$x CONTAINS 1", {"x": huge}).result is False
    assert evaluate_condition("$x == $x", {"x": huge}).result is True
    assert evaluate_condition("$x > 1e308", {"x": float("inf")}).result is True
    assert evaluate_condition("$x == $x", {"x": float("nan")}).result is False
    assert evaluate_condition("$x != 1", {"x": float("nan")}).result is True
    assert evaluate_condition("$x", {"x": float("nan")}).result is False


def test_repeated_multiplication_is_bounded() -> None:
    text = "$x" + " * $x" * 600 + " > 0"
    started = time.perf_counter()
    assert compile_condition(text).test({"x": 10**300}) is False
    assert time.perf_counter() - started < 1.0


def test_long_strings() -> None:
    long = "x" * 1_000_000
    evaluation = evaluate_condition("$s == 'y' OR len($s) > 10", {"s": long})
    assert evaluation.result is True
    assert len(evaluation.explanation) <= MAX_EXPLANATION_CHARS + 200
    assert evaluate_condition("$s CONTAINS 'xy'", {"s": long}).result is False
    assert evaluate_condition("$s ENDS_WITH 'x'", {"s": long}).result is True
    assert evaluate_condition("upper($s) STARTS_WITH X", {"s": long}).result is True
    numeric_looking = "1" * 10_000
    assert evaluate_condition("$s > 5", {"s": numeric_looking}).result is False


def test_long_literal_strings() -> None:
    text = "$s == '" + "é" * 4000 + "'"
    evaluation = evaluate_condition(text, {"s": "é" * 4000})
    assert evaluation.result is True
    assert len(evaluation.explanation) < 400


def test_unicode_everywhere() -> None:
    context = {"ключ": {"值": "☃ snow"}, "naïve": "Ünïcödé", "emoji": "🔥🔥"}
    assert evaluate_condition("$ключ.值 STARTS_WITH '☃'", context).result is True
    assert evaluate_condition("$naïve == Ünïcödé", context).result is True
    assert evaluate_condition("lower($naïve) == 'ünïcödé'", context).result is True
    assert evaluate_condition("len($emoji) == 2", context).result is True
    assert evaluate_condition("$emoji MATCHES '^🔥+$'", context).result is True
    assert evaluate_condition("$emoji MATCHES '^.{2}$'", context).result is True
    assert evaluate_condition("$x == '\\u2603'", {"x": "☃"}).result is True
    assert compile_condition("$ключ.值 EXISTS").variables == ("$ключ.值",)


def test_lone_surrogates_do_not_escape() -> None:
    context = {"s": "a\ud800b"}
    assert evaluate_condition("$s MATCHES 'a'", context).result is False
    assert evaluate_condition("$s CONTAINS 'a'", context).result is True
    assert evaluate_condition("$p MATCHES $q", {"p": "x", "q": "\ud800"}).result is False


class Colour(Enum):
    RED = "red"


class Level(IntEnum):
    HIGH = 3


class HostileMapping(Mapping[str, Any]):
    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("boom")

    def __contains__(self, key: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("boom")

    def __len__(self) -> int:
        raise RuntimeError("boom")


class Weird:
    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")

    def __hash__(self) -> int:
        raise RuntimeError("hash")

    def __repr__(self) -> str:
        raise RuntimeError("repr")

    def __len__(self) -> int:
        raise RuntimeError("len")


@pytest.mark.parametrize(
    "text",
    [
        "$x == 1",
        "$x != 1",
        "$x > 1",
        "$x IN [1, 2]",
        "$x CONTAINS a",
        "$x MATCHES 'a'",
        "len($x) > 0",
        "max($x) > 0",
        "$x",
        "NOT $x",
        "$x EXISTS",
        "$x IS NULL",
        "$x == $x",
        "$x.y.z[0] == 1",
        "[$x] CONTAINS 1",
        "$x + 1 > 0",
        "-$x < 0",
        "lower($x) == a",
        "$x STARTS_WITH a",
    ],
)
@pytest.mark.parametrize(
    "value",
    [
        Weird(),
        HostileMapping(),
        [Weird()],
        {"y": Weird()},
        object(),
        b"bytes",
        Decimal("1.5"),
        Decimal("NaN"),
        Fraction(1, 3),
        Colour.RED,
        Level.HIGH,
        complex(1, 2),
        float("nan"),
        {1, 2},
        (1, 2),
        frozenset(),
        range(5),
        OrderedDict(a=1),
    ],
    ids=lambda value: type(value).__name__,
)
def test_evaluate_never_raises(text: str, value: Any) -> None:
    condition = compile_condition(text)
    evaluation = condition.evaluate({"x": value})
    assert isinstance(evaluation.result, bool)
    assert isinstance(evaluation.explanation, str)
    assert condition.test({"x": value}) in (True, False)


def test_hostile_root_context() -> None:
    for text in ("$a == 1", "$a EXISTS", "$a.b IS NULL"):
        condition = compile_condition(text)
        assert condition.evaluate(HostileMapping()).result in (True, False)
        assert condition.test(HostileMapping()) in (True, False)


def test_unusual_but_reasonable_values() -> None:
    assert evaluate_condition("$x > 1", {"x": Decimal("1.5")}).result is True
    assert evaluate_condition("$x == 3", {"x": Level.HIGH}).result is True
    assert evaluate_condition("$x < 1", {"x": Fraction(1, 3)}).result is True
    assert evaluate_condition("$x CONTAINS 2", {"x": (1, 2)}).result is True
    assert evaluate_condition("$x[1] == 2", {"x": (1, 2)}).result is True
    assert evaluate_condition("$x.a == 1", {"x": OrderedDict(a=1)}).result is True


def test_defaultdict_is_not_mutated() -> None:
    inner: defaultdict[str, int] = defaultdict(int)
    context = {"d": inner}
    assert evaluate_condition("$d.x == 0", context).result is False
    assert evaluate_condition("$d[3] == 0", context).result is False
    assert dict(inner) == {}


def test_deeply_nested_context_values() -> None:
    deep: Any = 1
    for _ in range(10_000):
        deep = [deep]
    other: Any = 1
    for _ in range(10_000):
        other = [other]
    context = {"a": deep, "b": other}
    assert evaluate_condition("$a == $b", context).result is False  # depth-limited equality
    assert evaluate_condition("$a IN [$b]", context).result is False
    assert isinstance(evaluate_condition("$a", context).explanation, str)


def test_self_referencing_context() -> None:
    loop: list[Any] = []
    loop.append(loop)
    obj: dict[str, Any] = {}
    obj["self"] = obj
    context = {"l": loop, "o": obj}
    assert evaluate_condition("$l == $l", context).result is False
    assert evaluate_condition("$o == $o", context).result is False
    assert evaluate_condition("$o.self.self.self EXISTS", context).result is True
    assert len(evaluate_condition("$l CONTAINS 1", context).explanation) < 400


def test_many_variables_explanation_is_bounded() -> None:
    text = "||".join(f"$v{i}>1" for i in range(400))
    evaluation = evaluate_condition(text, {})
    assert evaluation.result is False
    assert len(evaluation.missing) == 400
    assert len(evaluation.explanation) <= MAX_EXPLANATION_CHARS + 200
    assert evaluation.explanation.endswith("OR → false")


def test_a_lone_surrogate_in_the_context_fails_only_its_own_match() -> None:
    from eyeflow_worker.conditions import evaluate_condition

    context = {"s": "\ud800", "b": 1}
    assert evaluate_condition('$s MATCHES "x" OR $b == 1', context).result is True
    # The one test is false (an error), so its negation is true, as for a missing variable.
    assert evaluate_condition('NOT ($s MATCHES "x")', context).result is True
    evaluation = evaluate_condition("$s MATCHES $p", {"s": "\ud800", "p": "x"})
    assert evaluation.result is False
    assert "surrogate" in evaluation.explanation
