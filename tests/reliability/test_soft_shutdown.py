"""A graceful stop hands a running job back to the broker at once (Celery's soft shutdown), on
Redis and on RabbitMQ, instead of holding it until the job ends — or, when the orchestrator
kills the worker at its deadline, leaving it to the visibility timeout.

The worker runs as docker-compose and `make up` run it: REMAP_SIGTERM=SIGQUIT makes SIGTERM
Celery's cold shutdown, whose soft phase gives running jobs WORKER_SOFT_SHUTDOWN_SECONDS. The
job is held inside its provider call by a loopback fake, so it is provably still running when
that time is up; the visibility timeout is its default hour, so only the hand-back can bring the
message back within seconds.
"""

from __future__ import annotations

import logging

import redis
from fastapi.testclient import TestClient

from api_gateway.main import create_app
from eyeflow_worker.core.records import job_key
from tests.fleet.helpers import wait_for_task
from tests.reliability.conftest import (
    WorkerFactory,
    ollama_env,
    queued_messages,
    settings_from,
    wait_until,
)
from tests.reliability.holding_llm import HoldingOllama

logger = logging.getLogger(__name__)
SOFT_SECONDS = 1.0


def test_a_graceful_stop_hands_the_running_job_back_at_once(
    db14: redis.Redis, worker_factory: WorkerFactory
) -> None:
    with HoldingOllama(hold=1) as fake:
        env = ollama_env(
            fake.url,
            LLM_REQUEST_TIMEOUT_SECONDS="60",
            VISIBILITY_TIMEOUT_SECONDS="3600",
            WORKER_SOFT_SHUTDOWN_SECONDS=str(SOFT_SECONDS),
            REMAP_SIGTERM="SIGQUIT",
        )
        settings = settings_from(env)
        queue = settings.queue_interactive
        stopping = worker_factory(env, f"{queue},{settings.queue_webhooks}", "soft-first")

        with TestClient(create_app(settings)) as gateway:
            accepted = gateway.post(
                "/api/rules/generate",
                json={"user_intent": "Alert the on-call DBA when database memory exceeds 85%"},
            )
            assert accepted.status_code == 202, accepted.text
            task_id = accepted.json()["task_id"]
            assert fake.all_held.wait(30), "the worker never called the provider"
            assert queued_messages(db14, queue) == 0  # delivered, running

            stopping.terminate()
            back_after = wait_until(
                lambda: queued_messages(db14, queue) == 1,
                SOFT_SECONDS + 10,
                "the stopping worker to hand its running job back",
            )
            assert db14.hget(job_key(task_id), "status") == "running"

            # The stopping worker's thread cannot be stopped: once its call returns it may
            # finish its copy; either way a fresh worker ends the job, once.
            fake.release.set()
            stopping.wait_exit(30)
            worker_factory(env, f"{queue},{settings.queue_webhooks}", "soft-second")
            task = wait_for_task(gateway, task_id, timeout=60)

    assert task["status"] == "succeeded", task
    assert back_after < SOFT_SECONDS + 5, back_after
    assert len(fake.snapshot()) <= 2  # the held call and at most the handed-back copy's
    logger.info(f"[soft shutdown] stop_to_message_back={back_after:.2f}s")
