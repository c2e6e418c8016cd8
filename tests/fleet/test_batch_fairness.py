"""Fair shares between tenants on a real batch worker: a small batch submitted right after a large
one does not wait behind it.

Tenant A submits 120 items, tenant B 12 a moment later. The batch worker (a real Celery
subprocess on the fleet's Redis, with its own batch queue so the shared fleet's batch worker
never takes its messages) admits at most 4 items of a tenant at a time, round-robin; its provider
is the Ollama fake that records every call in arrival order (each answer takes 0.1 s). Before
admission, B's items sat behind all of A's on the FIFO queue; now B's calls interleave with A's,
and B is done long before A is half done. The assertions are on that order, not on wall-clock
times.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from api_gateway.main import create_app
from eyeflow_worker.core.celery_factory import create_celery_app
from eyeflow_worker.core.settings import Settings
from tests.fleet.conftest import REDIS_URL
from tests.fleet.helpers import wait_for_task
from tests.fleet.worker_process import WorkerProcess, fleet_environment
from tests.reliability.holding_llm import HoldingOllama

logger = logging.getLogger(__name__)

TENANT_CAP = 4
BIG, SMALL = 120, 12


def _intents(tag: str, count: int) -> list[str]:
    metrics = ["CPU", "memory", "disk usage", "error rate", "latency"]
    # The fake model answers "> 85" for every item; the intents say so (faithfully).
    return [
        f"Alert the team when {metrics[i % len(metrics)]} exceeds 85% (item {tag}{i})"
        for i in range(count)
    ]


@pytest.fixture
def fake() -> Iterator[HoldingOllama]:
    with HoldingOllama(hold=0, serve_delay=0.1) as server:
        yield server


@pytest.fixture
def fair_gateway(
    fake: HoldingOllama, fleet_redis: redis.Redis, tmp_path: Path
) -> Iterator[TestClient]:
    """The gateway, and one batch worker capped at TENANT_CAP items in flight per tenant."""
    env = fleet_environment(
        REDIS_URL,
        extra={
            "QUEUE_BATCH": "eyeflow.test.fair-batch",
            "BATCH_TENANT_MAX_IN_FLIGHT": str(TENANT_CAP),
            "LLM_PROVIDER": "ollama",
            "LLM_MODEL": "llama3.1",
            "LLM_API_URL": fake.url,
            "LLM_REQUEST_TIMEOUT_SECONDS": "30",
            "LLM_MAX_ATTEMPTS": "1",
            "RULES_MAX_REPAIR_ATTEMPTS": "0",
        },
    )
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        **{k.lower(): v for k, v in env.items() if k.lower() in Settings.model_fields},
    )
    celery = create_celery_app(settings, include_tasks=False)
    worker = WorkerProcess(env, settings.queue_batch, "fair-batch", tmp_path / "fair-batch.log")
    try:
        worker.start(celery)
        with TestClient(create_app(settings)) as gateway:
            yield gateway
    finally:
        worker.stop()
        celery.close()


def test_a_small_batch_right_after_a_large_one_ends_long_before_it(
    fair_gateway: TestClient, fake: HoldingOllama
) -> None:
    big = fair_gateway.post(
        "/api/rules/generate-batch",
        json={"intents": _intents("a", BIG)},
        headers={"X-User-ID": "tenant-a"},
    )
    small = fair_gateway.post(
        "/api/rules/generate-batch",
        json={"intents": _intents("b", SMALL)},
        headers={"X-User-ID": "tenant-b"},
    )
    assert big.status_code == small.status_code == 202, (big.text, small.text)

    small_done = wait_for_task(
        fair_gateway, small.json()["task_id"], headers={"X-User-ID": "tenant-b"}, timeout=60
    )
    big_done = wait_for_task(
        fair_gateway, big.json()["task_id"], headers={"X-User-ID": "tenant-a"}, timeout=120
    )

    assert small_done["progress"] == {
        "total": SMALL,
        "succeeded": SMALL,
        "failed": 0,
        "cancelled": 0,
    }
    assert big_done["progress"] == {"total": BIG, "succeeded": BIG, "failed": 0, "cancelled": 0}
    assert small_done["finished_at"] < big_done["finished_at"]
    order = ["b" if "(item b" in call.intent else "a" for call in fake.snapshot()]
    assert (order.count("a"), order.count("b")) == (BIG, SMALL)  # each item called once
    a_before_first_b = order.index("b")
    last_b = len(order) - 1 - order[::-1].index("b")
    a_before_last_b = order[:last_b].count("a")
    logger.info(
        f"[fairness] of A's {BIG} calls, {a_before_first_b} came before B's first and "
        f"{a_before_last_b} before B's last; call order: {''.join(order)}"
    )
    # B's first item started within a few of A's (its start message queued behind at most a
    # cap's worth of A's items), and all of B ran while A had done well under half its items:
    # in FIFO order B's first call would come after all 120 of A's.
    assert a_before_first_b <= 3 * TENANT_CAP, order
    assert a_before_last_b < BIG // 2, order
