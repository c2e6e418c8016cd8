"""Parsing: tree shapes, precedence, keywords in any case, error columns, limits."""

from __future__ import annotations

import pickle

import pytest

from eyeflow_worker.conditions import (
    ConditionError,
    ConditionLimitError,
    ConditionSyntaxError,
    parse,
    to_source,
)
from eyeflow_worker.conditions.limits import (
    MAX_EXPRESSION_LENGTH,
    MAX_NESTING_DEPTH,
    MAX_REGEX_LENGTH,
)
from eyeflow_worker.conditions.nodes import (
    And,
    Arithmetic,
    Call,
    Compare,
    Exists,
    IsNull,
    ListExpr,
    Literal,
    Negate,
    Not,
    Or,
    Variable,
)

A = Variable(("a",))
B = Variable(("b",))
C = Variable(("c",))
ONE = Literal(1)
TWO = Literal(2)


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("$a", A),
        ("$a OR $b AND $c", Or((A, And((B, C))))),
        ("$a AND $b OR $c", Or((And((A, B)), C))),
        ("$a AND $b AND $c", And((A, B, C))),
        ("$a OR $b OR $c", Or((A, B, C))),
        ("($a OR $b) AND $c", And((Or((A, B)), C))),
        ("NOT $a AND $b", And((Not(A), B))),
        ("NOT $a == 1", Not(Compare("==", A, ONE))),
        ("NOT NOT $a", Not(Not(A))),
        ("!$a || $b && $c", Or((Not(A), And((B, C))))),
        ("$a == 1 + 2", Compare("==", A, Arithmetic((ONE, TWO), ("+",)))),
        ("$a + 1 * 2", Arithmetic((A, Arithmetic((ONE, TWO), ("*",))), ("+",))),
        ("$a * 1 + 2", Arithmetic((Arithmetic((A, ONE), ("*",)), TWO), ("+",))),
        ("$a - 1 - 2", Arithmetic((A, ONE, TWO), ("-", "-"))),
        ("$a - (1 - 2)", Arithmetic((A, Arithmetic((ONE, TWO), ("-",))), ("-",))),
        ("-$a * 2", Arithmetic((Negate(A), TWO), ("*",))),
        ("-1", Literal(-1)),
        ("- - 1", Literal(1)),
        ("-(1)", Literal(-1)),
        ("$a IN [1, 2]", Compare("in", A, ListExpr((ONE, TWO)))),
        ("$a NOT IN [1, 2]", Compare("in", A, ListExpr((ONE, TWO)), negated=True)),
        ("$a not in []", Compare("in", A, ListExpr(()), negated=True)),
        ("$a CONTAINS 1", Compare("contains", A, ONE)),
        ("$a NOT CONTAINS 1", Compare("contains", A, ONE, negated=True)),
        ("$a starts_with 1", Compare("starts_with", A, ONE)),
        ("$a StartsWith 1", Compare("starts_with", A, ONE)),
        ("$a ENDS_WITH 1", Compare("ends_with", A, ONE)),
        ("$a MATCHES 'x'", Compare("matches", A, Literal("x"))),
        ("$a EXISTS", Exists(A)),
        ("$a NOT EXISTS", Exists(A, negated=True)),
        ("$a IS NULL", IsNull(A)),
        ("$a IS NOT NULL", IsNull(A, negated=True)),
        ("NOT $a EXISTS", Not(Exists(A))),
        ("$a EXISTS AND $b IS NULL", And((Exists(A), IsNull(B)))),
        ("len($a) > 1", Compare(">", Call("len", (A,)), ONE)),
        ("MAX($a, $b, 1)", Call("max", (A, B, ONE))),
        ("$a = 1", Compare("==", A, ONE)),
        ("$a <> 1", Compare("!=", A, ONE)),
        ("$a == running", Compare("==", A, Literal("running"))),
        ("$a == 'it''s'", None),
        ("$a.b[0]['c d']", Variable(("a", "b", 0, "c d"))),
        ("$a[-1]", Variable(("a", -1))),
        ("(($a))", A),
        ("TRUE", Literal(True)),
        ("Null", Literal(None)),
        ("85%", Literal(85)),
        ("1.5e3", Literal(1500.0)),
        ("5xx", Literal("5xx")),
        ("10.0.0.1", Literal("10.0.0.1")),
        ("us-east-1", Literal("us-east-1")),
        ("db.example.com", Literal("db.example.com")),
        ("'a\\nb'", Literal("a\nb")),
        ("'\\u00e9'", Literal("é")),
        ('"\\d+"', Literal("\\d+")),
        ("'\\'' == \"\\\"\"", Compare("==", Literal("'"), Literal('"'))),
        ("[]", ListExpr(())),
        ("[1, [2]]", ListExpr((ONE, ListExpr((TWO,))))),
    ],
)
def test_tree(text: str, tree: object) -> None:
    if tree is None:
        with pytest.raises(ConditionSyntaxError):
            parse(text)
        return
    assert parse(text) == tree


