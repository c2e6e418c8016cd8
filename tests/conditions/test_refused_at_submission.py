"""A malformed condition that is clearly an expression is a 422 at submission, naming the column
and what was expected; plain English and valid expressions are accepted (202), English for the
LLM. The rule is `eyeflow_worker/conditions/syntax_check.py` (docs/conditions.md)."""

from __future__ import annotations

import pickle
from collections.abc import Iterator

import pytest

from eyeflow_worker.conditions import ConditionSyntaxError, looks_like_expression, parse
from eyeflow_worker.conditions.errors import UnexpectedCharacter
from eyeflow_worker.conditions.lexer import tokenize
from eyeflow_worker.conditions.syntax_check import malformed_expression
from tests.api_gateway.submit_helpers import Gateway, gateway

EVALUATE = "/api/conditions/evaluate"

# (condition, column the 422 names, what it says was expected)
CLEARLY_MALFORMED = [
    ("$metrics.cpu >> 80 AND", 15, "expected an operand"),
    ("$metrics.cpu > 80 AND", 22, "expected an operand"),
    ("$metrics.cpu > (80 AND $x", 26, "expected ')'"),
    ("$a == 1 $b == 2", 9, "expected an operator, AND, OR or end of expression"),
    ("1 < $x < 5", 8, "expected AND, OR or parentheses"),
    ("$status == 'down", 12, "expected a closing '"),
    ("$a[x] > 1", 4, "expected an integer index or a quoted key"),
    ("$metrics. > 80", 9, "expected a key name after '.'"),
    ('$host MATCHES "("', 15, "invalid regular expression"),
    ("foo($a) > 1", 1, "expected one of abs, len, lower, max, min, upper"),
    ("len($a, $b) > 1", 1, "expected exactly 1 argument"),
    ("$a IS 5", 7, "expected NULL or NOT NULL after IS"),
    ("cpu usage > 80%", 5, "expected an operator, AND, OR or end of expression"),
    ("a = = 1", 5, "expected an operand"),
]

PLAIN_ENGLISH = [
    "cpu is above 80 percent",
    "the database looks overloaded",
    "notify me when the disk is almost full",
    "is cpu > 80?",  # '?' begins no token of the language
    "CPU is high; memory > 90 too",  # ';' likewise
    "it's > 5 now",  # the apostrophe opens a string never closed, before any operator
    "the bill is over $500",  # `$500` is money, not a variable
    "price is $ 5",
    "not ready",
    "ready and steady",
    "Alert when memory exceeds 85% (for 5 minutes)",
]

VALID = [
    "$metrics.cpu > 80",
    '$metrics.cpu > 80% AND ($status == running OR $alerts CONTAINS "disk")',
    "1 < 2",
    "$a",
    "a && b",
    "status = running",
    "$tags CONTAINS prod AND len($tags) >= 2",
    "$host MATCHES '^db-\\d+$'",
    '$x == "it\'s > 5"',
]


@pytest.fixture(scope="module")
def gw() -> Iterator[Gateway]:
    with gateway() as here:
        yield here


@pytest.mark.parametrize(("condition", "column", "expected"), CLEARLY_MALFORMED)
def test_a_clearly_malformed_expression_is_a_422_with_the_column(
    gw: Gateway, condition: str, column: int, expected: str
) -> None:
    refused = gw.post(EVALUATE, {"condition": condition, "context": {}})

    assert refused.status_code == 422, refused.text
    [issue] = refused.json()["detail"]
    assert issue["loc"] == ["body", "condition"]
    assert issue["type"] == "condition_syntax"
    assert issue["msg"].startswith("not a valid condition: ")
    assert f"at column {column}" in issue["msg"]
    assert expected in issue["msg"]


@pytest.mark.parametrize("condition", PLAIN_ENGLISH + VALID)
def test_plain_english_and_valid_expressions_are_accepted(gw: Gateway, condition: str) -> None:
    accepted = gw.post(EVALUATE, {"condition": condition, "context": {"a": 1}})

    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["task_id"] in gw.sent


def test_too_deep_nesting_is_refused_with_the_limit(gw: Gateway) -> None:
    condition = "(" * 70 + "$a > 1" + ")" * 70
    refused = gw.post(EVALUATE, {"condition": condition, "context": {}})

    assert refused.status_code == 422
    assert "nested too deeply" in refused.json()["detail"][0]["msg"]


@pytest.mark.parametrize(("condition", "column", "expected"), CLEARLY_MALFORMED)
def test_what_is_refused_would_have_failed_in_the_job(
    condition: str, column: int, expected: str
) -> None:
    # The evaluate job reads it as an expression too (so it would have parsed and failed):
    # refusing it at submission only moves a certain failure earlier.
    assert looks_like_expression(condition) is True
    problem = malformed_expression(condition)
    assert isinstance(problem, ConditionSyntaxError)
    assert problem.column == column
    assert expected in problem.message


def test_valid_and_english_texts_have_no_problem() -> None:
    assert [malformed_expression(text) for text in PLAIN_ENGLISH + VALID] == [None] * len(
        PLAIN_ENGLISH + VALID
    )


def test_lexer_errors_say_what_was_read_before_and_still_pickle() -> None:
    with pytest.raises(ConditionSyntaxError) as caught:
        tokenize("$a == 'open")
    error = caught.value
    assert error.token_column == 7
    assert [t.text for t in error.tokens_before or ()] == ["$a", "=="]
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object
    assert (copy.message, copy.column, copy.expected) == (error.message, 7, "a closing '")
    assert copy.tokens_before is None


def test_an_unexpected_character_is_its_own_kind_of_syntax_error() -> None:
    with pytest.raises(UnexpectedCharacter) as caught:
        parse("$a > 1 ?")
    assert caught.value.column == 8
    assert caught.value.message == "unexpected character '?' at column 8, expected an operand"
