"""Interactive latency while a batch runs: `evaluate` round trips, idle fleet vs busy fleet.

One fleet (gateway, interactive worker, batch worker; the documented commands), the batch's
provider a loopback fake Ollama answering after `--latency-ms` (served from a child process, so
its threads do not share the timing process's GIL). Sequential trivial `evaluate`
jobs (`POST /api/conditions/evaluate?wait=10`) are timed

  idle:  before any batch, and again after the batch has ended (both printed; the baseline is
         all idle samples together, so drift on the machine shows);
  busy:  while a `--intents`-item batch is running (samples taken after the batch has ended are
         dropped, and the bench says how many were kept).

Interactive jobs have their own queue and workers; the goal is busy p99 <= 1.2x idle p99.

Run: .venv/bin/python bench/interactive_bench.py [--intents 1000] [--samples 600]
(needs Redis on 127.0.0.1:6379; uses and flushes db 12; about a minute)
"""

from __future__ import annotations

import argparse
from functools import partial

from batch_fake_ollama import fake_ollama
from batch_workload import make_intents
from fake_process import fake_in_child
from operator_fleet import (
    bench_env,
    evaluate_round_trip,
    p50,
    percentile,
    running_fleet,
    submit_batch,
    task,
    wait_terminal,
)

WARMUP = 50


def row(name: str, samples: list[float]) -> str:
    ms = [s * 1000 for s in samples]
    return (
        f"{name:<30} {p50(ms):>8.2f} {percentile(ms, 0.95):>8.2f} {percentile(ms, 0.99):>8.2f}"
        f" {max(ms):>8.2f} {len(ms):>6}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--intents", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=600, help="evaluate jobs per phase")
    parser.add_argument("--latency-ms", type=int, default=400, help="the batch provider's")
    args = parser.parse_args()

    intents = make_intents(args.intents)
    start = partial(fake_ollama, args.latency_ms)
    with fake_in_child(start, lambda fake: {"calls": fake.calls}) as fake:
        env = bench_env(LLM_PROVIDER="ollama", LLM_MODEL="llama3.1", LLM_API_URL=fake.url)
        with running_fleet(env, name="interactive") as fleet:
            client = fleet.client
            for _ in range(WARMUP):
                evaluate_round_trip(client)
            idle_before = [evaluate_round_trip(client) for _ in range(args.samples)]

            batch_id = submit_batch(client, intents)
            busy: list[float] = []
            while len(busy) < args.samples:
                sample = evaluate_round_trip(client)
                if task(client, batch_id)["status"] != "running":
                    break
                busy.append(sample)
            ended = wait_terminal(client, batch_id)
            progress = ended.get("progress", {})
            idle_after = [evaluate_round_trip(client) for _ in range(args.samples)]
            calls = fake.stats()["calls"]

    idle = idle_before + idle_after
    print(
        f"evaluate round trip (ms), idle vs during a {args.intents}-item batch "
        f"(provider latency {args.latency_ms} ms, {calls} provider calls; batch "
        f"{ended['status']}, {progress})"
    )
    print(f"{'phase':<30} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8} {'n':>6}")
    print(row("idle, before the batch", idle_before))
    print(row("idle, after the batch", idle_after))
    print(row("idle (baseline, both)", idle))
    print(row("busy, while the batch runs", busy))
    if len(busy) < args.samples:
        print(f"(the batch ended after {len(busy)} busy samples; raise --intents for more)")
    print(
        f"busy / idle: p50 {p50(busy) / p50(idle):.2f}x, "
        f"p99 {percentile(busy, 0.99) / percentile(idle, 0.99):.2f}x (goal p99 <= 1.2x)"
    )


if __name__ == "__main__":
    main()
