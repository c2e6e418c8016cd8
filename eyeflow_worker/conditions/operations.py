"""The operators and functions on already-evaluated values.

Binary tests return True/False, or None for a type mismatch (the test is then false), or an
EvalError (e.g. a bad dynamic regex). Their callers deal with MISSING and EvalError operands
before calling them. Arithmetic and functions return a value, MISSING or an EvalError.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, Final

from .limits import MAX_INT_BITS
from .regex import PatternError, compile_pattern
from .values import (
    MISSING,
    EvalError,
    as_text,
    equal,
    is_list,
    is_object,
    normalize,
    order,
    to_number,
    type_name,
)

TestResult = bool | None | EvalError
BinaryTest = Callable[[Any, Any], TestResult]

_ORDERINGS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def _ordering(op: str) -> BinaryTest:
    compare = _ORDERINGS[op]

    def test(left: Any, right: Any) -> TestResult:
        pair = order(left, right)
        if pair is None:
            return None
        return compare(pair[0], pair[1])

    return test


def test_equal(left: Any, right: Any) -> TestResult:
    return equal(left, right)


def test_not_equal(left: Any, right: Any) -> TestResult:
    return not equal(left, right)


def test_contains(container: Any, item: Any) -> TestResult:
    """String: substring. List: an element equals the item. Object: the item is a key."""
    if type(container) is str:
        text = as_text(item)
        return None if text is None else text in container
    if is_list(container):
        item = normalize(item)
        return any(equal(normalize(element), item) for element in container)
    if is_object(container):
        if type(item) is str or type(item) is int:
            return item in container
        return None
    return None


def test_in(item: Any, container: Any) -> TestResult:
    return test_contains(container, item)


def test_starts_with(left: Any, right: Any) -> TestResult:
    text, prefix = as_text(left), as_text(right)
    if text is None or prefix is None:
        return None
    return text.startswith(prefix)


def test_ends_with(left: Any, right: Any) -> TestResult:
    text, suffix = as_text(left), as_text(right)
    if text is None or suffix is None:
        return None
    return text.endswith(suffix)


def test_matches(left: Any, right: Any) -> TestResult:
    """Unanchored RE2 search of the pattern on the right in the text on the left."""
    text = as_text(left)
    if text is None or type(right) is not str:
        return None
    try:
        pattern = compile_pattern(right)
    except PatternError as exc:
        return EvalError(str(exc))
    return _search(pattern.search, text)


def _search(search: Any, text: str) -> TestResult:
    # RE2 works on UTF-8: a lone surrogate from the context cannot be encoded. That makes this
    # one test an error (false, explained), never the whole condition.
    try:
        return search(text) is not None
    except UnicodeError:
        return EvalError("text is not valid Unicode (a lone surrogate) and cannot be matched")


def matcher_for(pattern: Any) -> BinaryTest:
    """MATCHES against a pattern known at compile time (already validated by the parser)."""
    compiled = compile_pattern(pattern)
    search = compiled.search

    def test(left: Any, _right: Any) -> TestResult:
        text = left if type(left) is str else as_text(left)
        if text is None:
            return None
        return _search(search, text)

    return test


BINARY_TESTS: Final[dict[str, BinaryTest]] = {
    "==": test_equal,
    "!=": test_not_equal,
    ">": _ordering(">"),
    ">=": _ordering(">="),
    "<": _ordering("<"),
    "<=": _ordering("<="),
    "in": test_in,
    "contains": test_contains,
    "starts_with": test_starts_with,
    "ends_with": test_ends_with,
    "matches": test_matches,
}


# --- arithmetic ---------------------------------------------------------------------------


def _first_problem(*values: Any) -> Any:
    for value in values:
        if value is MISSING or type(value) is EvalError:
            return value
    return None


def _check_int(result: int | float) -> int | float | EvalError:
    if type(result) is int and result.bit_length() > MAX_INT_BITS:
        return EvalError(f"integer result too large (over {MAX_INT_BITS} bits)")
    return result


def arithmetic(op: str, left: Any, right: Any) -> Any:
    problem = _first_problem(left, right)
    if problem is not None:
        return problem
    x, y = to_number(left), to_number(right)
    if x is None or y is None:
        return EvalError(f"cannot compute {type_name(left)} {op} {type_name(right)}")
    try:
        if op == "+":
            return _check_int(x + y)
        if op == "-":
            return _check_int(x - y)
        if op == "*":
            if (
                type(x) is int
                and type(y) is int
                and x.bit_length() + y.bit_length() > MAX_INT_BITS + 1
            ):
                return EvalError(f"integer result too large (over {MAX_INT_BITS} bits)")
            return _check_int(x * y)
        if y == 0:
            return EvalError("division by zero")
        return x / y
    except (OverflowError, ValueError, ArithmeticError):
        return EvalError(f"numeric overflow in {op}")


def negate(value: Any) -> Any:
    if value is MISSING or type(value) is EvalError:
        return value
    number = to_number(value)
    if number is None:
        return EvalError(f"cannot negate a {type_name(value)}")
    return -number


# --- functions ----------------------------------------------------------------------------


def fn_len(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is list or kind is dict:
        return len(value)
    if is_list(value) or is_object(value):
        try:
            return len(value)
        except Exception:
            return EvalError("len() failed")
    return EvalError(f"len() needs a string, list or object, got {type_name(value)}")


def fn_lower(value: Any) -> Any:
    if type(value) is str:
        return value.lower()
    return EvalError(f"lower() needs a string, got {type_name(value)}")


def fn_upper(value: Any) -> Any:
    if type(value) is str:
        return value.upper()
    return EvalError(f"upper() needs a string, got {type_name(value)}")


def fn_abs(value: Any) -> Any:
    number = to_number(value)
    if number is None:
        return EvalError(f"abs() needs a number, got {type_name(value)}")
    return abs(number)


def _extreme(name: str, pick: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    items: list[Any]
    if len(args) == 1 and is_list(args[0]):
        try:
            items = [normalize(item) for item in args[0]]
        except Exception:
            return EvalError(f"{name}() could not read the list")
        problem = _first_problem(*items)
        if problem is not None:
            return EvalError(f"{name}() got a list with a missing or failed element")
    else:
        items = list(args)
    if not items:
        return EvalError(f"{name}() of an empty list")
    numbers = [to_number(item) for item in items]
    if all(number is not None for number in numbers):
        return pick(numbers)
    if all(type(item) is str for item in items):
        return pick(items)
    return EvalError(f"{name}() needs all numbers or all strings")


def fn_min(*args: Any) -> Any:
    return _extreme("min", min, args)


def fn_max(*args: Any) -> Any:
    return _extreme("max", max, args)


FUNCTION_IMPLS: Final[dict[str, Callable[..., Any]]] = {
    "len": fn_len,
    "lower": fn_lower,
    "upper": fn_upper,
    "abs": fn_abs,
    "min": fn_min,
    "max": fn_max,
}


def call(name: str, args: tuple[Any, ...]) -> Any:
    problem = _first_problem(*args)
    if problem is not None:
        return problem
    return FUNCTION_IMPLS[name](*args)
