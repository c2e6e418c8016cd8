"""Parsing a JSON request body within bounds, refusing what nothing after the gateway can carry.

Parsing is what costs: `json.loads` of a 1 MiB body of empty lists builds ~350k Python objects
(~64 MB with the copies validation and storage make) before any validator sees them, and a body
nested half a million levels deep dies in the parser. So the raw text is measured first — a
body with few containers by C string counts alone, any other token by token (the regex engine
skips each string whole), stopping at the first bound crossed — and `json.loads` only ever sees
a body within bounds.

After parsing, two kinds of value JSON lets through are refused, each at its own location:
lone surrogates (`"\\ud800"`: not Unicode text, so encoding for Redis fails) and non-finite
numbers (`NaN`, `Infinity`, `1e999`: the task object holding them could not be serialised).
Looking for them walks the parsed body only when the text holds a surrogate (escaped, or as
bytes) or the parser met such a number, so an ordinary body pays one regex search.
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass
from typing import Any

Loc = tuple[str | int, ...]

# A string (escapes included) and the colon after it when it is an object key; an unterminated
# quote; an opening; a closing; anything else up to the next delimiter is one scalar (number,
# true, false, null — or something malformed, which counts the same and fails in the parser).
_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_TOKEN = re.compile(rf'({_STRING})(\s*:)?|(")|([\[{{])|([\]}}])|[^\s\[\]{{}},:"]+')
_VALUE_STRING, _KEY, _UNTERMINATED, _OPEN, _CLOSE = 1, 2, 3, 4, 5
# A surrogate escape, paired or not (the walk tells them apart).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
# Enough to show a caller everything wrong with one request, not a report of a hostile one.
_MAX_PROBLEMS = 10


@dataclass(frozen=True)
class JsonBounds:
    max_elements: int  # JSON values in the whole body; keys are not counted
    max_depth: int  # nesting inside any one top-level field (the field's own value: 0)


@dataclass(frozen=True)
class Problem:
    loc: Loc  # inside the body: ("intents", 3), ("aggregated_context",); () is the body itself
    message: str
    kind: str  # the error `type` callers see


class JsonRefused(ValueError):
    """The body cannot be accepted; `problems` says where and why (at least one)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.loc}: {p.message}" for p in problems))
        self.problems = problems


def parse_bounded(body: bytes, bounds: JsonBounds) -> Any:
    """The parsed body. Raises JsonRefused (bounds, lone surrogates, non-finite numbers, not
    UTF-8) or json.JSONDecodeError (not JSON), never anything built past the bounds."""
    raw_surrogates = False
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        # Surrogates encoded as bytes (ED A0..BF xx) come through, to be refused by location.
        text, raw_surrogates = _decode_with_surrogates(body), True
    text = text.removeprefix("\ufeff")
    crossed = _first_bound_crossed(text, bounds)
    if crossed is not None:
        raise JsonRefused([crossed])
    non_finite = False

    def number(literal: str) -> float:
        nonlocal non_finite
        value = float(literal)  # `1e999` overflows to inf; `NaN`/`Infinity` come as constants
        non_finite = non_finite or not math.isfinite(value)
        return value

    try:
        value = json.loads(text, parse_float=number, parse_constant=number)
    except json.JSONDecodeError:
        raise
    except ValueError:  # an integer past Python's conversion limit (4300 digits)
        message = f"a number with more than {sys.get_int_max_str_digits()} digits"
        raise JsonRefused([Problem((), message, "json_invalid")]) from None
    if non_finite or raw_surrogates or _SURROGATE_ESCAPE.search(text):
        problems = unstorable(value)
        if problems:
            raise JsonRefused(problems)
    return value


def _decode_with_surrogates(body: bytes) -> str:
    try:
        return body.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError as exc:
        message = f"not UTF-8 text (byte {exc.start})"
        raise JsonRefused([Problem((), message, "json_invalid")]) from None


def _first_bound_crossed(text: str, bounds: JsonBounds) -> Problem | None:
    """None when `text` is within bounds, else the first bound crossed and in which field."""
    if _surely_within(text, bounds):
        return None
    return _scan(text, bounds)


def _surely_within(text: str, bounds: JsonBounds) -> bool:
    """A quick verdict from C string counts alone, for the common bodies (few containers, however
    long their strings: a batch of 5000 intents). Counted on the raw text, brackets and commas
    inside strings included, so both figures can only be too high: valid JSON holds at most
    `commas + openings + 1` values, and nests no deeper than it has openings. False only means
    "look closer"."""
    openings = text.count("[") + text.count("{")
    if text.count(",") + openings + 1 > bounds.max_elements:
        return False
    # N openings nest a value at most N - 1 levels below its field (the body object is one).
    return openings <= bounds.max_depth + 1


def _scan(text: str, bounds: JsonBounds) -> Problem | None:
    """Count values and nesting token by token, stopping at the first bound crossed. Depth is
    counted from the top-level field: the body object is level 0, a field's value level 0 of
    that field, a value inside it level 1…"""
    depth = 0  # containers open around the current token
    values = 0
    field: Loc = ()
    for token in _TOKEN.finditer(text):
        kind = token.lastindex
        if kind == _CLOSE:
            depth -= 1
            continue
        if kind == _KEY:
            if depth == 1:
                field = _field(token.group(_VALUE_STRING))
            continue
        if kind == _UNTERMINATED:
            return None  # not JSON: the parser reports where
        values += 1
        if depth - 1 > bounds.max_depth:
            message = f"nested deeper than {bounds.max_depth} levels (MAX_JSON_DEPTH)"
            return Problem(field, message, "json_too_deep")
        if values > bounds.max_elements:
            message = (
                f"the request body holds more than {bounds.max_elements} JSON values "
                "(MAX_JSON_ELEMENTS)"
            )
            return Problem(field, message, "json_too_many_values")
        if kind == _OPEN:
            depth += 1
    return None


def _field(key: str) -> Loc:
    try:
        return (_readable(json.loads(key)),)
    except json.JSONDecodeError:
        return ()  # a malformed escape: the parser reports it


def unstorable(value: Any) -> list[Problem]:
    """Lone surrogates (in strings and keys) and non-finite numbers anywhere in `value`, in
    document order, at most ten. Recursive: only ever called within the depth bound."""
    problems: list[Problem] = []
    path: list[str | int] = []

    def visit(item: Any) -> None:
        if len(problems) >= _MAX_PROBLEMS:
            return
        if isinstance(item, str):
            _check_text(item, tuple(path), problems)
        elif isinstance(item, float):
            if not math.isfinite(item):
                message = f"only finite numbers are accepted (NaN, Infinity, 1e999…), got {item}"
                problems.append(Problem(tuple(path), message, "finite_number"))
        elif isinstance(item, dict):
            for key, child in item.items():
                path.append(_readable(key))
                _check_text(key, tuple(path), problems, what="key")
                visit(child)
                path.pop()
        elif isinstance(item, list):
            for index, child in enumerate(item):
                path.append(index)
                visit(child)
                path.pop()

    visit(value)
    return problems[:_MAX_PROBLEMS]


def _check_text(text: str, loc: Loc, problems: list[Problem], what: str = "text") -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        message = (
            f"the {what} holds a lone surrogate (U+{code:04X} at character {exc.start}): "
            "not Unicode text"
        )
        problems.append(Problem(loc, message, "string_unicode"))


def _readable(key: str) -> str:
    """A key as it can be shown in an error (a lone surrogate as its escape)."""
    return key.encode("utf-8", "backslashreplace").decode("utf-8")
