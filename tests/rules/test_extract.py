from __future__ import annotations

import json

import pytest

from eyeflow_worker.rules.extract import ExtractionError, extract_json_object
from eyeflow_worker.rules.service import generate_rules

from .scripted import GOOD, ScriptedProvider, with_action


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


def _nested(depth: int) -> str:
    return '{"a": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


@pytest.mark.parametrize(
    "text",
    [
        '{"a":' + "[" * 100_000,  # cut off, and deeper than the decoder's recursion
        _nested(3000),  # valid JSON, deeper than the decoder's recursion
        "Here it is: " + _nested(3000) + " done",
        "```json\n" + _nested(3000) + "\n```",
        "[" * 100_000,
        _nested(65),  # decodes, but deeper than anything a rules document needs
    ],
)
def test_deep_nesting_is_an_extraction_error(text: str) -> None:
    with pytest.raises(ExtractionError, match="nested too deeply"):
        extract_json_object(text)


def test_nesting_up_to_the_limit_is_accepted() -> None:
    value = extract_json_object(_nested(64))
    assert isinstance(value["a"], list)


def test_deep_nesting_goes_through_repair_not_past_it() -> None:
    llm = ScriptedProvider([_nested(3000), GOOD])
    result = generate_rules(llm, "alert on high cpu", None, max_repair_attempts=1)
    assert result["attempts"] == 2
    assert "nested too deeply" in llm.requests[1].messages[-1].content


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('{"a": NaN}', "NaN"),
        ('{"a": {"b": Infinity}}', "Infinity"),
        ('```json\n{"a": [1, -Infinity]}\n```', "-Infinity"),
        ('Here: {"a": 1e999}', "1e999"),
        ('{"a": ' + "9" * 5000 + "}", "99999999999999999999…"),
    ],
)
def test_non_finite_numbers_are_extraction_errors(text: str, named: str) -> None:
    with pytest.raises(ExtractionError) as caught:
        extract_json_object(text)
    assert caught.value.message.startswith(f"Invalid JSON: {named} is not a JSON number")
    assert "null where a value is unknown" in caught.value.message


def test_nan_goes_through_repair() -> None:
    bad = json.dumps(
        with_action({"action": "SCALE_SERVICE", "params": {"service": "web", "replicas": 2}})
    ).replace('"replicas": 2', '"replicas": NaN')
    assert "NaN" in bad
    llm = ScriptedProvider([bad, GOOD])
    result = generate_rules(llm, "scale web", None, max_repair_attempts=1)
    assert result["attempts"] == 2
    assert "Invalid JSON: NaN is not a JSON number" in llm.requests[1].messages[-1].content
