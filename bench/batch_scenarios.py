"""One scenario of the batch bench, measured: the environment, baseline x2, fleet runs, checks.

A scenario is the provider (offline, or the loopback fake Ollama at a latency) and how many
intents; `run_scenario` returns the raw figures and the correctness problems found, and leaves
the arithmetic and the tables to the command line (batch_bench.py).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

from batch_baseline import run_baseline
from batch_fake_ollama import FakeOllama, fake_ollama
from batch_fleet import REDIS_URL, FleetRun, run_fleet
from batch_workload import make_intents
from processes import ROOT

LATENCY_WARMUP_INTENTS = 4  # the baseline's warm-up in the latency scenario (sequential sleeps)


@dataclass(frozen=True)
class Scenario:
    intents: int
    latency_ms: int | None  # None: the embedded offline provider
    baseline_items: int  # how many of the intents the baseline loop times
    warmup: int  # baseline warm-up intents


@dataclass
class ScenarioResult:
    scenario: Scenario
    intents: list[str]
    timed: int  # intents the baseline timed (all of them unless the latency scenario caps it)
    load: float  # 1-minute load average when the scenario started
    threads: int  # a batch worker's thread pool size
    before: dict[str, Any]  # the baseline child's figures, before the fleet runs
    after: dict[str, Any]  # ... and after them
    runs: list[FleetRun]
    problems: list[str]  # empty when every correctness check passed


def bench_env(provider: dict[str, str]) -> dict[str, str]:
    """The environment of every bench process (and of this one: worker_command() builds Settings
    from it): the shell's, without NestJS, auth, broker overrides, keys, fallbacks or rate limits,
    plus db 12 and the scenario's provider."""
    env = dict(os.environ)
    for name in (
        "NESTJS_SERVER_URL",
        "GATEWAY_API_TOKEN",
        "BROKER_URL",
        "RESULT_BACKEND_URL",
        "LLM_API_KEY",
        "LLM_API_URL",
        "LLM_FALLBACK_PROVIDERS",
        "LLM_RATE_LIMIT_RPM",
        "LLM_RATE_LIMITS",
    ):
        env.pop(name, None)
    env.update(REDIS_URL=REDIS_URL, PYTHONPATH=str(ROOT), LOG_LEVEL="WARNING", **provider)
    os.environ.clear()
    os.environ.update(env)
    return env


def run_scenario(scenario: Scenario, two_workers: bool) -> ScenarioResult:
    """Runs one scenario (with the fake provider up for its whole length, if it has a latency)."""
    if scenario.latency_ms is None:
        env = bench_env({"LLM_PROVIDER": "offline", "LLM_MODEL": "eyeflow-offline-drafter-1"})
        return measure(scenario, two_workers, env, None)
    with fake_ollama(scenario.latency_ms) as fake:
        env = bench_env(
            {"LLM_PROVIDER": "ollama", "LLM_MODEL": "llama3.1", "LLM_API_URL": fake.url}
        )
        return measure(scenario, two_workers, env, fake)


def measure(
    scenario: Scenario,
    two_workers: bool,
    env: dict[str, str],
    fake: FakeOllama | None,
) -> ScenarioResult:
    """Baseline, fleet x1 (and x2), baseline again; then every correctness check."""
    n, timed = scenario.intents, min(scenario.baseline_items, scenario.intents)
    intents = make_intents(n)
    load = os.getloadavg()[0]
    calls = (lambda: fake.calls) if fake is not None else None
    # The baseline runs before and after the fleet runs; its figure is the mean of the two, so
    # drift on the machine during the run shows (and is averaged) rather than hidden.
    before = run_baseline(n, timed, scenario.warmup, env)
    expected: list[str | None] = before["digests"]
    baseline_failed = sum(d is None for d in expected)
    runs = [run_fleet(1, intents, expected, env, calls)]
    if two_workers:
        runs.append(run_fleet(2, intents, expected, env, calls))
    after = run_baseline(n, timed, scenario.warmup, env)
    if after["digests"] != expected:
        raise SystemExit("the baseline's rules were not deterministic across baseline runs")

    # Only worker_command() for a second worker put the repo on this process's path so far; with
    # one worker and the offline provider nothing else has, and the import would fail here.
    sys.path.insert(0, str(ROOT))
    from eyeflow_worker.core.settings import Settings

    threads = Settings().worker_concurrency_batch
    problems = [f"{run.workers} worker(s): {p}" for run in runs for p in run.problems]
    for run in runs:
        if run.llm_calls is not None and run.llm_calls != n:
            problems.append(
                f"{run.workers} worker(s): the fake served {run.llm_calls} calls for {n} items "
                "(retries or repair turns would distort the figure)"
            )
    mismatched = before["mismatched"] + after["mismatched"]
    if mismatched:
        problems.insert(0, f"baseline: {mismatched} timed items differ from the expected rules")
    if baseline_failed:
        problems.insert(0, f"baseline: {baseline_failed} intents failed")
    return ScenarioResult(scenario, intents, timed, load, threads, before, after, runs, problems)
