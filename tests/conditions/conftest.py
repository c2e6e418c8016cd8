from __future__ import annotations

from typing import Any

import pytest

from eyeflow_worker.conditions import compile_condition, evaluate_condition


def make_context() -> dict[str, Any]:
    return {
        "metrics": {
            "cpu": 91.5,
            "mem": 40,
            "disk": "85",
            "load": "2.5",
            "zero": 0,
            "disks": [{"free": 5, "name": "sda"}, {"free": 50, "name": "sdb"}],
            "big": 10**30,
        },
        "status": "running",
        "name": "Web-01",
        "tags": ["prod", "eu", 3],
        "enabled": True,
        "disabled": False,
        "flag_str": "true",
        "off_str": "FALSE",
        "nothing": None,
        "empty": "",
        "empty_list": [],
        "count": 3,
        "code": 503,
        "code_str": "404",
        "pct": "85%",
        "obj": {"a": 1, "key with space": 7, "0": "zero", "b": {"c": [10, 20, 30]}},
        "unicode": "héllo wörld ☃",
        "ratio": 0.5,
        "neg": -4,
        "word": "abc",
        "numstr_a": "10",
        "numstr_b": "9",
        "ints": [3, 1, 2],
        "strs": ["b", "a", "c"],
        "mixed": [1, "a"],
        "nested": [[1, 2], [3]],
        "éclair": 1,
    }


@pytest.fixture
def ctx() -> dict[str, Any]:
    return make_context()


def assert_semantics(expression: str, expected: bool) -> None:
    """`expression` is `expected` in `make_context()`, on both paths: `evaluate` and `test`."""
    context = make_context()
    evaluation = evaluate_condition(expression, context)
    assert evaluation.result is expected, evaluation.explanation
    assert compile_condition(expression).test(context) is expected
