"""What no catalogue reading may do: crash on a payload nested deeper than any catalogue, or on
a lone surrogate when its size is measured."""

from __future__ import annotations

from typing import Any

from eyeflow_worker.core.catalogue_reader import read_catalogue
from eyeflow_worker.core.catalogue_shapes import MAX_DEPTH, json_size, too_deep


def _nested(levels: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    cursor = root
    for _ in range(levels):
        cursor["x"] = {}
        cursor = cursor["x"]
    return root


def test_a_deep_payload_reads_as_an_empty_catalogue_with_the_reason() -> None:
    reading = read_catalogue({"variables": ["$a"], "extra_field": _nested(5000)})
    assert reading.catalogue.variables == ()
    assert reading.warnings[0] == f"<root>: nested deeper than {MAX_DEPTH} levels; not read"


def test_depth_is_measured_exactly() -> None:
    assert not too_deep(_nested(MAX_DEPTH))
    assert too_deep(_nested(MAX_DEPTH + 1))
    assert not too_deep({"variables": [["a", ["b"]]]})


def test_a_lone_surrogate_is_measured_not_raised() -> None:
    assert json_size({"v": "\ud800"}) == len('{"v":""}') + 3