@pytest.mark.parametrize(
    "keyword_text",
    [
        "$a > 1 and $b < 2 or not $c",
        "$a > 1 AND $b < 2 OR NOT $c",
        "$a > 1 And $b < 2 Or Not $c",
        "$a > 1 aNd $b < 2 oR nOt $c",
        "$a > 1 && $b < 2 || !$c",
    ],
)
def test_keywords_in_any_case(keyword_text: str) -> None:
    assert parse(keyword_text) == parse("$a > 1 AND $b < 2 OR NOT $c")


@pytest.mark.parametrize(
    "text",
    [
        "$a in [1] and $b not in [2] and $c contains x and $d starts_with y",
        "$a IN [1] AND $b NOT IN [2] AND $c CONTAINS x AND $d STARTS_WITH y",
        "$a In [1] aND $b Not In [2] AND $c Contains x AND $d Starts_With y",
    ],
)
def test_membership_keywords_in_any_case(text: str) -> None:
    assert parse(text) == parse(
        "$a IN [1] AND $b NOT IN [2] AND $c CONTAINS x AND $d STARTS_WITH y"
    )


@pytest.mark.parametrize(
    "text",
    [
        "$metrics.cpu > 80 AND $status == running",
        "NOT ($a OR $b) AND -($c + 1) * 2 >= 3 / $d",
        "$a.b[0][\"c d\"] NOT IN [1, 'x', null, true] OR $e IS NOT NULL",
        "len(lower($s)) > 3 AND max($a, 1) == min($b) AND abs(-$c) < 1",
        "$a MATCHES '^x' OR $b NOT EXISTS OR $c ENDS_WITH z",
        "$a - ($b - $c) == $a - $b - $c",
        "($a == 1) == ($b == 2)",
        "(NOT $a) == true",
    ],
)
def test_to_source_round_trip(text: str) -> None:
    tree = parse(text)
    assert parse(to_source(tree)) == tree


# (text, column, fragment of the message)
SYNTAX_ERRORS: list[tuple[str, int, str]] = [
    ("", 1, "empty condition"),
    ("   ", 1, "empty condition"),
    ("$a >", 5, "unexpected end of expression at column 5, expected an operand"),
    ("($metrics.cpu > 80))", 20, "unexpected ')' at column 20"),
    ("$metrics.cpu > 80 AND )", 23, "unexpected ')' at column 23, expected an operand"),
    ("($a > 1", 8, "expected ')'"),
    ("$a > 1 $b", 8, "expected an operator, AND, OR or end of expression"),
    ("the database looks overloaded", 5, "unexpected 'database'"),
    ("$a < 1 < 2", 8, "comparisons cannot be chained"),
    ("$a == 1 == 2", 9, "comparisons cannot be chained"),
    ("$a EXISTS + 1", 11, "comparisons cannot be chained"),
    ("$a IS 1", 7, "expected NULL or NOT NULL after IS"),
    ("$a IS NOT 1", 11, "expected NULL or NOT NULL after IS"),
    ("$", 1, "'$' without a variable name"),
    ("$ a", 1, "'$' without a variable name"),
    ("$a.", 3, "expected a key name after '.'"),
    ("$a.b.", 5, "'.' without a key"),
    ("$a[x]", 4, "expected an integer index or a quoted key"),
    ("$a[1", 5, "expected ']'"),
    ("$a['k' x]", 8, "expected ']'"),
    ("'abc", 1, "unterminated string"),
    ('$a == "abc', 7, "unterminated string"),
    ("'\\u12'", 2, "invalid \\u escape"),
    ("'\\ud800'", 2, "invalid \\u escape"),
    ("$a & $b", 4, "expected '&&'"),
    ("$a | $b", 4, "expected '||'"),
    ("$a % 2", 4, "unexpected character '%'"),
    ("$a ? 1", 4, "unexpected character '?'"),
    ("$a == ;", 7, "unexpected character ';'"),
    ("foo($a)", 1, "unknown function 'foo'"),
    ("len()", 1, "len() given 0 arguments"),
    ("len($a, $b)", 1, "expected exactly 1 argument"),
    ("min()", 1, "expected at least 1 argument"),
    ("len($a", 7, "expected ',' or ')'"),
    ("[1, 2", 6, "expected ',' or ']'"),
    ("[1 2]", 4, "expected ',' or ']'"),
    ("$a IN", 6, "expected an operand"),
    ("AND $a", 1, "unexpected 'AND' at column 1, expected an operand"),
    ("$a AND OR $b", 8, "unexpected 'OR'"),
    ("$a == NOT $b", 7, "unexpected 'NOT' at column 7, expected an operand"),
    ("1 + NOT $b", 5, "unexpected 'NOT'"),
    ("$a NOT $b", 4, "unexpected 'NOT'"),
    ("$a NOT", 4, "unexpected 'NOT'"),
    ("()", 2, "unexpected ')' at column 2, expected an operand"),
    ("$a MATCHES '('", 12, "invalid regular expression"),
    ("$a MATCHES '(a)\\1'", 12, "invalid regular expression"),
    ("$a MATCHES '(?=x)'", 12, "invalid regular expression"),
    ("€", 1, "unexpected character '€'"),
    ("$a == 1\x00", 8, "unexpected character"),
]


