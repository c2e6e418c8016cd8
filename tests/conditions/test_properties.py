"""Property-based tests: garbage never breaks the parser, evaluation never raises, the fast
and full paths agree, and precedence matches a reference fold over generated trees."""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from eyeflow_worker.conditions import (
    ConditionError,
    compile_condition,
    evaluate_condition,
    looks_like_expression,
    parse,
    to_source,
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TOKENS = [
    "$a",
    "$b.c",
    "$d[0]",
    "$e['x y']",
    "1",
    "2.5",
    "85%",
    "-",
    "+",
    "*",
    "/",
    "(",
    ")",
    "[",
    "]",
    ",",
    "==",
    "!=",
    "=",
    "<>",
    ">",
    ">=",
    "<",
    "<=",
    "AND",
    "or",
    "Not",
    "&&",
    "||",
    "!",
    "IN",
    "NOT IN",
    "contains",
    "STARTS_WITH",
    "ends_with",
    "MATCHES",
    "EXISTS",
    "IS",
    "NULL",
    "IS NOT NULL",
    "true",
    "FALSE",
    "null",
    "'s'",
    '"t"',
    "word",
    "len(",
    "lower(",
    "max(",
    "abs(",
    "'(a+)+$'",
    "$",
    ".",
    "'",
    '"',
    "%",
    "&",
    "|",
    "\\",
    "é",
    "☃",
    "\x00",
    "1e400",
]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["12", "3.5", "85%", "true", "FALSE", " 7 ", "", "a", "prod"])
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["a", "b", "c", "d", "e", "x y", "0"]), children, max_size=4
        )
    ),
    max_leaves=12,
)
contexts = st.dictionaries(st.sampled_from(["a", "b", "c", "d", "e", "s"]), json_values, max_size=6)


@SETTINGS
@given(st.text(max_size=200))
@example("(" * 5000)
@example("$" * 100)
@example("'\\")
@example("\ud800")
def test_random_text_only_raises_condition_errors(text: str) -> None:
    try:
        tree = parse(text)
    except ConditionError as error:
        message = error.message
    else:
        assert parse(to_source(tree)) == tree
        return
    assert message


@SETTINGS
@given(st.lists(st.sampled_from(TOKENS), max_size=25), contexts)
def test_token_soup(tokens: list[str], context: dict[str, Any]) -> None:
    text = " ".join(tokens)
    try:
        condition = compile_condition(text)
    except ConditionError:
        assert looks_like_expression(text) in (True, False)
        return
    evaluation = condition.evaluate(context)
    assert evaluation.result is condition.test(context)
    assert set(evaluation.missing) <= set(condition.variables)
    assert parse(to_source(condition.tree)) == condition.tree


# --- generated well-formed expressions ------------------------------------------------------

operands = st.sampled_from(
    [
        "$a",
        "$b",
        "$a.b",
        "$c[0]",
        "$d['x y']",
        "1",
        "-2",
        "3.5",
        "85%",
        "'12'",
        "prod",
        "'a b'",
        "true",
        "null",
        "[1, 'a', $a]",
        "len($a)",
        "lower($s)",
        "max($a, 1)",
        "abs($b)",
        "$e",
    ]
)
comparators = st.sampled_from(
    [
        "==",
        "!=",
        ">",
        ">=",
        "<",
        "<=",
        "IN",
        "NOT IN",
        "CONTAINS",
        "NOT CONTAINS",
        "STARTS_WITH",
        "ENDS_WITH",
        "MATCHES",
        "NOT MATCHES",
    ]
)


@st.composite
def comparisons(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 5))
    left = draw(operands)
    if kind == 0:
        return f"{left} {draw(st.sampled_from(['EXISTS', 'NOT EXISTS', 'IS NULL', 'IS NOT NULL']))}"
    if kind == 1:
        return f"{left} {draw(st.sampled_from(['+', '-', '*', '/']))} {draw(operands)} > 0"
    return f"{left} {draw(comparators)} {draw(operands)}"


expressions = st.recursive(
    comparisons() | operands,
    lambda inner: (
        st.tuples(inner, st.sampled_from([" AND ", " OR "]), inner).map(
            lambda t: f"({t[0]}{t[1]}{t[2]})"
        )
        | inner.map(lambda e: f"NOT ({e})")
    ),
    max_leaves=10,
)


@SETTINGS
@given(expressions, contexts)
def test_generated_expressions_evaluate_without_raising(text: str, context: dict[str, Any]) -> None:
    condition = compile_condition(text)
    evaluation = condition.evaluate(context)
    assert isinstance(evaluation.result, bool)
    assert evaluation.result is condition.test(context)
    assert set(evaluation.missing) <= set(condition.variables)
    assert len(evaluation.missing) == len(set(evaluation.missing))
    assert len(evaluation.explanation) < 1400
    assert parse(to_source(condition.tree)) == condition.tree
    again = compile_condition(to_source(condition.tree)).evaluate(context)
    assert again.result is evaluation.result


# --- precedence against a reference fold ----------------------------------------------------


@dataclass(frozen=True)
class B:
    """A reference boolean tree: op in {'lit', 'not', 'and', 'or'}."""

    op: str
    args: tuple[Any, ...]


bool_trees = st.recursive(
    st.booleans().map(lambda v: B("lit", (v,))),
    lambda inner: (
        inner.map(lambda t: B("not", (t,)))
        | st.tuples(st.sampled_from(["and", "or"]), inner, inner).map(lambda t: B(t[0], t[1:]))
    ),
    max_leaves=12,
)
_POWER = {"or": 1, "and": 2, "not": 3, "lit": 9}


