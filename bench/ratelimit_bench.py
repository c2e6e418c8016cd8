"""A batch against a provider's rate limit, with the fleet left at its defaults.

A loopback fake provider (`tests/fakes/rate_limited_server.py`, served from a child process)
speaks Anthropic Messages or OpenAI Chat Completions, enforces `--rpm` requests per minute as a
token bucket with a burst of `--burst`, answers after `--latency-ms` with a valid rules document
for the request's intent, sends its wire's real rate-limit headers, and answers 429 with
`retry-after` when over. A whole fleet (gateway, interactive and batch workers; the documented
commands, no `LLM_RATE_LIMIT_RPM`) runs one `--intents`-item batch, per scenario:

  learned     the fleet as shipped: nothing configured, the limit learned from the headers
  configured  the same, with LLM_RATE_LIMIT_RPM set by hand to the provider's limit (the
              baseline: what an operator who knows the tier's number gets)
  adaptive    a provider that sends no rate-limit headers (only 429 + retry-after)

Printed per scenario: items failed, wall seconds from submit to terminal, wall / floor (floor =
N / limit), provider calls and the share of them answered 429. Goals (learned): 0 failed,
wall <= 1.10x the floor, 429s <= 5 % of calls.

Run: .venv/bin/python bench/ratelimit_bench.py          # both wires, ~5 minutes
     .venv/bin/python bench/ratelimit_bench.py --wires anthropic --scenarios learned
(needs Redis on 127.0.0.1:6379; uses and flushes db 12)
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

from batch_fake_ollama import request_intent
from batch_workload import drafted_answer, make_intents
from fake_process import fake_in_child
from operator_fleet import batch_items, bench_env, running_fleet, submit_batch, wait_terminal
from processes import ROOT

MODELS = {"anthropic": "claude-sonnet-4-5", "openai": "gpt-4.1-mini"}
SCENARIOS = ("learned", "configured", "adaptive")


@dataclass
class Outcome:
    wire: str
    scenario: str
    failed: int
    seconds: float
    calls: int
    limited: int


def fake_answer(body: dict[str, Any]) -> str:
    return drafted_answer(request_intent(body)) or "{}"


def serve_fake(rpm: int, burst: int, latency_s: float, headers: bool) -> Any:
    import sys

    sys.path.insert(0, str(ROOT))
    from tests.fakes.rate_limited_server import RateLimitedServer

    return RateLimitedServer(
        requests_per_minute=rpm,
        burst=burst,
        headers=headers,
        answer=fake_answer,
        latency_seconds=latency_s,
    )


def run(wire: str, scenario: str, args: argparse.Namespace, intents: list[str]) -> Outcome:
    start = partial(
        serve_fake, args.rpm, args.burst, args.latency_ms / 1000, scenario != "adaptive"
    )
    stats = lambda fake: {"calls": fake.calls, "limited": fake.limited}  # noqa: E731
    with fake_in_child(start, stats) as fake:
        url = fake.url + ("/v1" if wire == "openai" else "")
        settings = {
            "LLM_PROVIDER": wire,
            "LLM_MODEL": MODELS[wire],
            "LLM_API_KEY": "sk-bench-not-a-real-key",
            "LLM_API_URL": url,
        }
        if scenario == "configured":
            settings["LLM_RATE_LIMIT_RPM"] = str(args.rpm)
        with running_fleet(bench_env(**settings), name="ratelimit") as fleet:
            started = time.perf_counter()
            batch_id = submit_batch(fleet.client, intents)
            wait_terminal(fleet.client, batch_id)
            seconds = time.perf_counter() - started
            failed = [i for i in batch_items(fleet.client, batch_id) if i["status"] != "succeeded"]
            counters = fake.stats()
    if failed:
        print(f"  {wire}/{scenario}: {len(failed)} failed, first: {failed[0].get('error')}")
    return Outcome(wire, scenario, len(failed), seconds, counters["calls"], counters["limited"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--intents", type=int, default=300)
    parser.add_argument("--rpm", type=int, default=600)
    parser.add_argument("--burst", type=int, default=10)
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--wires", default="anthropic,openai")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    args = parser.parse_args()
    intents = make_intents(args.intents)
    floor = args.intents / args.rpm * 60
    outcomes = [
        run(wire, scenario, args, intents)
        for wire in args.wires.split(",")
        for scenario in args.scenarios.split(",")
    ]
    print(
        f"{args.intents} intents, provider limit {args.rpm} rpm (burst {args.burst}, "
        f"latency {args.latency_ms} ms); floor = N / limit = {floor:.1f} s"
    )
    print(
        f"{'wire':<10} {'scenario':<11} {'failed':>6} {'wall s':>7} {'/ floor':>8} "
        f"{'calls':>6} {'429s':>5} {'429 %':>6}"
    )
    for o in outcomes:
        share = 100 * o.limited / o.calls if o.calls else 0.0
        print(
            f"{o.wire:<10} {o.scenario:<11} {o.failed:>6} {o.seconds:>7.1f} "
            f"{o.seconds / floor:>7.2f}x {o.calls:>6} {o.limited:>5} {share:>5.1f}%"
        )
    print("goals (learned): 0 failed, wall <= 1.10x floor, 429s <= 5 % of calls")


if __name__ == "__main__":
    main()
