"""`?wait=S`: hold a request until the job ends or S seconds pass, woken by Redis pub/sub.

Subscribing *before* reading the record closes the race where the job ends between the read and
the subscription; no polling interval is guessed.
"""

from __future__ import annotations

import threading
import time

import redis

from eyeflow_worker.core.records import JobStore, done_channel
from eyeflow_worker.core.task_view import TERMINAL


def wait_until_terminal(
    client: redis.Redis,
    jobs: JobStore,
    job_id: str,
    timeout_seconds: float,
    slots: threading.BoundedSemaphore,
) -> dict[str, str] | None:
    """The job's record once terminal, or its latest record when time ran out — or at once when
    all `slots` are taken by other waiting requests (the caller then gets a plain 202)."""
    if not slots.acquire(blocking=False):
        return jobs.get(job_id)
    pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
    try:
        pubsub.subscribe(done_channel(job_id))
        deadline = time.monotonic() + timeout_seconds
        record = jobs.get(job_id)
        while record is not None and record.get("status") not in TERMINAL:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            # Woken by the job's message; the 1 s cap re-reads the record now and then in case
            # a message was lost to a reconnect.
            pubsub.get_message(timeout=min(remaining, 1.0))
            record = jobs.get(job_id)
        return record
    finally:
        pubsub.close()
        slots.release()
