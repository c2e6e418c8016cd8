"""Table-driven semantics of the word operators: EXISTS, IS NULL, IN, CONTAINS,
STARTS_WITH / ENDS_WITH and MATCHES, with their NOT forms."""

from __future__ import annotations

import pytest

from .conftest import assert_semantics

# (expression, expected result)
CASES: list[tuple[str, bool]] = [
    # --- EXISTS / IS NULL ---
    ("$status EXISTS", True),
    ("$nothing EXISTS", True),
    ("$missing EXISTS", False),
    ("$missing NOT EXISTS", True),
    ("$status NOT EXISTS", False),
    ("$metrics.disks[1].free EXISTS", True),
    ("$metrics.disks[2].free EXISTS", False),
    ("$nothing IS NULL", True),
    ("$missing IS NULL", True),
    ("$status IS NULL", False),
    ("$nothing IS NOT NULL", False),
    ("$missing IS NOT NULL", False),
    ("$status IS NOT NULL", True),
    ("$status is not null", True),
    ("$metrics.cpu / 0 IS NULL", False),
    ("$metrics.cpu / 0 IS NOT NULL", False),
    ("$metrics.cpu / 0 EXISTS", False),
    ("len($missing) EXISTS", False),
    ("$missing exists", False),
    # --- IN / NOT IN ---
    ("$status IN [running, stopped]", True),
    ("$status IN ['stopped', 'failed']", False),
    ("$status NOT IN ['stopped', 'failed']", True),
    ("$status NOT IN [running]", False),
    ("$status in []", False),
    ("$status not in []", True),
    ("$count IN [1, 2, 3]", True),
    ("$code_str IN [404, 500]", True),
    ("$count IN ['3']", True),
    ("3 IN $tags", True),
    ("prod IN $tags", True),
    ("asia IN $tags", False),
    ("'run' IN $status", True),
    ("'xyz' IN $status", False),
    ("a IN $obj", True),
    ("z IN $obj", False),
    ("$count IN $count", False),
    ("$count NOT IN $count", False),
    ("$status IN [$word, running]", True),
    ("$status IN [$missing, running]", True),
    ("$status IN [$missing]", False),
    ("[1, 2] IN [[1, 2], [3]]", True),
    ("$enabled IN [true]", True),
    ("$enabled IN ['true']", True),
    ("null IN [null]", True),
    ("$nothing IN [1, null]", True),
    ("$count IN [1, 2, 3,]", True),
    # --- CONTAINS ---
    ("$tags CONTAINS prod", True),
    ("$tags CONTAINS 3", True),
    ("$tags CONTAINS '3'", True),
    ("$tags CONTAINS asia", False),
    ("$tags NOT CONTAINS asia", True),
    ("$name CONTAINS Web", True),
    ("$name CONTAINS web", False),
    ("lower($name) CONTAINS web", True),
    ("$unicode CONTAINS 'wörld'", True),
    ("$obj CONTAINS a", True),
    ("$obj CONTAINS 'key with space'", True),
    ("$count CONTAINS 3", False),
    ("$count NOT CONTAINS 3", False),
    ("$code_str CONTAINS 40", True),
    ("$nested CONTAINS [3]", True),
    ("$status contains ''", True),
    # --- STARTS_WITH / ENDS_WITH ---
    ("$name STARTS_WITH Web", True),
    ("$name STARTS_WITH web", False),
    ("$name NOT STARTS_WITH web", True),
    ("$name ENDS_WITH '01'", True),
    ("$name ENDS_WITH 1", True),
    ("$name NOT ENDS_WITH 1", False),
    ("$code STARTS_WITH 5", True),
    ("$code ENDS_WITH '03'", True),
    ("$tags STARTS_WITH p", False),
    ("$name startswith Web", True),
    ("$name EndsWith '-01'", True),
    ("$name starts_with ''", True),
    # --- MATCHES (RE2, unanchored search) ---
    ("$name MATCHES '^Web-\\d+$'", True),
    ("$name MATCHES 'eb'", True),
    ("$name MATCHES '^eb'", False),
    ("$name NOT MATCHES '^eb'", True),
    ("$name MATCHES '(?i)^web'", True),
    ("$code MATCHES '^5\\d\\d$'", True),
    ("$unicode MATCHES 'w.rld'", True),
    ("$tags MATCHES 'prod'", False),
    ("$name MATCHES $word", False),
    ("abc MATCHES $word", True),
    ("$name matches 'Web|App'", True),
]


@pytest.mark.parametrize(("expression", "expected"), CASES)
def test_operator_semantics(expression: str, expected: bool) -> None:
    assert_semantics(expression, expected)
