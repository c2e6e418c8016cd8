"""Overnight-batch throughput: N intents through the fleet vs a plain in-process loop.

All on the embedded offline provider, all in the same run, against the real Redis (database 12):
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
`workflow_rules` equal what the baseline drafted for that intent (the offline drafter is
deterministic).

Run: .venv/bin/python bench/batch_bench.py [--intents 2000]   (uses Redis database 12)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = "redis://127.0.0.1:6379/12"
FIXTURES = ROOT / "tests" / "rules" / "fixtures" / "intents.json"
TERMINAL = {"succeeded", "failed", "cancelled"}
FIRST_PAGE = 100
PAGE = 500
WARMUP_INTENTS = 32
# Prefixes for the 2nd, 3rd, ... pass over the fixture intents (the 1st pass is verbatim).
PREFIXES = ("", "Please ", "In production, ", "For the EU region, ", "Overnight, ")
NUMBER = re.compile(
    r"(?<![A-Za-z\d])\d{1,3}(?:,\d{3})+(?![A-Za-z\d])|(?<![A-Za-z\d,])\d+(?![A-Za-z\d,])"
)


# --- intents --------------------------------------------------------------------------------------


def make_intents(n: int) -> list[str]:
    """The fixture intents (all four catalogues' wording), cycled; from the second pass on each
    gets its thresholds nudged and a prefix, so no two passes send the same text."""
    base = [case["intent"] for case in json.loads(FIXTURES.read_text())]
    intents = []
    for i in range(n):
        text, round_ = base[i % len(base)], i // len(base)
        if round_:
            bump = 1 + (round_ - 1) % 9

            def nudge(match: re.Match[str], bump: int = bump) -> str:
                raw = match.group(0)
                value = int(raw.replace(",", "")) + bump
                return f"{value:,}" if "," in raw else str(value)

            text = NUMBER.sub(nudge, text)
            prefix = PREFIXES[round_ % len(PREFIXES)]
            if prefix:
                text = prefix + text[0].lower() + text[1:]
        intents.append(text)
    return intents


def digest(rules: Any) -> str:
    return hashlib.sha256(json.dumps(rules, sort_keys=True).encode()).hexdigest()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vm_hwm_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


# --- baseline (child process) ---------------------------------------------------------------------


def baseline_child(n: int) -> None:
    """Runs in its own interpreter: warm up, time the loop, print one JSON line."""
    sys.path.insert(0, str(ROOT))
    from eyeflow_worker.providers.base import ProviderConfig
    from eyeflow_worker.providers.registry import build_llm
    from eyeflow_worker.rules.service import generate_rules
    from eyeflow_worker.settings import get_settings

    settings = get_settings()
    config = ProviderConfig(  # what TenantConfigStore serves without NestJS
        provider=settings.llm_provider.lower(),
        model=settings.llm_model,
        temperature=settings.llm_temperature,
        max_tokens=settings.llm_max_tokens,
        api_key=settings.llm_api_key,
        api_url=settings.llm_api_url,
        request_timeout_seconds=settings.llm_request_timeout_seconds,
    )
    llm = build_llm(config, settings)
    intents = make_intents(n)
    attempts = settings.rules_max_repair_attempts
    for intent in intents[:WARMUP_INTENTS]:
        generate_rules(llm, intent, None, max_repair_attempts=attempts)
    digests: list[str | None] = []
    cpu_started = time.process_time()
    started = time.perf_counter()
    for intent in intents:
        try:
            result = generate_rules(llm, intent, None, max_repair_attempts=attempts)
        except Exception:  # counted, reported as failed
            digests.append(None)
        else:
            digests.append(digest(result["workflow_rules"]))
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    rss_kb = vm_hwm_kb(os.getpid())
    print(json.dumps({"seconds": seconds, "cpu": cpu, "digests": digests, "rss_kb": rss_kb}))


def run_baseline(n: int, env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--baseline-child", str(n)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        check=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# --- fleet ----------------------------------------------------------------------------------------


@dataclass
class FleetRun:
    workers: int
    seconds: float = 0.0
    submit_ms: float = 0.0
    first_page_s: float | None = None
    worker_rss_kb: list[int] = field(default_factory=list)
    gateway_rss_kb: int = 0
    worker_cpu_s: float = 0.0
    gateway_cpu_s: float = 0.0
    problems: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def wait_until(check: Any, processes: list[subprocess.Popen[bytes]], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        dead = [p for p in processes if p.poll() is not None]
        if dead:
            raise SystemExit(
                f"{dead[0].args} exited with {dead[0].returncode}; "
                "see /tmp/eyeflow-batch-bench-*.log"
            )
        try:
            if check():
                return
        except (httpx.HTTPError, OSError, KeyError, ValueError):
            pass
        time.sleep(0.2)
    raise SystemExit("a bench process did not become ready; see /tmp/eyeflow-batch-bench-*.log")


def worker_command(index: int) -> list[str]:
    """The first batch worker is exactly the documented command; a second one is the same argv
    (from `worker_argv`) under its own node name, so the two do not clash on the control bus."""
    if index == 0:
        return [sys.executable, "-m", "eyeflow_worker.worker", "batch"]
    sys.path.insert(0, str(ROOT))
    from eyeflow_worker.settings import Settings
    from eyeflow_worker.worker import worker_argv

    argv = worker_argv("batch", Settings())
    argv[argv.index("--hostname") + 1] = f"batch{index + 1}@%h"
    return [sys.executable, "-m", "celery", "-A", "eyeflow_worker.celery_app", *argv]


def wait_terminal(client: httpx.Client, task_id: str) -> dict[str, Any]:
    while True:
        response = client.get(f"/api/tasks/{task_id}", params={"wait": 30})
        response.raise_for_status()
        task: dict[str, Any] = response.json()
        if task["status"] in TERMINAL:
            return task


def submit(client: httpx.Client, intents: list[str]) -> str:
    response = client.post("/api/rules/generate-batch", json={"intents": intents})
    if response.status_code != 202:
        raise SystemExit(f"batch refused: {response.status_code} {response.text[:300]}")
    task_id: str = response.json()["task_id"]
    return task_id


def watch_first_page(
    base_url: str, task_id: str, started: float, size: int, done: threading.Event, out: FleetRun
) -> None:
    """Polls the first results page every 50 ms until every item on it has finished."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        while not done.is_set():
            page = client.get(
                f"/api/tasks/{task_id}/results", params={"offset": 0, "limit": size}
            ).json()
            items = page.get("items", [])
            if len(items) == size and all(item["status"] != "queued" for item in items):
                out.first_page_s = time.perf_counter() - started
                return
            time.sleep(0.05)


def check_results(
    client: httpx.Client,
    task_id: str,
    task: dict[str, Any],
    intents: list[str],
    expected: list[str | None],
    out: FleetRun,
) -> None:
    n = len(intents)
    if task["status"] != "succeeded":
        out.problems.append(f"batch ended {task['status']}: {task.get('error')}")
    items: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None:
        page = client.get(f"/api/tasks/{task_id}/results", params={"offset": offset, "limit": PAGE})
        page.raise_for_status()
        body = page.json()
        items.extend(body["items"])
        offset = body["next_offset"]
    if len(items) != n:
        out.problems.append(f"/results returned {len(items)} items, expected {n}")
    failed = [item for item in items if item["status"] != "succeeded"]
    if failed:
        out.problems.append(f"{len(failed)} items not succeeded, first: {failed[0]}")
    misordered = [i for i, item in enumerate(items) if item["index"] != i]
    if misordered:
        out.problems.append(f"{len(misordered)} items out of order, first at {misordered[0]}")
    wrong_intent = [i for i, item in enumerate(items[:n]) if item["intent"] != intents[i]]
    if wrong_intent:
        out.problems.append(f"{len(wrong_intent)} items with another intent")
    differing = [
        i
        for i, item in enumerate(items[:n])
        if item["status"] == "succeeded" and digest(item["workflow_rules"]) != expected[i]
    ]
    if differing:
        out.problems.append(f"{len(differing)} items' rules differ from the baseline's")


def run_fleet(
    workers: int, intents: list[str], expected: list[str | None], env: dict[str, str]
) -> FleetRun:
    out = FleetRun(workers)
    redis.Redis.from_url(REDIS_URL).flushdb()
    port = free_port()
    gateway = spawn(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "api_gateway.main:create_app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env,
        Path("/tmp/eyeflow-batch-bench-gateway.log"),
    )
    processes = [gateway]
    try:
        for index in range(workers):
            processes.append(
                spawn(
                    worker_command(index),
                    env,
                    Path(f"/tmp/eyeflow-batch-bench-worker{index + 1}.log"),
                )
            )
        base_url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base_url, timeout=45) as client:
            wait_until(
                lambda: client.get("/health").json()["workers"]["online"] >= workers, processes
            )
            # Warm-up: first imports, connections and per-process caches, as in the baseline.
            warm = wait_terminal(client, submit(client, intents[: WARMUP_INTENTS * workers]))
            if warm["status"] != "succeeded":
                raise SystemExit(f"warm-up batch ended {warm['status']}: {warm.get('error')}")

            done = threading.Event()
            cpu_before = [cpu_seconds(p.pid) for p in processes]
            started = time.perf_counter()
            task_id = submit(client, intents)
            out.submit_ms = (time.perf_counter() - started) * 1000
            watcher = threading.Thread(
                target=watch_first_page,
                args=(base_url, task_id, started, min(FIRST_PAGE, len(intents)), done, out),
                daemon=True,
            )
            watcher.start()
            task = wait_terminal(client, task_id)
            out.seconds = time.perf_counter() - started
            cpu = [cpu_seconds(p.pid) - b for p, b in zip(processes, cpu_before, strict=True)]
            out.gateway_cpu_s, out.worker_cpu_s = cpu[0], sum(cpu[1:])
            done.set()
            watcher.join(timeout=30)

            out.worker_rss_kb = [vm_hwm_kb(p.pid) for p in processes[1:]]
            out.gateway_rss_kb = vm_hwm_kb(gateway.pid)
            check_results(client, task_id, task, intents, expected, out)
    finally:
        stop(processes)
    return out


