"""Fair shares: a small batch submitted after a huge one, on one provider budget.

A loopback fake provider (`tests/fakes/rate_limited_server.py`, Anthropic wire, served from a
child process) enforces `--rpm` requests per minute and sends its rate-limit headers; the fleet
(gateway, interactive and batch workers; the documented commands, nothing configured) learns
that budget. Three runs, each on fresh processes:

  B alone, its share   tenant B's `--small` batch alone against a provider of rpm / 2 — the
                       share of the budget B is owed while A also runs (the baseline)
  B alone, all of it   the same batch against the whole rpm (for reference)
  A then B             tenant A submits `--large` items, B its `--small` batch one second later;
                       B's time is from its submission to its end. A is cancelled once B ends.

Goal: B's time in "A then B" within 2x its time alone on its share. Also printed: when B's
first item finished, and how far A had got when B ended (with a FIFO queue B would wait for
all of A: --large / rpm minutes).

Run: .venv/bin/python bench/fairness_bench.py [--large 2000 --small 50 --rpm 1200]
(needs Redis on 127.0.0.1:6379; uses and flushes db 12; about a minute and a half)
"""

from __future__ import annotations

import argparse
import time
from functools import partial
from typing import Any

from batch_workload import make_intents
from fake_process import fake_in_child
from operator_fleet import (
    TERMINAL,
    bench_env,
    running_fleet,
    submit_batch,
    task,
    wait_terminal,
)
from ratelimit_bench import MODELS, serve_fake

BURST = 20
LATENCY_S = 0.2


def fleet_on(rpm: int) -> Any:
    """A fake provider at `rpm` and the fleet's environment pointing at it."""
    start = partial(serve_fake, rpm, BURST, LATENCY_S, True)
    return fake_in_child(start, lambda fake: {"calls": fake.calls, "limited": fake.limited})


def env_for(url: str) -> dict[str, str]:
    return bench_env(
        LLM_PROVIDER="anthropic",
        LLM_MODEL=MODELS["anthropic"],
        LLM_API_KEY="sk-bench-not-a-real-key",
        LLM_API_URL=url,
    )


def small_alone(rpm: int, intents: list[str]) -> float:
    with fleet_on(rpm) as fake, running_fleet(env_for(fake.url), name="fairness") as fleet:
        started = time.perf_counter()
        ended = wait_terminal(
            fleet.client, submit_batch(fleet.client, intents, "tenant-b"), "tenant-b"
        )
        seconds = time.perf_counter() - started
    if ended["status"] != "succeeded":
        raise SystemExit(f"B alone ended {ended['status']}: {ended.get('progress')}")
    return seconds


def large_then_small(rpm: int, large: list[str], small: list[str]) -> dict[str, Any]:
    with fleet_on(rpm) as fake, running_fleet(env_for(fake.url), name="fairness") as fleet:
        client = fleet.client
        a_id = submit_batch(client, large, "tenant-a")
        time.sleep(1.0)
        started = time.perf_counter()
        b_id = submit_batch(client, small, "tenant-b")
        first_item_s = None
        while (b_end := task(client, b_id, tenant="tenant-b"))["status"] not in TERMINAL:
            progress = b_end["progress"]
            if first_item_s is None and progress["succeeded"] + progress["failed"]:
                first_item_s = time.perf_counter() - started
            time.sleep(0.1)
        seconds = time.perf_counter() - started
        a_progress = task(client, a_id, tenant="tenant-a")["progress"]
        cancelled = client.delete(f"/api/tasks/{a_id}", headers={"X-User-ID": "tenant-a"})
        if cancelled.status_code not in (200, 202):
            raise SystemExit(f"cancelling A: {cancelled.status_code} {cancelled.text[:200]}")
        counters = fake.stats()
    return {
        "seconds": seconds,
        "status": b_end["status"],
        "first_item_s": first_item_s if first_item_s is not None else seconds,
        "a_progress": a_progress,
        **counters,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--large", type=int, default=2000)
    parser.add_argument("--small", type=int, default=50)
    parser.add_argument("--rpm", type=int, default=1200)
    args = parser.parse_args()
    intents = make_intents(args.large + args.small)
    large, small = intents[: args.large], intents[args.large :]

    share = small_alone(args.rpm // 2, small)
    whole = small_alone(args.rpm, small)
    shared = large_then_small(args.rpm, large, small)
    a = shared["a_progress"]
    fifo_s = args.large / args.rpm * 60
    print(
        f"tenant A {args.large} items, tenant B {args.small} items 1 s later; provider "
        f"{args.rpm} rpm (burst {BURST}, latency {LATENCY_S * 1000:.0f} ms)"
    )
    print(f"{'run':<34} {'B seconds':>10}")
    print(f"{'B alone on its share (rpm / 2)':<34} {share:>10.1f}")
    print(f"{'B alone on the whole budget':<34} {whole:>10.1f}")
    print(f"{'A then B (B ' + shared['status'] + ')':<34} {shared['seconds']:>10.1f}")
    first = shared["first_item_s"]
    print(
        f"B's first item done {first:.1f} s after its submission; A had "
        f"{a['succeeded'] + a['failed']}/{a['total']} items done when B ended "
        f"(FIFO: B would wait ~{fifo_s:.0f} s for all of A); provider answered "
        f"{shared['limited']} of {shared['calls']} calls 429"
    )
    print(
        f"B with A / B alone on its share: {shared['seconds'] / share:.2f}x (goal <= 2x); "
        f"/ B alone on the whole budget: {shared['seconds'] / whole:.2f}x"
    )


if __name__ == "__main__":
    main()
