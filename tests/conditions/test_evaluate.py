"""Table-driven semantics: every operator, coercion rule, missing-variable rule and function."""

from __future__ import annotations

import pytest

from eyeflow_worker.conditions import compile_condition, evaluate_condition

from .conftest import make_context

# (expression, expected result)
CASES: list[tuple[str, bool]] = [
    # --- literals and truthiness ---
    ("true", True),
    ("false", False),
    ("TRUE", True),
    ("False", False),
    ("null", False),
    ("NULL IS NULL", True),
    ("1", True),
    ("0", False),
    ("0.0", False),
    ("'x'", True),
    ("''", False),
    ("running", True),
    ("$enabled", True),
    ("$disabled", False),
    ("$flag_str", True),
    ("$off_str", False),
    ("$nothing", False),
    ("$empty", False),
    ("$empty_list", False),
    ("$tags", True),
    ("$count", True),
    ("$metrics.zero", False),
    ("$missing", False),
    ("$obj", True),
    ("'0'", False),
    ("'2.5'", True),
    # --- numeric comparisons ---
    ("$metrics.cpu > 80", True),
    ("$metrics.cpu > 91.5", False),
    ("$metrics.cpu >= 91.5", True),
    ("$metrics.cpu < 100", True),
    ("$metrics.cpu <= 91.4", False),
    ("$metrics.cpu == 91.5", True),
    ("$metrics.cpu = 91.5", True),
    ("$metrics.cpu != 91.5", False),
    ("$metrics.cpu <> 91.5", False),
    ("$metrics.mem == 40", True),
    ("$metrics.mem == 40.0", True),
    ("$metrics.cpu > 85%", True),
    ("85% == 85", True),
    ("0.5% == 0.5", True),
    ("$count > 2", True),
    ("$neg < -3", True),
    ("$neg == -4", True),
    ("-$neg == 4", True),
    ("$metrics.big > 1e29", True),
    ("$metrics.big == 1000000000000000000000000000000", True),
    ("1e3 == 1000", True),
    (".5 == 0.5", True),
    ("2E2 == 200", True),
    # --- numeric-looking strings coerce against numbers ---
    ("$metrics.disk > 80", True),
    ("$metrics.disk == 85", True),
    ("$metrics.disk == 85.0", True),
    ("$metrics.load > 2", True),
    ("$metrics.load < 2.6", True),
    ("$code_str == 404", True),
    ("$code_str != 404", False),
    ("$pct == 85", True),
    ("$pct > 80", True),
    ("'  12 ' == 12", True),
    # --- two numeric-looking strings: ordering is numeric, equality is textual ---
    ("$numstr_a > $numstr_b", True),
    ("'10' > '9'", True),
    ("'10' == '10.0'", False),
    ("'10' == '10'", True),
    ("'abc' < 'abd'", True),
    ("'b' > 'a'", True),
    ("'B' < 'a'", True),
    # --- strings ---
    ("$status == running", True),
    ("$status == 'running'", True),
    ('$status == "running"', True),
    ("$status == RUNNING", False),
    ("$status != running", False),
    ("$status != stopped", True),
    ("$name == Web-01", True),
    ("$unicode == 'héllo wörld ☃'", True),
    ("$word == abc", True),
    ("lower($name) == 'web-01'", True),
    ("upper($name) == 'WEB-01'", True),
    # --- type mismatches: ordering fails (false), equality is simply unequal ---
    ("$word > 5", False),
    ("$word < 5", False),
    ("$word == 5", False),
    ("$word != 5", True),
    ("$enabled > 0", False),
    ("$enabled == 1", False),
    ("$enabled == true", True),
    ("$flag_str == true", True),
    ("$off_str == false", True),
    ("$flag_str == false", False),
    ("$tags > 1", False),
    ("$nothing > 1", False),
    ("$nothing == null", True),
    ("$nothing != null", False),
    ("$status != null", True),
    ("$obj == $obj", True),
    ("$tags == ['prod', 'eu', 3]", True),
    ("$tags == ['prod', 'eu', '3']", True),
    ("$tags == ['prod', 'eu']", False),
    ("$ints == [3, 1, 2]", True),
    # --- missing variables: every comparison is false, whichever the operator ---
    ("$missing == 1", False),
    ("$missing != 1", False),
    ("$missing > 1", False),
    ("$missing < 1", False),
    ("$missing == null", False),
    ("$missing IN [1, 2]", False),
    ("$missing NOT IN [1, 2]", False),
    ("$missing CONTAINS a", False),
    ("$missing NOT CONTAINS a", False),
    ("$missing STARTS_WITH a", False),
    ("$missing MATCHES 'a'", False),
    ("$missing NOT MATCHES 'a'", False),
    ("NOT $missing == 1", True),
    ("NOT ($missing == 1)", True),
    ("$metrics.nope > 0", False),
    ("$metrics.cpu.deeper > 0", False),
    ("$status.x == 1", False),
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
    # --- arithmetic ---
    ("1 + 2 == 3", True),
    ("1 + 2 * 3 == 7", True),
    ("(1 + 2) * 3 == 9", True),
    ("10 - 2 - 3 == 5", True),
    ("10 - (2 - 3) == 11", True),
    ("12 / 2 / 3 == 2", True),
    ("12 / (2 / 3) == 18", True),
    ("2 * 3 + 4 * 5 == 26", True),
    ("7 / 2 == 3.5", True),
    ("-2 * -3 == 6", True),
    ("- -2 == 2", True),
    ("-(1 + 2) == -3", True),
    ("+3 == 3", True),
    ("$metrics.mem * 2 + 1 == 81", True),
    ("$metrics.disk + 5 == 90", True),
    ("$metrics.load * 2 == 5", True),
    ("$metrics.cpu / 0 > 1", False),
    ("$metrics.cpu / 0 < 1", False),
    ("$metrics.cpu / 0 != 1", False),
    ("$metrics.cpu / $metrics.zero == 0", False),
    ("$word + 1 > 0", False),
    ("$word + 1 != 0", False),
    ("$enabled + 1 == 2", False),
    ("$missing + 1 > 0", False),
    ("-$word == 0", False),
    ("$metrics.big * $metrics.big > 0", True),
    ("0.1 + 0.2 > 0.3", True),
    # --- functions ---
    ("len($tags) == 3", True),
    ("len($name) == 6", True),
    ("len($obj) == 4", True),
    ("len($empty) == 0", True),
    ("len($count) == 1", False),
    ("len($missing) == 0", False),
    ("LEN($tags) == 3", True),
    ("Lower($name) == 'web-01'", True),
    ("lower($count) == 3", False),
    ("upper(abc) == ABC", True),
    ("abs($neg) == 4", True),
    ("abs(-2.5) == 2.5", True),
    ("abs($metrics.disk) == 85", True),
    ("abs($word) == 0", False),
    ("min(3, 1, 2) == 1", True),
    ("max(3, 1, 2) == 3", True),
    ("min($ints) == 1", True),
    ("max($ints) == 3", True),
    ("max($strs) == c", True),
    ("min($strs) == a", True),
    ("max($mixed) == 1", False),
    ("max($empty_list) == 0", False),
    ("max([]) == 0", False),
    ("max(5) == 5", True),
    ("min($metrics.disk, 100) == 85", True),
    ("max($missing, 1) == 1", False),
    ("min(len($tags), 10) == 3", True),
    ("max(1, 2.5) == 2.5", True),
    ("upper(lower($name)) == 'WEB-01'", True),
    # --- paths ---
    ("$metrics.disks[0].free == 5", True),
    ("$metrics.disks[1].name == sdb", True),
    ("$metrics.disks[-1].name == sdb", True),
    ("$metrics.disks[-2].free == 5", True),
    ("$metrics.disks[-3].free == 5", False),
    ("$metrics.disks[ 0 ].free == 5", True),
    ("$obj['key with space'] == 7", True),
    ('$obj["key with space"] == 7', True),
    ("$obj['a'] == 1", True),
    ("$obj[0] == zero", True),
    ("$obj.b.c[2] == 30", True),
    ("$obj.b['c'][0] == 10", True),
    ("$tags[0] == prod", True),
    ("$tags[3] == prod", False),
    ("$status[0] == r", False),
    ("$éclair == 1", True),
    ("$nested[0][1] == 2", True),
    # --- logic ---
    ("true AND true", True),
    ("true AND false", False),
    ("false OR true", True),
    ("false OR false", False),
    ("NOT false", True),
    ("NOT NOT true", True),
    ("! false", True),
    ("!true", False),
    ("true && false", False),
    ("false || true", True),
    ("true and true", True),
    ("false Or true", True),
    ("not true", False),
    ("true AND true AND true AND false", False),
    ("false OR false OR false OR true", True),
    ("$metrics.cpu > 80 AND $status == running", True),
    ("$metrics.cpu > 95 OR $status == running", True),
    ("$metrics.cpu > 95 OR $status == stopped", False),
    ("NOT $metrics.cpu > 95", True),
    ("NOT ($metrics.cpu > 95 OR $status == stopped)", True),
    ("$enabled AND $count", True),
    ("$enabled AND $empty", False),
    ("($a > 1) == false", True),
    ("($metrics.cpu > 1) == true", True),
    ("$missing OR true", True),
    ("$missing AND true", False),
    # --- precedence ---
    ("true OR true AND false", True),  # AND binds tighter than OR
    ("(true OR true) AND false", False),
    ("false AND false OR true", True),
    ("NOT true AND false", False),  # (NOT true) AND false
    ("NOT false AND true", True),
    ("NOT false OR false", True),
    ("NOT (false OR true)", False),
    ("NOT 1 == 2", True),  # NOT binds looser than comparison
    ("NOT 1 + 1 == 2", False),
    ("1 + 1 == 2 AND 2 * 2 == 4", True),
    ("(1 < 2) == true", True),
]


