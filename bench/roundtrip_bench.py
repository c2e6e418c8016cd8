"""Round trip of a trivial job through the gateway vs a bare Celery `apply_async` + `get`.

Both go through the same real Redis broker and a real threads-pool worker, in the same run:
  gateway: POST /api/conditions/evaluate?wait=10 ({"condition": "1 < 2"}) over HTTP to uvicorn,
           answered 200 with the finished task (record write, enqueue, worker, pub/sub wake-up)
  celery:  noop.apply_async(queue=...).get() against the Celery result backend

Run: .venv/bin/python bench/roundtrip_bench.py [--jobs 300]   (uses Redis database 12)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import httpx
import redis
from processes import free_port, gateway_command, spawn, stop, wait_until

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = "redis://127.0.0.1:6379/12"
BENCH_QUEUE = "bench.noop"


def summarize(name: str, samples: list[float]) -> tuple[float, str]:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[int(len(ms) * 0.95) - 1]
    median = statistics.median(ms)
    row = f"{name:<34} {median:>9.2f} {statistics.mean(ms):>9.2f} {p95:>9.2f} {len(ms):>6}"
    return median, row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=300)
    jobs = parser.parse_args().jobs

    env = {**os.environ, "REDIS_URL": REDIS_URL, "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING"}
    redis.Redis.from_url(REDIS_URL).flushdb()
    port = free_port()
    py = sys.executable
    processes = [
        spawn(gateway_command(port), env, Path("/tmp/eyeflow-bench-gateway.log")),
        spawn(
            [py, "-m", "eyeflow_worker.worker", "interactive"],
            env,
            Path("/tmp/eyeflow-bench-worker.log"),
        ),
        spawn(
            [
                py,
                "-m",
                "celery",
                "-A",
                "bench.noop_app",
                "worker",
                "-P",
                "threads",
                "-c",
                "16",
                "-Q",
                BENCH_QUEUE,
                "-n",
                "noop@%h",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "WARNING",
            ],
            env,
            Path("/tmp/eyeflow-bench-noop.log"),
        ),
    ]
    try:
        os.environ.update(env)
        sys.path.insert(0, str(ROOT))
        from bench.noop_app import app as noop_app
        from bench.noop_app import noop

        base = f"http://127.0.0.1:{port}"
        client = httpx.Client(base_url=base, timeout=30)
        wait_until(lambda: client.get("/health").json()["workers"]["online"] >= 2, processes)
        body = {"condition": "1 < 2", "context": {}}

        def via_gateway() -> None:
            response = client.post("/api/conditions/evaluate", params={"wait": 10}, json=body)
            assert response.status_code == 200 and response.json()["status"] == "succeeded"

        def via_celery() -> None:
            assert noop.apply_async(queue=BENCH_QUEUE).get(timeout=10) == "ok"

        for warm in (via_gateway, via_celery):
            for _ in range(20):
                warm()
        gateway_samples: list[float] = []
        celery_samples: list[float] = []
        for _ in range(jobs):  # interleaved, so drift on the machine hits both alike
            for run, samples in ((via_gateway, gateway_samples), (via_celery, celery_samples)):
                started = time.perf_counter()
                run()
                samples.append(time.perf_counter() - started)
        print(f"round trip of a trivial job, {jobs} sequential jobs each (ms)")
        print(f"{'path':<34} {'median':>9} {'mean':>9} {'p95':>9} {'n':>6}")
        base_median, base_row = summarize("bare celery apply_async + get", celery_samples)
        gw_median, gw_row = summarize("gateway POST ?wait (HTTP, uvicorn)", gateway_samples)
        print(base_row)
        print(gw_row)
        print(f"gateway / bare celery (median): {gw_median / base_median:.2f}x")
        noop_app.close()
    finally:
        stop(processes)


if __name__ == "__main__":
    main()
