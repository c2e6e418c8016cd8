"""Overnight-batch throughput: N intents through the fleet vs a plain in-process loop.

Two scenarios, each in the same run against the real Redis (database 12):

  offline  the embedded offline provider (~ms of CPU per item): what the fleet costs per item
  latency  a loopback fake Ollama `/api/chat` that sleeps --provider-latency-ms (default 300)
           before answering a valid rules document: what a real LLM provider looks like, where
           the batch worker's threads overlap the provider calls

In each scenario:
  baseline: the same N intents through `generate_rules` in a plain single-threaded loop (no
            queue, no Redis), in a child process so its peak RSS can be read like the workers'
  fleet:    a real gateway (uvicorn) + ONE batch worker (`python -m eyeflow_worker.worker batch`,
            threads pool, default concurrency): POST /api/rules/generate-batch with N intents,
            long-poll GET /api/tasks/{id}?wait=30 until terminal. Items/s from submit to
            terminal, time until the first page of results (offset 0, limit 100) is complete,
            peak RSS (VmHWM) of the worker(s) and of the gateway
  fleet x2: the same with two batch workers (skip with --no-two-workers)

Every fleet run is checked: the batch succeeded, all N items succeeded, paging through
/results returns N items in submission order with the submitted intents, and each item's
`workflow_rules` equal what the baseline drafted for that intent (the offline drafter and the
fake's answer are both deterministic per intent).

In the latency scenario the sequential baseline would take N x latency, so it is timed on the
first --latency-baseline-items intents only and its items/s extrapolated (the output says so);
the rules expected for all N intents are drafted in-process from the fake's exact answer, with
no HTTP hop and no sleep, and the timed items must have matched them.

Run: .venv/bin/python bench/batch_bench.py [--intents 2000]   (both scenarios; Redis database 12)
     .venv/bin/python bench/batch_bench.py --provider-latency-ms 300   (latency scenario only)
     .venv/bin/python bench/batch_bench.py --offline-only

This module is the command line and the printed tables; the rest lives beside it in bench/:
batch_workload (the intents, rule digests), batch_fake_ollama (the loopback fake provider),
batch_baseline (the in-process loop, run as a child via the hidden --baseline-child flag),
batch_fleet (one gateway + batch workers run, on processes.py), batch_scenarios (one scenario
measured and checked) and proc_stats (CPU time and peak RSS from /proc).
"""

from __future__ import annotations

import argparse
import json
import os

from batch_baseline import baseline_child
from batch_fleet import PAGE, WARMUP_INTENTS, FleetRun
from batch_scenarios import LATENCY_WARMUP_INTENTS, Scenario, ScenarioResult, run_scenario


def mib(kb: int) -> str:
    """KiB as whole MiB, for the RSS columns."""
    return f"{kb / 1024:.0f}"


def fleet_label(run: FleetRun) -> str:
    """The `path` column of a fleet run's rows."""
    return f"fleet: gateway + {run.workers} batch worker{'s' if run.workers > 1 else ''}"