# --- report ---------------------------------------------------------------------------------------


def mib(kb: int) -> str:
    return f"{kb / 1024:.0f}"


def fleet_label(run: FleetRun) -> str:
    return f"fleet: gateway + {run.workers} batch worker{'s' if run.workers > 1 else ''}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--intents", type=int, default=2000)
    parser.add_argument("--no-two-workers", action="store_true", help="skip the 2-worker run")
    parser.add_argument("--baseline-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_child is not None:
        baseline_child(args.baseline_child)
        return
    n = args.intents
    if not 1 <= n <= 5000:
        raise SystemExit("--intents must be between 1 and 5000 (MAX_BATCH_INTENTS)")

    env = {
        **os.environ,
        "REDIS_URL": REDIS_URL,
        "PYTHONPATH": str(ROOT),
        "LOG_LEVEL": "WARNING",
        "LLM_PROVIDER": "offline",
        "LLM_MODEL": "eyeflow-offline-drafter-1",
    }
    for name in ("NESTJS_SERVER_URL", "GATEWAY_API_TOKEN", "BROKER_URL", "RESULT_BACKEND_URL"):
        env.pop(name, None)
    os.environ.update(env)  # worker_command() builds Settings from it

    intents = make_intents(n)
    load = os.getloadavg()[0]
    # The baseline runs before and after the fleet runs; its figure is the mean of the two, so
    # drift on the machine during the run shows (and is averaged) rather than hidden.
    before = run_baseline(n, env)
    expected: list[str | None] = before["digests"]
    baseline_failed = sum(d is None for d in expected)
    runs = [run_fleet(1, intents, expected, env)]
    if not args.no_two_workers:
        runs.append(run_fleet(2, intents, expected, env))
    after = run_baseline(n, env)
    if after["digests"] != expected:
        raise SystemExit("the offline drafter was not deterministic across baseline runs")
    base_rate = 2 * n / (before["seconds"] + after["seconds"])

    base_cpu_ms = (before["cpu"] + after["cpu"]) * 1000 / (2 * n)
    base_rss = mib(max(before["rss_kb"], after["rss_kb"]))
    label = "baseline: generate_rules loop, 1 thread"
    print(
        f"overnight batch, {n} intents ({len(set(intents))} distinct), offline provider, "
        f"{os.cpu_count()} CPUs, load avg at start {load:.2f}"
    )
    print(
        f"\n{'path':<42} {'items/s':>8} {'vs base':>8} {'total s':>8} {'1st page s':>10} "
        f"{'submit ms':>9}"
    )
    print(f"{label:<42} {base_rate:>8.1f} {1:>7.2f}x {n / base_rate:>8.2f} {'-':>10} {'-':>9}")
    for run in runs:
        rate = n / run.seconds
        first = f"{run.first_page_s:.2f}" if run.first_page_s is not None else "n/a"
        print(
            f"{fleet_label(run):<42} {rate:>8.1f} {rate / base_rate:>7.2f}x {run.seconds:>8.2f} "
            f"{first:>10} {run.submit_ms:>9.0f}"
        )
    print(
        f"(baseline before / after the fleet runs: {n / before['seconds']:.1f} / "
        f"{n / after['seconds']:.1f} items/s)"
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
    problems = [f"{run.workers} worker(s): {p}" for run in runs for p in run.problems]
    if baseline_failed:
        problems.insert(0, f"baseline: {baseline_failed} intents failed")
    if problems:
        print("CORRECTNESS PROBLEMS:")
        for problem in problems:
            print(f"  {problem}")
        raise SystemExit(1)
    print(
        f"correctness: every run {n}/{n} succeeded; /results paged ({PAGE}/page) returned {n} "
        "items in order, intents and rules identical to the baseline's"
    )


if __name__ == "__main__":
    main()
