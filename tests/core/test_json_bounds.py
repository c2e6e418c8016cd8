"""The raw-text bounds agree with the parsed value exactly (hypothesis: any JSON body, strings
full of brackets, commas, quotes and escapes included): a body at its bounds parses to what
`json.loads` gives, one value or one level less is refused naming the field; and what the
parser lets through but nothing downstream can store is refused at its place."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from eyeflow_worker.core.json_bounds import JsonBounds, JsonRefused, parse_bounded

_TEXT = st.text(alphabet=st.sampled_from('ab "\\[]{},:\n\té😀'), max_size=8)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT
)
_VALUES = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4)
)
_BODIES = st.dictionaries(_TEXT, _VALUES, max_size=5)
_ROOMY = 10**6


def _children(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return list(value.values())
    return value if isinstance(value, list) else []


def _count(value: Any) -> int:
    return 1 + sum(_count(child) for child in _children(value))


def _depth(value: Any) -> int:
    """How many levels below itself `value` holds values (0 for a scalar or an empty one)."""
    children = _children(value)
    return 1 + max(_depth(child) for child in children) if children else 0


@settings(max_examples=300, deadline=None)
@given(body=_BODIES, ascii_only=st.booleans())
# Closing brackets inside strings once fooled a shortcut into reading this as shallower.
@example(body={"": [{"]]": None}, {"}": [None], "[[[": None}]}, ascii_only=False)
def test_the_bounds_are_exact_on_any_body(body: dict[str, Any], ascii_only: bool) -> None:
    raw = json.dumps(body, ensure_ascii=ascii_only).encode()
    values, depth = _count(body), max((_depth(v) for v in body.values()), default=0)

    assert parse_bounded(raw, JsonBounds(values, depth)) == json.loads(raw)
    with pytest.raises(JsonRefused) as too_many:
        parse_bounded(raw, JsonBounds(values - 1, _ROOMY))
    assert too_many.value.problems[0].kind == "json_too_many_values"
    if depth > 0:
        with pytest.raises(JsonRefused) as too_deep:
            parse_bounded(raw, JsonBounds(_ROOMY, depth - 1))
        (problem,) = too_deep.value.problems
        assert problem.kind == "json_too_deep"
        assert problem.loc[0] in body
        assert _depth(body[str(problem.loc[0])]) == depth


@pytest.mark.parametrize(
    ("raw", "loc", "kind"),
    [
        (rb'{"a": ["ok", "\ud800"]}', ("a", 1), "string_unicode"),
        (rb'{"a": {"\udfff": 1}}', ("a", "\\udfff"), "string_unicode"),
        (b'{"a": "\xed\xb0\x80"}', ("a",), "string_unicode"),
        (b'{"a": [1, NaN]}', ("a", 1), "finite_number"),
        (b'{"a": {"b": -Infinity}}', ("a", "b"), "finite_number"),
        (b'{"a": 1e400}', ("a",), "finite_number"),
        (b'{"a": "\xff"}', (), "json_invalid"),
    ],
)
def test_what_nothing_downstream_can_store_is_refused_at_its_place(
    raw: bytes, loc: tuple[Any, ...], kind: str
) -> None:
    with pytest.raises(JsonRefused) as refused:
        parse_bounded(raw, JsonBounds(_ROOMY, 32))
    (problem,) = refused.value.problems
    assert (problem.loc, problem.kind) == (loc, kind)


def test_pairs_escaped_text_and_a_bom_are_fine() -> None:
    raw = '\ufeff{"a": "\\ud83d\\ude00", "b": "\\u00e9\\"[,]", "c": 1e308}'.encode()
    assert parse_bounded(raw, JsonBounds(10, 1)) == {"a": "😀", "b": 'é"[,]', "c": 1e308}


def test_malformed_json_is_left_to_the_parser() -> None:
    for raw in (b'{"a": "unterminated', b'{"a": [1, 2}', b'{"\\q": 1}'):
        with pytest.raises(json.JSONDecodeError):
            parse_bounded(raw, JsonBounds(_ROOMY, 32))
