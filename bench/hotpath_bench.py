"""The hot path, side by side in one run: our gateway vs bare Celery vs a hand-rolled FastAPI +
Celery route (`handrolled_app.py`), on the same Redis broker with the same Celery settings.

  round trip   sequential trivial `evaluate` jobs, interleaved: ours
               (POST /api/conditions/evaluate?wait=10 → 200 with the task), the hand-rolled
               route (POST /evaluate?wait=10 → 200 with the result), and bare
               `noop.apply_async().get()` — p50/p99 in ms and the ratios;
  throughput   `--clients` concurrent keep-alive clients submitting `evaluate` without waiting,
               for `--seconds` each: accepted (202) jobs/s, ours vs the hand-rolled route (the
               workers drain between the two; our tenant's submission rate is raised so that
               its limiter runs but refuses nothing);
  commands     Redis commands one job costs, from MONITOR (db 12), each path;
  batch        a `--intents`-intent batch: the time to its 202, then `evaluate` round trips while
               it fans out (its provider a loopback fake Ollama answering after `--latency-ms`)
               vs the same round trips idle.

HTTP is spoken by `raw_http.py` (a few microseconds per request) so the timing process's own
client costs as little as possible on a 2-core machine, for both HTTP paths alike.

Run: .venv/bin/python bench/hotpath_bench.py [--jobs 500] [--clients 16] [--seconds 10]
(needs Redis on 127.0.0.1:6379; uses and flushes db 12; about a minute and a half)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import redis
from batch_fake_ollama import fake_ollama
from batch_workload import make_intents
from fake_process import fake_in_child
from operator_fleet import REDIS_URL, bench_env, percentile, running_fleet, wait_terminal
from proc_stats import cpu_seconds
from processes import ROOT, free_port, spawn, stop, wait_until
from raw_http import Connection, post_loop, request_bytes
from redis_commands import idle_tally, per_job

EVALUATE = {"condition": "1 < 2", "context": {}}
HANDROLLED_QUEUES = "bench.noop,bench.handrolled"


def handrolled_processes(env: dict[str, str], port: int) -> list:  # type: ignore[type-arg]
    py = sys.executable
    worker = [
        py, "-m", "celery", "-A", "bench.handrolled_app:celery", "worker", "-P", "threads",
        "-c", "16", "-Q", HANDROLLED_QUEUES, "-n", "handrolled@%h", "--without-gossip",
        "--without-mingle", "-l", "WARNING",
    ]  # fmt: skip
    route = [
        py, "-m", "uvicorn", "bench.handrolled_app:app", "--port", str(port),
        "--log-level", "warning",
    ]  # fmt: skip
    logs = Path("/tmp")
    return [
        spawn(worker, env, logs / "eyeflow-hotpath-bench-handrolled-worker.log"),
        spawn(route, env, logs / "eyeflow-hotpath-bench-handrolled-route.log"),
    ]


def row(name: str, samples: list[float]) -> tuple[float, str]:
    ms = [s * 1000 for s in samples]
    median = percentile(ms, 0.5)
    text = f"{name:<36} {median:>8.2f} {percentile(ms, 0.99):>8.2f} {max(ms):>8.2f} {len(ms):>6}"
    return median, text


def timed(run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def throughput(port: int, path: str, clients: int, seconds: float) -> tuple[float, dict[int, int]]:
    raw = request_bytes(port, path, EVALUATE, {})
    counts: dict[int, int] = {}

    async def run() -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        until = started + seconds
        await asyncio.gather(*(post_loop(port, raw, until, counts) for _ in range(clients)))
        return loop.time() - started

    elapsed = asyncio.run(run())
    return counts.get(202, 0) / elapsed, counts


def drained(client: redis.Redis, queues: list[str], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and sum(int(client.llen(q)) for q in queues) > 0:
        time.sleep(0.2)
    time.sleep(0.5)  # the last jobs finish


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=500, help="round trips per path")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0, help="per throughput run")
    parser.add_argument("--monitor-jobs", type=int, default=100)
    parser.add_argument("--intents", type=int, default=5000)
    parser.add_argument("--latency-ms", type=int, default=400, help="the batch provider's")
    parser.add_argument("--skip", default="", help="comma list of phases to skip")
    parser.add_argument(
        "--baseline-transport",
        choices=("kombu", "fleet"),
        default="kombu",
        help="the baselines' Redis transport: kombu's own (what a team would run), or the "
        "fleet's (core/kombu_redis.py: one client per channel)",
    )
    args = parser.parse_args()
    skip = set(args.skip.split(","))

    start_fake = partial(fake_ollama, args.latency_ms)
    with fake_in_child(start_fake, lambda fake: {"calls": fake.calls}) as fake:
        env = bench_env(
            LLM_PROVIDER="ollama", LLM_MODEL="llama3.1", LLM_API_URL=fake.url,
            # Far above what the bench submits: the limiter runs on every submission but never
            # refuses (the hand-rolled route has none).
            TENANT_SUBMIT_RATE_PER_MINUTE="60000000", TENANT_SUBMIT_BURST="1000000",
            BENCH_BASELINE_TRANSPORT=args.baseline_transport,
        )  # fmt: skip
        with running_fleet(env, name="hotpath") as fleet:
            hand_port = free_port()
            extra = handrolled_processes(env, hand_port)
            try:
                run_phases(args, skip, fleet, hand_port, extra)
            finally:
                stop(extra)


def run_phases(args: argparse.Namespace, skip: set[str], fleet, hand_port: int, extra) -> None:  # type: ignore[no-untyped-def]
    os.environ.update(fleet.env)  # the baselines' Celery app reads REDIS_URL (db 12) at import
    sys.path.insert(0, str(ROOT))
    from bench.handrolled_app import NOOP_QUEUE, celery, noop

    our_port = int(fleet.base_url.rsplit(":", 1)[1])
    wait_until(lambda: Connection(hand_port).close() or True, extra)
    noop.apply_async(queue=NOOP_QUEUE).get(timeout=60)  # the baseline worker is up
    ours, hand = Connection(our_port), Connection(hand_port)
    ours_raw = request_bytes(our_port, "/api/conditions/evaluate?wait=10", EVALUATE, {})
    hand_raw = request_bytes(hand_port, "/evaluate?wait=10", EVALUATE, {})

    def via_ours() -> None:
        code, body = ours.post(ours_raw)
        assert code == 200 and json.loads(body)["status"] == "succeeded", (code, body[:300])

    def via_hand() -> None:
        code, body = hand.post(hand_raw)
        assert code == 200 and json.loads(body)["result"]["result"] is True, (code, body[:300])

    def via_celery() -> None:
        assert noop.apply_async(queue=NOOP_QUEUE).get(timeout=10) == "ok"

    paths = {"ours": via_ours, "hand-rolled": via_hand, "bare celery": via_celery}
    for run in paths.values():
        for _ in range(50):
            run()
    if "roundtrip" not in skip:
        round_trips(args.jobs, paths)
    if "throughput" not in skip:
        submissions(args, our_port, hand_port)
    if "cpu" not in skip:
        processes = {
            "ours": {"gateway": fleet.processes[0].pid, "worker": fleet.processes[1].pid},
            "hand-rolled": {"route": extra[1].pid, "worker": extra[0].pid},
            "bare celery": {"worker": extra[0].pid},
        }
        cpu_per_job(args.jobs, paths, processes)
    if "commands" not in skip:
        commands(args.monitor_jobs, paths)
    if "batch" not in skip:
        batch_phase(args, fleet, via_ours)
    celery.close()
    ours.close()
    hand.close()


def round_trips(jobs: int, paths: dict[str, Callable[[], None]]) -> None:
    samples: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(jobs):  # interleaved, so drift on the machine hits all alike
        for name, run in paths.items():
            samples[name].append(timed(run))
    print(f"\nround trip of a trivial job, {jobs} sequential jobs per path (ms)")
    print(f"{'path':<36} {'p50':>8} {'p99':>8} {'max':>8} {'n':>6}")
    labels = {
        "bare celery": "bare celery apply_async + get",
        "hand-rolled": "hand-rolled FastAPI + Celery ?wait",
        "ours": "ours POST /api/conditions/evaluate?wait",
    }
    medians: dict[str, float] = {}
    for name in ("bare celery", "hand-rolled", "ours"):
        medians[name], text = row(labels[name], samples[name])
        print(text)
    print(
        f"p50 ours / hand-rolled: {medians['ours'] / medians['hand-rolled']:.2f}x   "
        f"ours / bare celery: {medians['ours'] / medians['bare celery']:.2f}x"
    )


def cpu_per_job(
    jobs: int, paths: dict[str, Callable[[], None]], processes: dict[str, dict[str, int]]
) -> None:
    """CPU time each process spends per round trip (on 2 cores, CPU is latency: the gateway,
    the worker, Redis and this client take turns), from /proc, `jobs` sequential per path."""
    redis_pid = int(redis.Redis.from_url(REDIS_URL).info("server")["process_id"])
    every = {
        f"{name} {role}": pid for name, roles in processes.items() for role, pid in roles.items()
    }
    every["redis"] = redis_pid
    idle_seconds = 3.0
    before = {label: cpu_seconds(pid) for label, pid in every.items()}
    time.sleep(idle_seconds)
    idle = {
        label: (cpu_seconds(pid) - before[label]) / idle_seconds for label, pid in every.items()
    }
    print(f"\nCPU while idle (% of a core, {idle_seconds:g} s): " + ", ".join(
        f"{label} {share * 100:.1f}" for label, share in idle.items()
    ))  # fmt: skip
    print(f"CPU per round trip (ms, idle share subtracted), {jobs} sequential jobs per path")
    for name, run in paths.items():
        pids = {**processes[name], "redis": redis_pid}
        before = {role: cpu_seconds(pid) for role, pid in pids.items()}
        client_before, started = time.process_time(), time.perf_counter()
        for _ in range(jobs):
            run()
        elapsed = time.perf_counter() - started
        spent = {
            role: (cpu_seconds(pid) - before[role] - elapsed * idle[_label(name, role)]) / jobs
            for role, pid in pids.items()
        }
        spent["client"] = (time.process_time() - client_before) / jobs
        parts = "  ".join(f"{role} {ms * 1000:5.2f}" for role, ms in spent.items())
        print(f"{name:<14} total {sum(spent.values()) * 1000:5.2f}   {parts}")


def _label(path: str, role: str) -> str:
    return "redis" if role == "redis" else f"{path} {role}"


def submissions(args: argparse.Namespace, our_port: int, hand_port: int) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    print(f"\nsubmissions without waiting: {args.clients} clients x {args.seconds:g} s")
    rates: dict[str, float] = {}
    for name, port, path, queue in (
        ("ours", our_port, "/api/conditions/evaluate", "eyeflow.interactive"),
        ("hand-rolled", hand_port, "/evaluate", "bench.handrolled"),
    ):
        rates[name], counts = throughput(port, path, args.clients, args.seconds)
        answers = dict(sorted(counts.items()))
        print(f"{name:<14} {rates[name]:>9.1f} accepted/s   answers {answers}")
        drained(client, [queue])
    print(f"submissions/s ours / hand-rolled: {rates['ours'] / rates['hand-rolled']:.2f}x")


def commands(jobs: int, paths: dict[str, Callable[[], None]]) -> None:
    idle = idle_tally(REDIS_URL, 3.0)
    print(f"\nRedis commands per job (MONITOR, db 12, idle background subtracted), "
          f"{jobs} sequential jobs per path")  # fmt: skip
    for name, run in paths.items():
        counted = per_job(REDIS_URL, jobs, run, idle)
        top = ", ".join(f"{cmd} {n:.1f}" for cmd, n in counted.top)
        print(f"{name:<14} {counted.client:>5.1f} sent {counted.lua:>5.1f} inside Lua ({top})")


def batch_phase(args: argparse.Namespace, fleet, via_ours: Callable[[], None]) -> None:  # type: ignore[no-untyped-def]
    idle = [timed(via_ours) for _ in range(300)]
    intents = make_intents(args.intents)
    started = time.perf_counter()
    response = fleet.client.post("/api/rules/generate-batch", json={"intents": intents})
    accepted = time.perf_counter() - started
    if response.status_code != 202:
        raise SystemExit(f"batch refused: {response.status_code} {response.text[:300]}")
    batch_id = response.json()["task_id"]
    busy = [timed(via_ours) for _ in range(300)]
    body = fleet.client.get(f"/api/tasks/{batch_id}").json()
    print(f"\nbatch of {args.intents} intents: 202 in {accepted * 1000:.0f} ms; "
          f"{body['progress']['succeeded']} items done after the busy samples")  # fmt: skip
    print(f"{'evaluate round trip':<36} {'p50':>8} {'p99':>8} {'max':>8} {'n':>6}")
    idle_p50, idle_row = row("idle", idle)
    busy_p50, busy_row = row("while the batch fans out", busy)
    print(idle_row)
    print(busy_row)
    print(f"busy / idle p50: {busy_p50 / idle_p50:.2f}x")
    fleet.client.delete(f"/api/tasks/{batch_id}")
    wait_terminal(fleet.client, batch_id)


if __name__ == "__main__":
    main()
