"""The Python client (`eyeflow_worker.client`) against the real fleet of `conftest.py`: the
gateway under uvicorn on a loopback port, real Redis (database 8), real Celery workers serving the
embedded offline provider. Every job kind end to end, typed results, paging, cancel, errors."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from eyeflow_worker.client import (
    AsyncEyeflowClient,
    Conflict,
    EyeflowClient,
    InvalidRequest,
    NotFound,
)

pytestmark = pytest.mark.fleet

INTENT = "Alert team when database memory exceeds 85%"


def test_generate_then_refine_with_typed_results(gateway_url: str) -> None:
    with EyeflowClient(gateway_url) as client:
        accepted = client.submit_generate(INTENT)
        generated = client.wait(accepted.task_id, timeout=30)
        rules = generated.rules_result().workflow_rules
        refined_job = client.submit_refine(rules.to_json(), "lower the threshold to 80%")
        refined = client.wait(refined_job.task_id, timeout=30)

    assert (accepted.kind, accepted.created) == ("generate", True)
    assert accepted.status_url == f"/api/tasks/{accepted.task_id}"
    assert generated.status == "succeeded"
    assert generated.progress.succeeded == 1
    assert rules.rules[0].condition == "$metrics.db_memory_percent > 85"
    assert generated.rules_result().provider == "offline"
    result = refined.refine_result()
    assert result.workflow_rules.rules[0].condition == "$metrics.db_memory_percent > 80"
    assert result.changes


def test_evaluate_is_deterministic_for_an_expression(gateway_url: str) -> None:
    with EyeflowClient(gateway_url) as client:
        job = client.submit_evaluate(
            "$metrics.cpu > 80 AND $status == running",
            {"metrics": {"cpu": 93}, "status": "running"},
        )
        verdict = client.wait(job.task_id, timeout=30).evaluate_result()

    assert verdict.result is True
    assert verdict.method == "deterministic"
    assert verdict.missing == []


def test_batch_pages_through_every_item_and_a_repeat_key_is_the_same_batch(
    gateway_url: str,
) -> None:
    intents = [f"Alert when CPU exceeds {60 + i}% (client {i})" for i in range(12)]
    key = f"client-test-{uuid.uuid4()}"
    with EyeflowClient(gateway_url) as client:
        accepted = client.submit_batch(intents, idempotency_key=key)
        task = client.wait(accepted.task_id, timeout=60)
        items = list(client.iter_results(accepted.task_id, page_size=5))
        failed = list(client.iter_results(accepted.task_id, status="failed"))
        repeat = client.submit_batch(intents, idempotency_key=key)

    assert (accepted.kind, accepted.total) == ("batch", 12)
    assert task.status == "succeeded"
    assert task.result is None  # a batch's results are its items
    assert task.progress.succeeded == 12
    assert [item.index for item in items] == list(range(12))
    assert [item.intent for item in items] == intents
    assert all(item.workflow_rules is not None and item.workflow_rules.rules for item in items)
    assert failed == []
    assert (repeat.task_id, repeat.created, repeat.status) == (accepted.task_id, False, "succeeded")


def test_cancel_a_running_batch_then_cancelling_again_is_a_conflict_with_the_task(
    gateway_url: str,
) -> None:
    intents = [f"Alert when disk usage exceeds {50 + i % 40}% ({i})" for i in range(1500)]
    with EyeflowClient(gateway_url) as client:
        accepted = client.submit_batch(intents)
        cancelled = client.cancel(accepted.task_id)
        with pytest.raises(Conflict) as again:
            client.cancel(accepted.task_id)

    assert cancelled.status == "cancelled"
    assert again.value.task is not None
    assert again.value.task.status == "cancelled"
    assert again.value.status == 409


def test_a_real_404_and_a_real_422(gateway_url: str) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    with EyeflowClient(gateway_url, tenant="acme") as client:
        with pytest.raises(NotFound) as not_found:
            client.get_task(missing)
        with pytest.raises(InvalidRequest) as invalid:
            client.submit_generate("x" * 4001)
        with pytest.raises(InvalidRequest) as bad_mode:
            client.submit_batch(["ok"], mode="fastest")  # type: ignore[arg-type]

    assert f"task {missing} not found for tenant 'acme'" in not_found.value.message
    assert invalid.value.fields == ("user_intent",)
    assert invalid.value.issues[0].type == "string_too_long"
    assert bad_mode.value.fields == ("mode",)


def test_the_async_client_runs_a_job_end_to_end(gateway_url: str) -> None:
    async def run() -> str:
        async with AsyncEyeflowClient(gateway_url) as client:
            job = await client.submit_generate(INTENT)
            task = await client.wait(job.task_id, timeout=30)
            return task.rules_result().workflow_rules.rules[0].condition

    assert asyncio.run(run()) == "$metrics.db_memory_percent > 85"