@pytest.mark.parametrize(("text", "column", "fragment"), SYNTAX_ERRORS)
def test_syntax_errors(text: str, column: int, fragment: str) -> None:
    with pytest.raises(ConditionSyntaxError) as caught:
        parse(text)
    error = caught.value
    assert error.column == column, error.message
    assert fragment in error.message
    assert f"column {column}" in error.message
    assert isinstance(error, ConditionError)
    assert error.message == str(error)


def test_error_names_what_was_expected() -> None:
    with pytest.raises(ConditionSyntaxError) as caught:
        parse("$metrics.cpu > 80 AND )")
    assert caught.value.message == "unexpected ')' at column 23, expected an operand"
    assert caught.value.expected == "an operand"


def test_errors_survive_pickling() -> None:
    with pytest.raises(ConditionSyntaxError) as caught:
        parse("$a >")
    copy = pickle.loads(pickle.dumps(caught.value))  # noqa: S301 - our own object
    assert isinstance(copy, ConditionSyntaxError)
    assert (copy.message, copy.column, copy.expected) == (
        caught.value.message,
        caught.value.column,
        caught.value.expected,
    )
    limit = pickle.loads(pickle.dumps(ConditionLimitError("too long")))  # noqa: S301
    assert isinstance(limit, ConditionLimitError)
    assert limit.message == "too long"


def test_errors_are_invalid_input() -> None:
    from eyeflow_worker.core.errors import InvalidInput

    with pytest.raises(InvalidInput) as caught:
        parse("(")
    assert caught.value.code == "invalid_input"


def test_non_string_input() -> None:
    with pytest.raises(ConditionSyntaxError):
        parse(None)  # type: ignore[arg-type]
    with pytest.raises(ConditionSyntaxError):
        parse(b"$a")  # type: ignore[arg-type]


# --- limits ---------------------------------------------------------------------------------


def test_expression_length_limit() -> None:
    ok = "$a == " + "1" * (MAX_EXPRESSION_LENGTH - 6)
    parse(ok)
    with pytest.raises(ConditionLimitError, match="characters long"):
        parse(ok + "1")


def test_nesting_limit_parentheses() -> None:
    depth = MAX_NESTING_DEPTH
    parse("(" * depth + "$a" + ")" * depth)
    with pytest.raises(ConditionLimitError, match="nested too deeply"):
        parse("(" * (depth + 1) + "$a" + ")" * (depth + 1))


@pytest.mark.parametrize(
    "text",
    [
        "(" * 2000 + "1" + ")" * 2000,
        "(" * 4000,
        "[" * 3000,
        "NOT " * 1000 + "true",
        "!" * 4000 + "true",
        "-" * 4000 + "1",
        "len(" * 800 + "$a" + ")" * 800,
        "max(" * 800,
        "((((((((((" * 300,  # 3000 chars of '(' and more than the limit
    ],
)
def test_deep_nesting_is_a_limit_error_not_recursion(text: str) -> None:
    with pytest.raises(ConditionLimitError):
        parse(text)


def test_ten_thousand_parentheses() -> None:
    with pytest.raises(ConditionLimitError):
        parse("(" * 10_000 + "1" + ")" * 10_000)


def test_long_flat_chains_are_fine() -> None:
    # Long runs of same-precedence operators make one wide node, not a deep one.
    many_and = "&&".join(["1"] * 1300)
    tree = parse(many_and)
    assert isinstance(tree, And)
    assert len(tree.operands) == 1300
    sums = "+".join(["1"] * 1500)
    tree = parse(sums + " > 0")
    assert isinstance(tree, Compare)
    assert isinstance(tree.left, Arithmetic)
    assert len(tree.left.operands) == 1500


def test_regex_length_limit() -> None:
    parse("$a MATCHES '" + "a" * MAX_REGEX_LENGTH + "'")
    with pytest.raises(ConditionLimitError, match="regular expression"):
        parse("$a MATCHES '" + "a" * (MAX_REGEX_LENGTH + 1) + "'")


@pytest.mark.parametrize("text", ["1e400", "-1e400", "$a > 1.5e309", "9" * 4000 + ".0"])
def test_number_out_of_range(text: str) -> None:
    with pytest.raises(ConditionLimitError, match="too large"):
        parse(text)


def test_huge_integer_literal_is_exact() -> None:
    digits = "1" + "0" * 1000
    tree = parse(f"$a > {digits}")
    assert isinstance(tree, Compare)
    assert tree.right == Literal(10**1000)
    tree = parse("9" * 4000)
    assert tree == Literal(int("9" * 4000))
