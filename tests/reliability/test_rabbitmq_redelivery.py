"""On RabbitMQ a worker killed with SIGKILL gives its in-flight messages back the moment its
connection drops: within seconds, with the visibility timeout at its default hour (it plays no
part), and the next worker receives them at once.

Real workers on a RabbitMQ vhost of the test's own (quorum queues), the records in Redis
database 14, the real Ollama provider code against a loopback fake that holds provider calls
until released — so the kill provably lands while a job is inside its provider call, its
message delivered and unacked. What the job then does with the redelivery (its lease decides)
and that it ends are `test_worker_killed.py`'s and `test_lease_recovery.py`'s, which run on
RabbitMQ too.
"""

from __future__ import annotations

import logging
import time

import pytest
import redis
from fastapi.testclient import TestClient

from api_gateway.main import create_app
from eyeflow_worker.core.records import job_key
from tests.brokers import ready_messages, unacked_messages
from tests.reliability.conftest import (
    WorkerFactory,
    active_broker_url,
    ollama_env,
    settings_from,
    wait_until,
)
from tests.reliability.holding_llm import HoldingOllama

pytestmark = pytest.mark.parametrize("reliability_broker", ["rabbitmq"], indirect=True)
logger = logging.getLogger(__name__)
# "Promptly": the broker's own doing, far below the visibility timeout (3600 s here).
PROMPT_SECONDS = 5.0


def test_a_killed_workers_in_flight_job_is_redelivered_within_seconds(
    db14: redis.Redis, worker_factory: WorkerFactory
) -> None:
    url = active_broker_url()
    with HoldingOllama(hold=1) as fake:
        env = ollama_env(
            fake.url,
            LLM_REQUEST_TIMEOUT_SECONDS="60",
            VISIBILITY_TIMEOUT_SECONDS="3600",  # the default: no help from a visibility timeout
        )
        settings = settings_from(env)
        queue = settings.queue_interactive
        queues = f"{queue},{settings.queue_webhooks}"
        first = worker_factory(env, queues, "rmq-first")

        with TestClient(create_app(settings)) as gateway:
            accepted = gateway.post(
                "/api/rules/generate",
                json={"user_intent": "Alert the on-call DBA when database memory exceeds 85%"},
            )
            assert accepted.status_code == 202, accepted.text
            task_id = accepted.json()["task_id"]
            assert fake.all_held.wait(30), "the first worker never called the provider"
            assert db14.hget(job_key(task_id), "status") == "running"
            # Delivered to the first worker and unacked: neither on the queue nor acked.
            assert ready_messages(url, queue) == 0
            assert unacked_messages(url) == 1

            killed_at = time.monotonic()
            first.kill()
            back_after = wait_until(
                lambda: ready_messages(url, queue) == 1,
                PROMPT_SECONDS,
                "RabbitMQ to put the killed worker's message back on its queue",
            )
            # The next worker to consume the queue receives it at once.
            worker_factory(env, queues, "rmq-second")
            taken_after = wait_until(
                lambda: ready_messages(url, queue) == 0, PROMPT_SECONDS, "the second worker"
            )
            received = time.monotonic() - killed_at

    assert db14.hget(job_key(task_id), "status") in ("running", "queued", "succeeded")
    logger.info(
        f"[rabbitmq] kill → message back on its queue {back_after:.2f}s; "
        f"second worker ready and holding it {taken_after:.2f}s later "
        f"({received:.2f}s after the kill)"
    )
