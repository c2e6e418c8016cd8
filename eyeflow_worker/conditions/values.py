"""Value semantics: missing values, evaluation errors, coercion, equality, ordering, truth.

Context values are mapped onto the language's types: number (int/float, never bool), string,
boolean, null, list (any non-string sequence) and object (any mapping). Everything else is an
opaque value that only equals itself.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from .limits import MAX_COMPARE_DEPTH, MAX_NUMERIC_STRING_LENGTH, MAX_VALUE_CHARS


class _Missing:
    """The value of a variable whose path does not resolve."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()


@dataclass(frozen=True, slots=True)
class EvalError:
    """A value standing for a failed computation (division by zero, bad types, overflow)."""

    message: str


NUMBER_TYPES: Final = (int, float)
_PLAIN_TYPES: Final = frozenset({str, int, float, bool, type(None), dict, list})
_NUMERIC_RE: Final = re.compile(
    r"\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*%?\s*", re.ASCII
)


def normalize(value: Any) -> Any:
    """Map a context value onto the language's types (cheap for the usual JSON types)."""
    if type(value) in _PLAIN_TYPES:
        return value
    try:
        if isinstance(value, bool):
            return bool(value)
        if isinstance(value, str):
            return str.__str__(value)
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, numbers.Real | Decimal):
            return float(value)
    except Exception:
        return value
    return value


def is_list(value: Any) -> bool:
    return type(value) is list or (
        isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)
    )


def is_object(value: Any) -> bool:
    return type(value) is dict or isinstance(value, Mapping)


def parse_number(text: str) -> int | float | None:
    """The number a numeric-looking string stands for ("91.5", " 12 ", "85%"), else None."""
    if len(text) > MAX_NUMERIC_STRING_LENGTH:
        return None
    match = _NUMERIC_RE.fullmatch(text)
    if match is None:
        return None
    digits = match.group(1)
    if "." in digits or "e" in digits or "E" in digits:
        return float(digits)
    return int(digits)


def to_number(value: Any) -> int | float | None:
    """A number, or a numeric-looking string converted; None for anything else (bools too)."""
    kind = type(value)
    if kind is int or kind is float:
        return value  # type: ignore[no-any-return]
    if kind is str:
        return parse_number(value)
    return None


def parse_bool(text: str) -> bool | None:
    lowered = text.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    return None


def type_name(value: Any) -> str:
    kind = type(value)
    if kind is bool:
        return "boolean"
    if kind is int or kind is float:
        return "number"
    if kind is str:
        return "string"
    if value is None:
        return "null"
    if value is MISSING:
        return "missing"
    if kind is EvalError:
        return "error"
    if is_object(value):
        return "object"
    if is_list(value):
        return "list"
    return kind.__name__


def truth(value: Any) -> bool:
    """Truthiness in a boolean position (a bare `$flag`, an operand of AND/OR/NOT)."""
    if value is True:
        return True
    if value is False or value is None:
        return False
    kind = type(value)
    if kind is int:
        return value != 0  # type: ignore[no-any-return]
    if kind is float:
        return not math.isnan(value) and value != 0
    if kind is str:
        flag = parse_bool(value)
        if flag is not None:
            return flag
        number = parse_number(value)
        if number is not None:
            return truth(number)
        return bool(value)
    if value is MISSING or kind is EvalError:
        return False
    try:
        if is_object(value) or is_list(value):
            return len(value) > 0
    except Exception:
        return False
    return False


def equal(left: Any, right: Any, depth: int = 0) -> bool:
    """`==`: same type and value; a number equals a numeric-looking string of that number; a
    boolean equals the string "true"/"false"; lists and objects compare element by element.

    The scalar cases, by far the commonest, are decided here without a further call; lists,
    objects and values of foreign types go on to `_equal_structures`.
    """
    lkind = type(left)
    rkind = type(right)
    if lkind is rkind and (lkind is str or lkind is int or lkind is float or lkind is bool):
        return left == right  # type: ignore[no-any-return]
    lnum = lkind is int or lkind is float
    rnum = rkind is int or rkind is float
    if lnum and rnum:
        return left == right  # type: ignore[no-any-return]
    if lnum and rkind is str:
        return bool(parse_number(right) == left)
    if rnum and lkind is str:
        return bool(parse_number(left) == right)
    if lkind is bool and rkind is str:
        return parse_bool(right) is left
    if rkind is bool and lkind is str:
        return parse_bool(left) is right
    if left is None or right is None:
        return left is right
    return _equal_structures(left, right, lkind, rkind, depth)