@pytest.mark.parametrize(("expression", "expected"), CASES)
def test_operator_semantics(expression: str, expected: bool) -> None:
    context = make_context()
    evaluation = evaluate_condition(expression, context)
    assert evaluation.result is expected, evaluation.explanation
    assert compile_condition(expression).test(context) is expected


# (expression, expected result, expected missing)
MISSING_CASES: list[tuple[str, bool, tuple[str, ...]]] = [
    ("$metrics.mem > 80", False, ()),
    ("$metrics.memory > 80", False, ("$metrics.memory",)),
    ("$a == 1 OR $b == 2", False, ("$a", "$b")),
    ("$b == 1 OR $a == 2 OR $b == 3", False, ("$b", "$a")),
    ("$a == $a", False, ("$a",)),
    ("$a == $b", False, ("$a", "$b")),
    ("$a['x y'] > 1", False, ('$a["x y"]',)),
    ("$a['x'] > 1 OR $a.x < 1", False, ("$a.x",)),
    ("$metrics.disks[5].free < 1", False, ("$metrics.disks[5].free",)),
    ("$x EXISTS", False, ("$x",)),
    ("$x IS NULL", True, ("$x",)),
    ("$x NOT EXISTS", True, ("$x",)),
    ("len($x) + $y > 0", False, ("$x", "$y")),
    ("max($x, $y, $status) == 1", False, ("$x", "$y")),
    ("$status IN [$x, running]", True, ("$x",)),
    # short-circuit: branches that are not evaluated do not report
    ("false AND $x == 1", False, ()),
    ("true OR $x == 1", True, ()),
    ("$status == running OR $x == 1", True, ()),
    ("$status == stopped AND $x == 1", False, ()),
    ("$status == stopped OR $x == 1", False, ("$x",)),
    ("$status == running AND $x == 1", False, ("$x",)),
    ("$x == 1 AND $y == 1", False, ("$x",)),
    ("$x == 1 OR $y == 1", False, ("$x", "$y")),
    ("($x == 1 OR $status == running) AND $y > 0", False, ("$x", "$y")),
    ("NOT $x == 1 OR $y == 1", True, ("$x",)),
]


