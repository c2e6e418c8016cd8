"""A worker killed with SIGKILL gives its jobs back within about a minute — with the default
settings: the visibility timeout stays at its hour, and on the Redis broker recovery comes from
the job leases and the reaper (`tasks/leasing.py`); on RabbitMQ from the broker's immediate
redelivery, which takes over the dead holder's lease.

Real Celery workers, the real Redis (database 14), the real Ollama provider code against a
loopback fake that holds the first provider calls until the test releases them (after the kill:
they answer into the dead worker's sockets). Every item must end, each exactly once, and the
only provider calls made twice are the ones that were in flight at the kill.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter

import redis
from fastapi.testclient import TestClient

from api_gateway.main import create_app
from eyeflow_worker.core.records import job_key
from tests.fleet.helpers import wait_for_task
from tests.reliability.conftest import (
    Broker,
    WorkerFactory,
    ollama_env,
    settings_from,
    wait_until,
)
from tests.reliability.holding_llm import HoldingOllama

logger = logging.getLogger(__name__)

RECOVERY_SECONDS = 90  # the bound, with the defaults


def _env(fake: HoldingOllama, **extra: str) -> dict[str, str]:
    return ollama_env(
        fake.url,
        LLM_REQUEST_TIMEOUT_SECONDS="120",
        VISIBILITY_TIMEOUT_SECONDS="3600",  # the default: the broker gives nothing back
        TEST_WORKER_THREADS="32",  # the default batch concurrency: 30 calls in flight at once
        **extra,
    )


def test_a_batch_worker_killed_with_30_items_in_flight_recovers_them_within_90s(
    db14: redis.Redis, worker_factory: WorkerFactory, reliability_broker: Broker
) -> None:
    total, in_flight = 60, 30
    intents = [f"Alert the team when CPU exceeds 85% (item {i})" for i in range(total)]
    with HoldingOllama(hold=in_flight, serve_delay=0.05) as fake:
        env = _env(fake)
        settings = settings_from(env)
        first = worker_factory(env, settings.queue_batch, "lease-batch-first")
        with TestClient(create_app(settings)) as gateway:
            accepted = gateway.post("/api/rules/generate-batch", json={"intents": intents})
            assert accepted.status_code == 202, accepted.text
            task_id = accepted.json()["task_id"]

            assert fake.all_held.wait(60), "the batch worker never had 30 calls in flight"
            held_intents = {call.intent for call in fake.held_calls()}
            assert len(held_intents) == in_flight
            first.kill()
            killed_at = time.monotonic()
            # In flight at the kill: called, and not stored (held, or answered into a worker
            # that died before storing it).
            stored = {json.loads(raw)["intent"] for raw in db14.hvals(f"{job_key(task_id)}:items")}
            in_flight_at_kill = {call.intent for call in fake.snapshot()} - stored
            second = worker_factory(env, settings.queue_batch, "lease-batch-second")
            fake.release.set()  # the held calls now answer into dead sockets

            task = wait_for_task(gateway, task_id, timeout=RECOVERY_SECONDS + 30)
            recovered = time.monotonic() - killed_at

    assert task["status"] == "succeeded", task
    assert task["progress"] == {"total": total, "succeeded": total, "failed": 0, "cancelled": 0}
    assert db14.hlen(f"{job_key(task_id)}:items") == total
    calls = Counter(call.intent for call in fake.snapshot())
    assert set(calls) == set(intents)  # nothing lost: every item reached the provider
    twice = {intent for intent, n in calls.items() if n > 1}
    assert held_intents <= in_flight_at_kill
    assert twice <= in_flight_at_kill  # only the calls in flight at the kill were made again
    assert max(calls.values()) <= 2
    assert recovered < RECOVERY_SECONDS, f"recovered {recovered:.1f}s after the kill"
    reaped = [line for line in second.log.splitlines() if "sending it again" in line]
    if reliability_broker == "redis":
        # Kombu's Redis transport gives nothing back before the visibility timeout (1 h).
        assert len(reaped) >= in_flight, "recovery did not come from the reaper"
    else:
        # RabbitMQ gives the dead consumer's messages back at once, flagged redelivered: each
        # takes over the lease it held, with no wait for the lease to expire.
        assert reaped == []
        assert recovered < 20, f"recovered {recovered:.1f}s after the kill"
    logger.info(f"[lease-batch] kill → batch succeeded: {recovered:.1f}s; in flight at the "
                f"kill: {len(in_flight_at_kill)}, of them called again: {len(twice)}; calls "
                f"beyond those: {sum(calls.values()) - total - len(twice)}")  # fmt: skip


def test_an_interactive_worker_killed_mid_job_is_recovered_by_the_reaper(
    db14: redis.Redis, worker_factory: WorkerFactory
) -> None:
    with HoldingOllama(hold=1) as fake:
        # The default lease is the batch test's; this one checks the record's lease and the
        # reaper on the interactive path, with a short lease to keep the suite quick.
        env = _env(fake, LEASE_SECONDS="6")
        settings = settings_from(env)
        queues = f"{settings.queue_interactive},{settings.queue_webhooks}"
        first = worker_factory(env, queues, "lease-interactive-first")
        with TestClient(create_app(settings)) as gateway:
            accepted = gateway.post(
                "/api/rules/generate", json={"user_intent": "Page the DBA when memory > 85%"}
            )
            assert accepted.status_code == 202, accepted.text
            task_id = accepted.json()["task_id"]
            assert fake.all_held.wait(30)
            record = db14.hgetall(job_key(task_id))
            assert record["lease_state"] == "held"  # the running job's lease, on its record
            assert int(record["lease_token"]) > 0
            assert float(record["lease_expires_at"]) > time.time()
            first.kill()
            killed_at = time.monotonic()
            worker_factory(env, queues, "lease-interactive-second")
            fake.release.set()
            wait_until(
                lambda: db14.hget(job_key(task_id), "status") == "succeeded",
                RECOVERY_SECONDS,
                "the job to succeed after the kill",
            )
            recovered = time.monotonic() - killed_at
            task = wait_for_task(gateway, task_id, timeout=5)

    assert task["status"] == "succeeded"
    assert task["attempts"] == 2
    assert len(fake.snapshot()) == 2  # the held call, then the reaped run's
    ended = db14.hgetall(job_key(task_id))
    assert not [name for name in ended if name.startswith("lease_")]  # released at the end
    logger.info(f"[lease-interactive] kill → succeeded: {recovered:.1f}s")
