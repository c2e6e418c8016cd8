from __future__ import annotations

import pytest

from eyeflow_worker.rules.extract import ExtractionError, extract_json_object


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1}',
        '  \n{"a": 1}\n',
        '```json\n{"a": 1}\n```',
        '```\n{"a": 1}\n```',
        'Here are the rules:\n```json\n{"a": 1}\n```\nThey alert when {x} happens.',
        'Sure, I can do that {quickly}. {"a": 1} Hope this helps!',
        'Explanation first.\n\n{"a": 1}\n\nNote: the threshold is configurable.',
        '{"a": 1} {"b": 2}',
    ],
)
def test_extracts_the_object(text: str) -> None:
    assert extract_json_object(text) == {"a": 1}


def test_nested_braces_and_strings_with_braces() -> None:
    text = 'Result: {"a": {"b": "} tricky {"}, "c": [1, {"d": 2}]} trailing'
    assert extract_json_object(text) == {"a": {"b": "} tricky {"}, "c": [1, {"d": 2}]}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "The answer was empty"),
        ("   ", "The answer was empty"),
        ("no json here", "contains no JSON object"),
        ('{"a": {"b": 1', "is truncated"),
        ('```json\n{"rules": [{"name": "x"', "is truncated"),
        ('Here:\n{"a": 1,}', "Invalid JSON: Expecting property name enclosed in double quotes"),
        ("[1, 2]", "is a JSON array"),
        ('{"a": {"b": 1}, }', "Invalid JSON"),
    ],
)
def test_failures_are_explained(text: str, message: str) -> None:
    with pytest.raises(ExtractionError) as caught:
        extract_json_object(text)
    assert message in caught.value.message


def test_truncation_reports_position() -> None:
    with pytest.raises(ExtractionError, match="line 2 column 1"):
        extract_json_object('Here you go:\n{"workflow_name": "x", "rules": [')


def test_inner_object_of_malformed_document_is_not_returned() -> None:
    # The outer object is broken; its inner {"b": 1} must not be mistaken for the answer.
    with pytest.raises(ExtractionError, match="Invalid JSON"):
        extract_json_object('{"a": {"b": 1} "c": 2}')