def fold(tree: B) -> bool:
    if tree.op == "lit":
        return bool(tree.args[0])
    if tree.op == "not":
        return not fold(tree.args[0])
    left, right = fold(tree.args[0]), fold(tree.args[1])
    return (left and right) if tree.op == "and" else (left or right)


def render(tree: B, spelling: dict[str, str], extra_parens: bool) -> str:
    """Render with the fewest parentheses the documented precedence allows."""
    if tree.op == "lit":
        return spelling["true" if tree.args[0] else "false"]
    if tree.op == "not":
        inner = tree.args[0]
        text = render(inner, spelling, extra_parens)
        if _POWER[inner.op] < _POWER["not"] or extra_parens:
            text = f"({text})"
        return f"{spelling['not']} {text}"
    power = _POWER[tree.op]
    parts = []
    for index, child in enumerate(tree.args):
        text = render(child, spelling, extra_parens)
        # left-associative: a right child of equal power needs parentheses
        needs = _POWER[child.op] < power or (index == 1 and _POWER[child.op] == power)
        parts.append(f"({text})" if needs or extra_parens else text)
    return f" {spelling[tree.op]} ".join(parts)


spellings = st.fixed_dictionaries(
    {
        "and": st.sampled_from(["AND", "and", "And", "&&"]),
        "or": st.sampled_from(["OR", "or", "oR", "||"]),
        "not": st.sampled_from(["NOT", "not", "!"]),
        "true": st.sampled_from(["true", "TRUE", "True", "1 == 1", "$t", "2 > 1"]),
        "false": st.sampled_from(["false", "FALSE", "1 == 2", "$f", "$missing > 0"]),
    }
)


@SETTINGS
@given(bool_trees, spellings, st.booleans())
def test_boolean_precedence_matches_reference(
    tree: B, spelling: dict[str, str], extra: bool
) -> None:
    text = render(tree, spelling, extra)
    context = {"t": True, "f": False}
    assert evaluate_condition(text, context).result is fold(tree), text
    assert compile_condition(text).test(context) is fold(tree), text


@dataclass(frozen=True)
class N:
    op: str  # 'lit', 'neg', '+', '-', '*'
    args: tuple[Any, ...]


num_trees = st.recursive(
    st.integers(0, 50).map(lambda v: N("lit", (v,))),
    lambda inner: (
        inner.map(lambda t: N("neg", (t,)))
        | st.tuples(st.sampled_from(["+", "-", "*"]), inner, inner).map(lambda t: N(t[0], t[1:]))
    ),
    max_leaves=10,
)
_NUM_POWER = {"+": 5, "-": 5, "*": 6, "neg": 7, "lit": 9}
_NUM_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul}


def nfold(tree: N) -> int:
    if tree.op == "lit":
        return int(tree.args[0])
    if tree.op == "neg":
        return -nfold(tree.args[0])
    return int(_NUM_OPS[tree.op](nfold(tree.args[0]), nfold(tree.args[1])))


def nrender(tree: N) -> str:
    if tree.op == "lit":
        return str(tree.args[0])
    if tree.op == "neg":
        inner = nrender(tree.args[0])
        return f"-{inner}" if _NUM_POWER[tree.args[0].op] >= 7 else f"-({inner})"
    power = _NUM_POWER[tree.op]
    left, right = tree.args
    ltext, rtext = nrender(left), nrender(right)
    if _NUM_POWER[left.op] < power:
        ltext = f"({ltext})"
    if _NUM_POWER[right.op] <= power:
        rtext = f"({rtext})"
    return f"{ltext} {tree.op} {rtext}"


@SETTINGS
@given(num_trees)
def test_arithmetic_precedence_matches_reference(tree: N) -> None:
    text = nrender(tree)
    expected = nfold(tree)
    assert evaluate_condition(f"{text} == {expected}", {}).result is True, text
    assert evaluate_condition(f"{text} + 1 > {expected}", {}).result is True, text


# --- comparison semantics against Python ----------------------------------------------------

numbers = st.integers(-(10**20), 10**20) | st.floats(allow_nan=False, allow_infinity=False)


@SETTINGS
@given(numbers, numbers, st.sampled_from(["==", "!=", ">", ">=", "<", "<="]))
def test_numeric_comparisons_match_python(a: float, b: float, op: str) -> None:
    python = {
        "==": operator.eq,
        "!=": operator.ne,
        ">": operator.gt,
        ">=": operator.ge,
        "<": operator.lt,
        "<=": operator.le,
    }[op]
    expected = python(a, b)
    assert evaluate_condition(f"$a {op} $b", {"a": a, "b": b}).result is expected
    # numeric-looking strings coerce when the other side is a number
    assert evaluate_condition(f"$a {op} $b", {"a": repr(a), "b": b}).result is expected


@SETTINGS
@given(st.text(max_size=30), st.text(max_size=30))
def test_string_operators_match_python(a: str, b: str) -> None:
    context = {"a": a, "b": b}
    assert evaluate_condition("$a CONTAINS $b", context).result is (b in a)
    assert evaluate_condition("$a STARTS_WITH $b", context).result is a.startswith(b)
    assert evaluate_condition("$a ENDS_WITH $b", context).result is a.endswith(b)
    assert evaluate_condition("$a == $b", context).result is (a == b)
    assert evaluate_condition("$a IN [$b]", context).result is (a == b)
    assert evaluate_condition("len($a) == len($b)", context).result is (len(a) == len(b))


@SETTINGS
@given(st.text(max_size=200))
def test_looks_like_expression_never_raises(text: str) -> None:
    assert looks_like_expression(text) in (True, False)
