"""Economy batches through real workers against loopback fakes of both batch APIs: every item
stored once and priced at the batch rate, results out of order (the fakes answer in reverse),
a retryable error followed up in a second provider batch, an invalid request failed with the
provider's message, a crash between create and recording the id adopting the created batch,
cancel reaching the provider, and the modes that run realtime."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from eyeflow_worker.core.records import JobStore, NewJob
from tests.fakes.anthropic_batches_server import AnthropicBatchesServer
from tests.fakes.batches_base import BatchesServer, FakeBatch, Item
from tests.fakes.openai_batches_server import OpenAIBatchesServer
from tests.integration.conftest import (
    ANTHROPIC_KEY,
    ANTHROPIC_MODEL,
    OPENAI_KEY,
    OPENAI_MODEL,
    VALID_JSON,
    Stack,
)

# Markers in an intent that script its outcome (the custom ids are only known once submitted).
ERRORED_ONCE = "(errored-once)"
INVALID = "(invalid)"
GARBAGE = "(garbage)"  # the batch answers with text that is no rules at all


class _Scripted:
    """Sets each new batch's outcomes from the markers in its items' prompts; an intent marked
    errored-once errs in its first provider batch only."""

    seen: set[str]

    def script(self: Any, items: list[Item]) -> None:
        for item in items:
            text = json.dumps(item.params)
            if INVALID in text:
                self.outcomes[item.custom_id] = "invalid_request"
            elif ERRORED_ONCE in text and item.custom_id not in self.seen:
                self.seen.add(item.custom_id)
                self.outcomes[item.custom_id] = "errored"
            else:
                self.outcomes.pop(item.custom_id, None)


class ValidAnthropic(AnthropicBatchesServer, _Scripted):
    def reset(self) -> None:
        super().reset()
        self.seen = set()

    def add_batch(self, items: list[Item], metadata: dict[str, str] | None = None) -> FakeBatch:
        self.script(items)
        return super().add_batch(items, metadata)

    def _message(self, item: Item) -> dict[str, Any]:
        message = super()._message(item)
        text = "no rules here" if GARBAGE in json.dumps(item.params) else VALID_JSON
        message["content"] = [{"type": "text", "text": text}]
        return message


class ValidOpenAI(OpenAIBatchesServer, _Scripted):
    def reset(self) -> None:
        super().reset()
        self.seen = set()

    def add_batch(self, items: list[Item], metadata: dict[str, str] | None = None) -> FakeBatch:
        self.script(items)
        return super().add_batch(items, metadata)

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        completion = super()._completion(body)
        completion["choices"][0]["message"]["content"] = VALID_JSON
        return completion


@pytest.fixture(scope="module")
def fakes(stack: Stack) -> Iterator[dict[str, BatchesServer]]:
    with ValidAnthropic() as anthropic, ValidOpenAI() as openai:
        stack.nestjs.add_config(
            "econ-anthropic",
            provider="anthropic",
            model=ANTHROPIC_MODEL,
            maxTokens=2048,
            apiConfig={"apiKey": ANTHROPIC_KEY, "apiUrl": anthropic.url},
        )
        stack.nestjs.add_config(
            "econ-openai",
            provider="openai",
            model=OPENAI_MODEL,
            maxTokens=2048,
            apiConfig={"apiKey": OPENAI_KEY, "apiUrl": openai.url + "/v1"},
        )
        yield {"econ-anthropic": anthropic, "econ-openai": openai}


@pytest.fixture
def fake_of(fakes: dict[str, BatchesServer]) -> dict[str, BatchesServer]:
    for fake in fakes.values():
        fake.reset()
    return fakes


def _intents(tag: str, n: int, marks: dict[int, str] | None = None) -> list[str]:
    marks = marks or {}
    base = "Escalate to the DBA on-call when database memory exceeds 85%"
    return [f"{base} ({tag}-{i}) {marks.get(i, '')}".strip() for i in range(n)]


def _submit(stack: Stack, tenant: str, intents: list[str], mode: str | None) -> str:
    body: dict[str, Any] = {"intents": intents}
    if mode is not None:
        body["mode"] = mode
    response = stack.request("POST", "/api/rules/generate-batch", tenant, json=body)
    assert response.status_code == 202, response.text
    return str(response.json()["task_id"])


def _items(stack: Stack, tenant: str, task_id: str) -> list[dict[str, Any]]:
    response = stack.request("GET", f"/api/tasks/{task_id}/results", tenant)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.mark.parametrize("tenant", ["econ-anthropic", "econ-openai"])
def test_an_economy_batch_stores_every_item_once_at_the_batch_rate(
    stack: Stack, fake_of: dict[str, BatchesServer], tenant: str
) -> None:
    task_id = _submit(stack, tenant, _intents(f"eco-{tenant}", 6), "economy")
    task = stack.wait(tenant, task_id, timeout=60)

    assert task["status"] == "succeeded", task
    assert task["progress"] == {"total": 6, "succeeded": 6, "failed": 0, "cancelled": 0}
    assert task["mode"] == "economy"
    fake = fake_of[tenant]
    assert len(fake.batches) == 1  # one provider batch, results came back in reverse order
    (shown,) = task["provider_batches"]
    assert shown["batch_id"] in fake.batches
    assert shown["status"] == "ended"
    items = _items(stack, tenant, task_id)
    assert [item["index"] for item in items] == list(range(6))
    assert all(item["status"] == "succeeded" and item["mode"] == "economy" for item in items)
    # Batch rate: half of what the same usage costs realtime.
    assert task["cost_usd"] == pytest.approx(sum(item["cost_usd"] for item in items))
    assert task["cost_usd"] > 0
    assert task["realtime_cost_usd"] == pytest.approx(2 * task["cost_usd"])


@pytest.mark.parametrize("tenant", ["econ-anthropic", "econ-openai"])
def test_a_retryable_error_goes_to_a_follow_up_batch_and_an_invalid_request_fails_at_once(
    stack: Stack, fake_of: dict[str, BatchesServer], tenant: str
) -> None:
    intents = _intents(f"follow-{tenant}", 6, {1: ERRORED_ONCE, 4: INVALID})
    task_id = _submit(stack, tenant, intents, "economy")
    task = stack.wait(tenant, task_id, timeout=90)

    assert task["progress"] == {"total": 6, "succeeded": 5, "failed": 1, "cancelled": 0}, task
    fake = fake_of[tenant]
    assert len(fake.batches) == 2
    second = fake.newest_first()[0]
    assert len(second.items) == 1  # only the errored item was sent again
    assert sorted(b["round"] for b in task["provider_batches"]) == [0, 1]
    items = {item["index"]: item for item in _items(stack, tenant, task_id)}
    assert items[1]["status"] == "succeeded"
    assert items[1]["batch_round"] == 1
    assert items[4]["status"] == "failed"
    assert items[4]["error"]["code"] == "batch_api_invalid_request"
    provider_message = "max_tokens" if tenant == "econ-anthropic" else "response_format"
    assert provider_message in items[4]["error"]["message"]


def test_an_item_that_fails_after_its_paid_answer_still_counts_in_the_batch_cost(
    stack: Stack, fake_of: dict[str, BatchesServer]
) -> None:
    """The batch answered item 2 with no rules; its realtime repair is refused (this fake has
    no realtime Messages route): the item fails, and what its answer cost is in the totals."""
    tenant = "econ-anthropic"
    task_id = _submit(stack, tenant, _intents("paid-fail", 4, {2: GARBAGE}), "economy")
    task = stack.wait(tenant, task_id, timeout=60)

    assert task["progress"]["failed"] == 1, task
    items = {item["index"]: item for item in _items(stack, tenant, task_id)}
    failed = items[2]
    assert failed["status"] == "failed"
    assert failed["error"]["details"]["completed_attempts"] == 1
    assert failed["cost_usd"] > 0
    assert failed["cost_usd"] == pytest.approx(failed["error"]["details"]["cost_usd"])
    assert task["cost_usd"] == pytest.approx(sum(item["cost_usd"] for item in items.values()))
    assert task["realtime_cost_usd"] == pytest.approx(2 * task["cost_usd"])


def test_auto_with_a_small_batch_runs_realtime(stack: Stack) -> None:
    task_id = _submit(stack, "acme", _intents("auto-small", 2), "auto")
    task = stack.wait("acme", task_id, timeout=60)

    assert task["status"] == "succeeded", task
    assert task["mode"] == "realtime"
    assert "BATCH_API_MIN_ITEMS" in task["mode_reason"]
    assert "provider_batches" not in task


def test_economy_on_a_provider_without_a_batch_api_runs_realtime_and_says_so(
    stack: Stack,
) -> None:
    task_id = _submit(stack, "initech", _intents("offline-eco", 2), "economy")
    task = stack.wait("initech", task_id, timeout=60)

    assert task["status"] == "succeeded", task
    assert task["mode"] == "realtime"
    assert "no batch API" in task["mode_reason"]


def test_cancel_cancels_the_provider_batch(stack: Stack, fake_of: dict[str, BatchesServer]) -> None:
    fake = fake_of["econ-openai"]
    fake.ends_after_polls = 10_000
    task_id = _submit(stack, "econ-openai", _intents("cancel-eco", 3), "economy")
    _until(lambda: bool(stack.task("econ-openai", task_id).get("provider_batches")), 30)

    response = stack.request("DELETE", f"/api/tasks/{task_id}", "econ-openai")
    assert response.status_code == 200, response.text
    (batch,) = fake.batches.values()
    _until(lambda: batch.cancelled, 90)  # the next poll sees the cancel and tells the provider


def test_a_crash_between_create_and_recording_the_id_creates_one_provider_batch(
    stack: Stack, fake_of: dict[str, BatchesServer]
) -> None:
    from eyeflow_worker.core.celery_factory import create_celery_app
    from eyeflow_worker.runtime import Runtime
    from eyeflow_worker.tasks.economy import economy_store, submit_parts
    from eyeflow_worker.tasks.execution import JobContext

    rt = Runtime.build(stack.settings, create_celery_app(stack.settings, include_tasks=False))
    for tenant, fake in fake_of.items():
        job_id = f"crash-{tenant}-{time.time_ns()}"
        intents = tuple(_intents(f"crash-{tenant}", 4))
        jobs = JobStore(stack.redis, stack.settings.task_record_ttl_seconds)
        # Never enqueued: only this test runs its start body (twice).
        jobs.create(NewJob(job_id, tenant, "batch", {"mode": "economy"}, intents=intents))
        submit_parts(JobContext(rt, tenant, job_id), 0, 0)
        economy_store(rt).forget_batch(job_id, 0, 0, 0)  # died before recording the id
        submit_parts(JobContext(rt, tenant, job_id), 0, 0)

        assert len(fake.batches) == 1, tenant
        recorded = economy_store(rt).batch(job_id, 0, 0, 0)
        assert recorded is not None
        assert recorded.batch_id in fake.batches


def test_two_crashed_jobs_of_one_size_each_adopt_their_own_anthropic_batch(
    stack: Stack, fake_of: dict[str, BatchesServer]
) -> None:
    """Anthropic batches carry no metadata: reconciliation matches by time and count. Two jobs of
    the same size that both died before recording their ids, reconciled newest first, each adopt
    the batch created nearest their own intent — not the oldest match."""
    from eyeflow_worker.core.celery_factory import create_celery_app
    from eyeflow_worker.runtime import Runtime
    from eyeflow_worker.tasks.economy import economy_store, submit_parts
    from eyeflow_worker.tasks.execution import JobContext

    rt = Runtime.build(stack.settings, create_celery_app(stack.settings, include_tasks=False))
    tenant = "econ-anthropic"
    fake = fake_of[tenant]
    store = economy_store(rt)
    jobs = JobStore(stack.redis, stack.settings.task_record_ttl_seconds)
    job_ids = [f"twin-{n}-{time.time_ns()}" for n in range(2)]
    for n, job_id in enumerate(job_ids):
        intents = tuple(_intents(f"twin-{n}", 4))
        jobs.create(NewJob(job_id, tenant, "batch", {"mode": "economy"}, intents=intents))
        submit_parts(JobContext(rt, tenant, job_id), 0, 0)
        time.sleep(1.5)  # the second job's batch is created well after the first's
    own = {job_id: store.batch(job_id, 0, 0, 0) for job_id in job_ids}
    for job_id in job_ids:
        store.forget_batch(job_id, 0, 0, 0)  # both died before recording the id

    for job_id in reversed(job_ids):
        submit_parts(JobContext(rt, tenant, job_id), 0, 0)

    assert len(fake.batches) == 2
    for job_id in job_ids:
        adopted, created = store.batch(job_id, 0, 0, 0), own[job_id]
        assert adopted is not None
        assert created is not None
        assert adopted.batch_id == created.batch_id, job_id


def _until(check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout}s")