def print_scenario(result: ScenarioResult) -> None:
    """Prints one scenario's throughput and cost tables, then its problems or its correctness."""
    scenario, intents, timed = result.scenario, result.intents, result.timed
    before, after, runs = result.before, result.after, result.runs
    n = scenario.intents
    base_rate = 2 * timed / (before["seconds"] + after["seconds"])
    base_cpu_ms = (before["cpu"] + after["cpu"]) * 1000 / (2 * timed)
    base_rss = mib(max(before["rss_kb"], after["rss_kb"]))
    offline = scenario.latency_ms is None
    if offline:
        provider = "offline provider"
    else:
        provider = f"fake Ollama /api/chat (loopback) answering after {scenario.latency_ms} ms"
    print(
        f"overnight batch, {n} intents ({len(set(intents))} distinct), {provider}, "
        f"batch workers: threads pool x {result.threads}, {os.cpu_count()} CPUs, "
        f"load avg at start {result.load:.2f}"
    )
    label = "baseline: generate_rules loop, 1 thread"
    base_total = f"{n / base_rate:.2f}" + ("*" if timed < n else "")
    print(
        f"\n{'path':<42} {'items/s':>8} {'vs base':>8} {'total s':>8} {'1st page s':>10} "
        f"{'submit ms':>9}"
    )
    print(f"{label:<42} {base_rate:>8.1f} {1:>7.2f}x {base_total:>8} {'-':>10} {'-':>9}")
    for run in runs:
        rate = n / run.seconds
        first = f"{run.first_page_s:.2f}" if run.first_page_s is not None else "n/a"
        print(
            f"{fleet_label(run):<42} {rate:>8.1f} {rate / base_rate:>7.2f}x {run.seconds:>8.2f} "
            f"{first:>10} {run.submit_ms:>9.0f}"
        )
    print(
        f"(baseline before / after the fleet runs: {timed / before['seconds']:.1f} / "
        f"{timed / after['seconds']:.1f} items/s)"
    )
    if timed < n:
        print(
            f"(* baseline timed on the first {timed} of the {n} intents, one provider call at a "
            f"time; items/s measured on those, total s extrapolated to {n})"
        )
    print(
        f"\n{'path':<42} {'CPU ms/item':>11} {'gw CPU ms/item':>14} {'peak RSS MiB':>13} "
        f"{'gw peak RSS MiB':>15}"
    )
    print(f"{label:<42} {base_cpu_ms:>11.2f} {'-':>14} {base_rss:>13} {'-':>15}")
    for run in runs:
        rss = "+".join(mib(kb) for kb in run.worker_rss_kb)
        print(
            f"{fleet_label(run):<42} {run.worker_cpu_s * 1000 / n:>11.2f} "
            f"{run.gateway_cpu_s * 1000 / n:>14.2f} {rss:>13} {mib(run.gateway_rss_kb):>15}"
        )
    if result.problems:
        print("CORRECTNESS PROBLEMS:")
        for problem in result.problems:
            print(f"  {problem}")
        return
    what = "the baseline's" if offline else "the fake's answers drafted in-process"
    one_call = "" if offline else ", one provider call per item"
    print(
        f"correctness: every run {n}/{n} succeeded{one_call}; /results paged ({PAGE}/page) "
        f"returned {n} items in order, intents and rules identical to {what}"
    )


def main() -> None:
    """Parses the command line, runs the scenarios it selects; exits 1 if a check failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--intents", type=int, default=2000, help="offline scenario (2000)")
    parser.add_argument(
        "--provider-latency-ms",
        type=int,
        help="run only the latency scenario, with this provider latency (default: both "
        "scenarios, 300 ms)",
    )
    parser.add_argument("--offline-only", action="store_true", help="only the offline scenario")
    parser.add_argument(
        "--latency-intents", type=int, default=400, help="latency scenario intents (400)"
    )
    parser.add_argument(
        "--latency-baseline-items",
        type=int,
        default=50,
        help="latency scenario: intents the sequential baseline times (50; extrapolated)",
    )
    parser.add_argument("--no-two-workers", action="store_true", help="skip the 2-worker runs")
    parser.add_argument("--baseline-child", type=int, nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_child is not None:
        # The one JSON line run_baseline() reads back from the child's stdout.
        print(json.dumps(baseline_child(*args.baseline_child)))
        return
    if args.offline_only and args.provider_latency_ms is not None:
        raise SystemExit("--offline-only and --provider-latency-ms exclude each other")
    for name in ("intents", "latency_intents"):
        if not 1 <= getattr(args, name) <= 5000:
            raise SystemExit(f"--{name.replace('_', '-')} must be 1..5000 (MAX_BATCH_INTENTS)")
    if args.latency_baseline_items < 1:
        raise SystemExit("--latency-baseline-items must be at least 1")

    scenarios = []
    if args.provider_latency_ms is None:
        scenarios.append(Scenario(args.intents, None, args.intents, WARMUP_INTENTS))
    if not args.offline_only:
        latency = 300 if args.provider_latency_ms is None else args.provider_latency_ms
        scenarios.append(
            Scenario(
                args.latency_intents,
                latency,
                args.latency_baseline_items,
                LATENCY_WARMUP_INTENTS,
            )
        )
    ok = True
    for number, scenario in enumerate(scenarios):
        if number:
            print("\n")
        result = run_scenario(scenario, not args.no_two_workers)
        print_scenario(result)
        ok = not result.problems and ok
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
