"""Condition language throughput vs simpleeval, rule-engine and cel-python (single core).

    .venv/bin/python bench/conditions_bench.py [--seconds 0.2]

Every engine parses/compiles each expression once outside the timed loop; only evaluation is
timed. cel-python gets its activation converted with `celpy.json_to_cel` once, outside the
loop, too. Each figure is the best of 5 timed runs, interleaved across engines. Ours is
measured twice: `test()` (the fast path: bool only) and `evaluate()` (bool + missing
variables + explanation trace). The `evaluate()` loop reads the result's `explanation`, as
the product's `evaluate` job does, so that the column keeps measuring the whole trace even if
its formatting were ever made lazy.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("GLOG_minloglevel", "2")

import celpy
import rule_engine
import simpleeval
from celpy import celtypes

from eyeflow_worker.conditions import compile_condition

CONTEXT: dict[str, Any] = {
    "metrics": {
        "cpu": 91.5,
        "mem": 72.0,
        "load": 2.5,
        "used": 800,
        "total": 1000,
        "disks": [{"free": 5.0, "name": "sda"}, {"free": 55.0, "name": "sdb"}],
    },
    "status": "running",
    "host": "DB-1",
    "tags": ["prod", "eu", "db"],
    "env": "staging",
}

# name, ours, simpleeval (names = context), rule-engine, cel-python
CASES: list[tuple[str, str, str, str, str]] = [
    (
        "numeric compare",
        "$metrics.cpu > 80",
        "metrics['cpu'] > 80",
        "metrics.cpu > 80",
        "metrics.cpu > 80.0",
    ),
    (
        "AND/OR mix",
        '$metrics.cpu > 80 AND ($status == "stopped" OR $metrics.mem >= 70)',
        "metrics['cpu'] > 80 and (status == 'stopped' or metrics['mem'] >= 70)",
        "metrics.cpu > 80 and (status == 'stopped' or metrics.mem >= 70)",
        'metrics.cpu > 80.0 && (status == "stopped" || metrics.mem >= 70.0)',
    ),
    (
        "IN list",
        '$status IN ["starting", "degraded", "running"]',
        "status in ['starting', 'degraded', 'running']",
        "status in ['starting', 'degraded', 'running']",
        'status in ["starting", "degraded", "running"]',
    ),
    (
        "string function",
        'lower($host) == "db-1"',
        "lower(host) == 'db-1'",
        "host.as_lower == 'db-1'",
        'lower(host) == "db-1"',
    ),
    (
        "arithmetic",
        "$metrics.used / $metrics.total * 100 > 75",
        "metrics['used'] / metrics['total'] * 100 > 75",
        "metrics.used / metrics.total * 100 > 75",
        "double(metrics.used) / double(metrics.total) * 100.0 > 75.0",
    ),
    (
        "nested path",
        "$metrics.disks[0].free < 10",
        "metrics['disks'][0]['free'] < 10",
        "metrics.disks[0].free < 10",
        "metrics.disks[0].free < 10.0",
    ),
    (
        "len + NOT + !=",
        'len($tags) >= 2 AND NOT $env == "prod"',
        "len(tags) >= 2 and not env == 'prod'",
        "tags.length >= 2 and not env == 'prod'",
        'size(tags) >= 2 && !(env == "prod")',
    ),
    (
        "4-way AND",
        '$metrics.cpu > 50 AND $metrics.mem > 50 AND $metrics.load > 1 AND $status != "down"',
        "metrics['cpu'] > 50 and metrics['mem'] > 50 and metrics['load'] > 1 and status != 'down'",
        "metrics.cpu > 50 and metrics.mem > 50 and metrics.load > 1 and status != 'down'",
        'metrics.cpu > 50.0 && metrics.mem > 50.0 && metrics.load > 1.0 && status != "down"',
    ),
]


def _calibrate(loop: Callable[[int], None], seconds: float) -> int:
    """How many evaluations take about `seconds`."""
    n = 100
    while True:
        start = time.perf_counter()
        loop(n)
        took = time.perf_counter() - start
        if took >= seconds / 4:
            break
        n *= 4
    return max(1, int(n * seconds / took))


def _rates(loops: dict[str, Callable[[int], None]], seconds: float) -> dict[str, float]:
    """Evaluations per second of each loop, best of 5 runs.

    The runs are interleaved (one run of every engine per round) rather than 5 runs of one
    engine, then 5 of the next: on a shared machine a burst of load then slows every engine a
    little instead of one engine a lot, which would skew the ratios.
    """
    sizes = {name: _calibrate(loop, seconds) for name, loop in loops.items()}
    best = dict.fromkeys(loops, math.inf)
    for _ in range(5):
        for name, loop in loops.items():
            start = time.perf_counter()
            loop(sizes[name])
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: sizes[name] / best[name] for name in loops}


def _loops(case: tuple[str, str, str, str, str]) -> dict[str, Callable[[int], None]]:
    _name, ours_src, se_src, re_src, cel_src = case
    ctx = CONTEXT

    condition = compile_condition(ours_src)
    test = condition.test
    evaluate = condition.evaluate

    se = simpleeval.EvalWithCompoundTypes(names=ctx, functions={"lower": str.lower, "len": len})
    se_parsed = se.parse(se_src)
    se_eval = se.eval

    rule = rule_engine.Rule(re_src)
    matches = rule.matches

    env = celpy.Environment()
    program = env.program(
        env.compile(cel_src), functions={"lower": lambda s: celtypes.StringType(s.lower())}
    )
    activation = celpy.json_to_cel(ctx)
    cel_eval = program.evaluate

    expected = {
        "ours test()": test(ctx),
        "ours evaluate()": evaluate(ctx).result,
        "simpleeval": bool(se_eval(se_src, se_parsed)),
        "rule-engine": bool(matches(ctx)),
        "cel-python": bool(cel_eval(activation)),
    }
    if len(set(expected.values())) != 1:
        raise SystemExit(f"engines disagree on {ours_src!r}: {expected}")

    def ours_test(n: int) -> None:
        for _ in range(n):
            test(ctx)

    def ours_full(n: int) -> None:
        for _ in range(n):
            evaluate(ctx).explanation  # noqa: B018 (what the product reads; see the docstring)

    def simple(n: int) -> None:
        for _ in range(n):
            se_eval(se_src, se_parsed)

    def rules(n: int) -> None:
        for _ in range(n):
            matches(ctx)

    def cel(n: int) -> None:
        for _ in range(n):
            cel_eval(activation)

    return {
        "ours test()": ours_test,
        "ours evaluate()": ours_full,
        "simpleeval": simple,
        "rule-engine": rules,
        "cel-python": cel,
    }


BASELINES = ("simpleeval", "rule-engine", "cel-python")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.2, help="time per measurement")
    args = parser.parse_args()

    columns = ["ours test()", "ours evaluate()", *BASELINES]
    print(f"Python {sys.version.split()[0]}, evaluations/second (higher is better), single core")
    header = f"{'expression':<17}" + "".join(f"{c:>16}" for c in columns)
    header += f"{'test/best':>11}{'eval/best':>11}"
    print(header)
    print("-" * len(header))
    ratios_test: list[float] = []
    ratios_eval: list[float] = []
    for case in CASES:
        loops = _loops(case)
        rates = _rates(loops, args.seconds)
        best = max(rates[b] for b in BASELINES)
        r_test = rates["ours test()"] / best
        r_eval = rates["ours evaluate()"] / best
        ratios_test.append(r_test)
        ratios_eval.append(r_eval)
        row = f"{case[0]:<17}" + "".join(f"{rates[c]:>16,.0f}" for c in columns)
        print(row + f"{r_test:>10.1f}x{r_eval:>10.1f}x")
    gm_test = math.exp(sum(map(math.log, ratios_test)) / len(ratios_test))
    gm_eval = math.exp(sum(map(math.log, ratios_eval)) / len(ratios_eval))
    print("-" * len(header))
    print(
        f"ours vs the fastest baseline, per expression: test() min {min(ratios_test):.1f}x, "
        f"geomean {gm_test:.1f}x; evaluate() min {min(ratios_eval):.1f}x, "
        f"geomean {gm_eval:.1f}x"
    )


if __name__ == "__main__":
    main()