def _equal_structures(left: Any, right: Any, lkind: type, rkind: type, depth: int) -> bool:
    """The rest of `equal`: foreign types normalized first, then lists and objects element by
    element (at most MAX_COMPARE_DEPTH deep); anything else only equals itself."""
    if lkind not in _PLAIN_TYPES or rkind not in _PLAIN_TYPES:
        nleft, nright = normalize(left), normalize(right)
        if type(nleft) is not lkind or type(nright) is not rkind:
            return equal(nleft, nright, depth)
    if depth >= MAX_COMPARE_DEPTH:
        return False
    if is_list(left) and is_list(right):
        if len(left) != len(right):
            return False
        return all(equal(a, b, depth + 1) for a, b in zip(left, right, strict=True))
    if is_object(left) and is_object(right):
        if len(left) != len(right):
            return False
        for key, value in left.items():
            if key not in right or not equal(value, right[key], depth + 1):
                return False
        return True
    return left is right


def order(left: Any, right: Any) -> tuple[Any, Any] | None:
    """The pair to compare with < <= > >=, or None when the types cannot be ordered.

    Numbers order numerically, numeric-looking strings included (when both sides are numbers or
    numeric-looking strings); other strings order by code point; nothing else orders.
    """
    lnum = to_number(left)
    if lnum is not None:
        rnum = to_number(right)
        if rnum is not None:
            return lnum, rnum
    if type(left) is str and type(right) is str:
        return left, right
    return None


def as_text(value: Any) -> str | None:
    """A string operand of CONTAINS/STARTS_WITH/ENDS_WITH/MATCHES: strings as-is, numbers
    in their usual decimal form, anything else None."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is int:
        try:
            return str(value)
        except ValueError:  # more digits than Python will print
            return None
    if kind is float:
        return repr(value)
    return None


def format_value(value: Any, limit: int = MAX_VALUE_CHARS, depth: int = 0) -> str:
    """A short, bounded rendering of a value for explanations (never calls foreign __repr__).

    Scalars, what explanations show nearly always, are rendered here without a further call;
    lists, objects and foreign values go on to `_format_structure`.
    """
    kind = type(value)
    if value is MISSING:
        return "missing"
    if kind is EvalError:
        return "error: " + _clip(value.message, 100)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        if value.bit_length() > 4000:
            return f"<{value.bit_length()}-bit integer>"
        return _clip(str(value), limit)
    if kind is float:
        return _clip(repr(value), limit)
    if kind is str:
        clipped = value[:limit]
        return repr(clipped) + ("…" if len(value) > limit else "")
    return _format_structure(value, kind, limit, depth)


def _format_structure(value: Any, kind: type, limit: int, depth: int) -> str:
    """The rest of `format_value`: objects as `{k: v, …}`, lists as `[a, …]` (two levels deep
    at most), anything else, or anything that fails to be read, as `<type name>`.

    Each loop stops at the first part that would pass `limit`, so what lies past it is never
    even formatted. (The two loops are alike but kept apart: a shared helper fed by a generator
    made formatting a list or an object a quarter slower.)
    """
    if depth >= 2:
        return "[…]" if is_list(value) else "{…}" if is_object(value) else "<…>"
    try:
        if is_object(value):
            parts = []
            used = 0
            for key, item in value.items():
                part = f"{format_value(key, 12, depth + 1)}: {format_value(item, 12, depth + 1)}"
                used += len(part) + 2
                if used > limit:
                    parts.append("…")
                    break
                parts.append(part)
            return "{" + ", ".join(parts) + "}"
        if is_list(value):
            parts = []
            used = 0
            for item in value:
                part = format_value(item, 12, depth + 1)
                used += len(part) + 2
                if used > limit:
                    parts.append("…")
                    break
                parts.append(part)
            return "[" + ", ".join(parts) + "]"
    except Exception:
        return f"<{kind.__name__}>"
    return f"<{kind.__name__}>"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
