"""Batch workers run at a lower CPU priority than the gateway and interactive workers
(`WORKER_NICE_BATCH`), so a batch on a shared host takes only the CPU interactive jobs leave."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The worker's own `main()`, up to the moment Celery would take over: `worker_main` is replaced
# by a report of the priority the process (and so every pool thread it starts) runs at.
_PROBE = """
import os, sys
from eyeflow_worker import worker
worker.app.worker_main = lambda argv: print("nice", os.getpriority(os.PRIO_PROCESS, 0))
sys.argv = ["eyeflow_worker.worker", sys.argv[1]]
worker.main()
"""


def _priority_raise(role: str, extra: dict[str, str]) -> int:
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "WEBHOOK_SECRET": "whsec_ZXllZmxvdy10ZXN0LXdlYmhvb2stc2VjcmV0",
        "CACHE_ENCRYPTION_KEY": "dGVzdC1vbmx5LWZlcm5ldC1rZXktMzItYnl0ZXMtISE=",
        "REDIS_URL": "redis://127.0.0.1:6379/15",
        "PYTHONPATH": str(ROOT),
        "LOG_LEVEL": "WARNING",
        **extra,
    }
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, role],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    reported = [line for line in done.stdout.splitlines() if line.startswith("nice ")]
    assert reported, done.stdout + done.stderr
    return int(reported[-1].split()[1]) - os.getpriority(os.PRIO_PROCESS, 0)


def test_a_batch_worker_lowers_its_cpu_priority_an_interactive_one_does_not() -> None:
    assert _priority_raise("batch", {}) == 10
    assert _priority_raise("batch", {"WORKER_NICE_BATCH": "3"}) == 3
    assert _priority_raise("batch", {"WORKER_NICE_BATCH": "0"}) == 0
    assert _priority_raise("interactive", {}) == 0