@pytest.mark.parametrize(("expression", "expected", "missing"), MISSING_CASES)
def test_missing_variables(expression: str, expected: bool, missing: tuple[str, ...]) -> None:
    evaluation = evaluate_condition(expression, make_context())
    assert evaluation.result is expected, evaluation.explanation
    assert evaluation.missing == missing


def test_short_circuit_does_not_evaluate_the_rest() -> None:
    calls: list[str] = []

    class Spy(dict):  # type: ignore[type-arg]
        def __contains__(self, key: object) -> bool:
            calls.append(str(key))
            return super().__contains__(key)

        def __getitem__(self, key: object) -> object:
            calls.append(str(key))
            return super().__getitem__(key)

    spy = Spy(a=1, b=2)
    assert evaluate_condition("$a == 2 AND $b == 2", spy).result is False
    assert "b" not in calls
    calls.clear()
    assert evaluate_condition("$a == 1 OR $b == 2", spy).result is True
    assert "b" not in calls
    calls.clear()
    assert compile_condition("$a == 1 OR $b == 2").test(spy) is True
    assert "b" not in calls


@pytest.mark.parametrize(
    "context",
    [{}, {"metrics": None}, {"metrics": []}, {"metrics": "x"}, {"metrics": {"cpu": None}}],
)
def test_partial_contexts(context: dict[str, object]) -> None:
    evaluation = evaluate_condition("$metrics.cpu > 1", context)
    assert evaluation.result is False
    expected_missing = () if context.get("metrics") == {"cpu": None} else ("$metrics.cpu",)
    assert evaluation.missing == expected_missing


def test_non_mapping_context_resolves_nothing() -> None:
    for context in (None, [], "text", 42, object()):
        evaluation = evaluate_condition("$a EXISTS", context)  # type: ignore[arg-type]
        assert evaluation.result is False
        assert evaluation.missing == ("$a",)
        assert compile_condition("$a IS NULL").test(context) is True  # type: ignore[arg-type]
