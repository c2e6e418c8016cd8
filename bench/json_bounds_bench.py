"""What one hostile (or merely large) submission body costs the gateway: the peak of Python
memory allocated while it is handled (tracemalloc), the answer, and the time without tracing.

The gateway runs in-process (TestClient) on Redis database 12, the benchmarks' own; the broker
is not reached (`send_task` is stubbed), and every job record the run creates is deleted after.

Run: .venv/bin/python bench/json_bounds_bench.py
"""

from __future__ import annotations

import json
import sys
import time
import tracemalloc
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402

from api_gateway.main import create_app  # noqa: E402
from eyeflow_worker.core.settings import Settings  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/12"
MIB = 1024 * 1024
JSON = {"content-type": "application/json"}


def bodies() -> dict[str, tuple[str, bytes]]:
    generate, batch = "/api/rules/generate", "/api/rules/generate-batch"
    head = b'{"user_intent": "Alert me", "aggregated_context": {"variables": '
    lists = head + b"[" + b",".join([b"[]"] * ((MIB - 80) // 3)) + b"]}}"
    levels = MIB // 2 - 80
    deep = head + b"[" * levels + b"]" * levels + b"}}"
    largest = head + b"[" + b",".join([b"[]"] * 99_990) + b"]}}"
    entry = {
        "description": "CPU usage above a threshold in percent",
        "params": {"threshold": "number", "window": "string"},
    }
    catalogue = {"condition_types": [{"type": f"cond_{i}", **entry} for i in range(7500)]}
    realistic = {"user_intent": "Alert me", "aggregated_context": catalogue}
    intents = {"intents": ["Alert the team when database memory exceeds 85 percent " * 18] * 5000}
    return {
        "1 MiB of empty lists [[],[],...]": (generate, lists),
        "1 MiB of nesting [[[[...]]]]": (generate, deep),
        "99,990 empty lists (at the bound)": (generate, largest),
        "catalogue, 7,500 entries": (generate, json.dumps(realistic).encode()),
        "batch, 5,000 intents of 1 KB": (batch, json.dumps(intents).encode()),
    }


def main() -> None:
    settings = Settings(_env_file=None, redis_url=REDIS_URL)  # type: ignore[call-arg]
    app = create_app(settings)
    client = app.state.gateway.redis
    http = TestClient(app)
    created: list[str] = []

    def post(path: str, body: bytes) -> tuple[int, str]:
        answer = http.post(path, content=body, headers=JSON)
        if answer.status_code == 202:
            created.append(answer.json()["task_id"])
        return answer.status_code, answer.text

    print(f"{'body':36} {'size':>9} {'HTTP':>5} {'peak':>10} {'time':>8}  answer")
    with mock.patch.object(app.state.gateway.celery, "send_task"):
        post("/api/rules/generate", b'{"user_intent": "warm up"}')
        for name, (path, body) in bodies().items():
            started = time.perf_counter()
            post(path, body)  # untraced, for the time
            elapsed = time.perf_counter() - started
            tracemalloc.start()
            code, text = post(path, body)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(
                f"{name:36} {len(body) / MIB:6.2f} MiB {code:>5} {peak / MIB:6.1f} MiB "
                f"{elapsed * 1000:6.0f} ms  {text[:90]}"
            )
    for job_id in created:
        key = f"eyeflow:job:{job_id}"
        client.delete(key, f"{key}:intents")


if __name__ == "__main__":
    main()
