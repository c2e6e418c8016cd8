"""One timed fleet run of the batch bench: a gateway + K batch workers, one batch, its checks.

The processes are started and stopped with `processes` (shared with the other fleet bench); here
is what is specific to a batch: the workers' commands, submitting and long-polling the batch,
timing its first results page, reading the processes' CPU and RSS, and checking every item.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis
from batch_workload import digest
from proc_stats import cpu_seconds, vm_hwm_kb
from processes import ROOT, free_port, gateway_command, spawn, stop, wait_until

REDIS_URL = "redis://127.0.0.1:6379/12"  # the bench's own database: flushed before every run
TERMINAL = {"succeeded", "failed", "cancelled"}
FIRST_PAGE = 100
PAGE = 500
WARMUP_INTENTS = 32


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
    llm_calls: int | None = None  # calls the fake provider served in the timed window
    problems: list[str] = field(default_factory=list)


def worker_command(index: int) -> list[str]:
    """The first batch worker is exactly the documented command; a second one is the same argv
    (from `worker_argv`) under its own node name, so the two do not clash on the control bus."""
    if index == 0:
        return [sys.executable, "-m", "eyeflow_worker.worker", "batch"]
    sys.path.insert(0, str(ROOT))
    from eyeflow_worker.core.settings import Settings
    from eyeflow_worker.worker import worker_argv

    argv = worker_argv("batch", Settings())
    argv[argv.index("--hostname") + 1] = f"batch{index + 1}@%h"
    return [sys.executable, "-m", "celery", "-A", "eyeflow_worker.celery_app", *argv]


def wait_terminal(client: httpx.Client, task_id: str) -> dict[str, Any]:
    """Long-polls the task until it is terminal and returns its record."""
    while True:
        response = client.get(f"/api/tasks/{task_id}", params={"wait": 30})
        response.raise_for_status()
        task: dict[str, Any] = response.json()
        if task["status"] in TERMINAL:
            return task


def submit(client: httpx.Client, intents: list[str]) -> str:
    """Submits one batch and returns its task id; anything but 202 ends the bench."""
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
    """Pages through /results and records in `out.problems` whatever differs from `expected`."""
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
    workers: int,
    intents: list[str],
    expected: list[str | None],
    env: dict[str, str],
    llm_calls: Callable[[], int] | None = None,
) -> FleetRun:
    """Fresh processes on a flushed db 12, a warm-up batch, then the timed batch and its checks."""
    out = FleetRun(workers)
    redis.Redis.from_url(REDIS_URL).flushdb()
    port = free_port()
    gateway = spawn(gateway_command(port), env, Path("/tmp/eyeflow-batch-bench-gateway.log"))
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
            calls_before = llm_calls() if llm_calls else 0
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
            if llm_calls:
                out.llm_calls = llm_calls() - calls_before
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
