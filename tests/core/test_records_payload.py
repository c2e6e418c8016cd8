"""What a job keeps once it ended (real Redis, database 15, the gateway tests' own; only the
keys of the jobs made here are deleted, never the database): the payload goes in the same
atomic step that ends the job, except for a batch with failed items, which a retry re-runs with
the payload and their intents; a batch's intents list goes once every item holds its own."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis

from eyeflow_worker.core.records import JobStore, NewJob, job_key

REDIS_URL = os.environ.get("EYEFLOW_TEST_REDIS", "redis://127.0.0.1:6379") + "/15"
PAYLOAD = {"user_intent": "Alert me", "aggregated_context": {"variables": ["x" * 1000]}}
SUFFIXES = ("", ":intents", ":items", ":succeeded", ":failed", ":reopened")


@dataclass
class Jobs:
    client: redis.Redis
    store: JobStore
    made: list[str] = field(default_factory=list)

    def new(self, kind: Any = "generate", intents: int = 0) -> str:
        job_id = f"payload-test-{uuid.uuid4()}"
        self.made.append(job_id)
        texts = tuple(f"intent {i}" for i in range(intents))
        self.store.create(NewJob(job_id, "t-payload", kind, PAYLOAD, intents=texts))
        return job_id

    def has_payload(self, job_id: str) -> bool:
        return bool(self.client.hexists(job_key(job_id), "payload"))

    def intents_kept(self, job_id: str) -> int:
        return int(self.client.llen(f"{job_key(job_id)}:intents"))


@pytest.fixture
def jobs() -> Iterator[Jobs]:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    assert client.connection_pool.connection_kwargs["db"] == 15
    here = Jobs(client, JobStore(client, 3600))
    yield here
    for job_id in here.made:
        client.delete(*(job_key(job_id) + suffix for suffix in SUFFIXES))
        client.zrem("eyeflow:webhook-outbox", job_id)
    client.close()


def _item(index: int, status: str) -> dict[str, Any]:
    return {"index": index, "intent": f"intent {index}", "status": status}


@pytest.mark.parametrize("end", ["succeed", "fail", "cancel"])
def test_an_interactive_job_drops_its_payload_when_it_ends(jobs: Jobs, end: str) -> None:
    job_id = jobs.new()
    assert jobs.store.get_with_payload(job_id)[1] == PAYLOAD
    jobs.store.start(job_id)
    if end == "succeed":
        assert jobs.store.succeed(job_id, {"workflow_rules": {}})
    elif end == "fail":
        assert jobs.store.fail(job_id, {"code": "timeout", "message": "late", "details": None})
    else:
        assert jobs.store.cancel(job_id)

    assert not jobs.has_payload(job_id)
    record = jobs.store.get(job_id) or {}
    assert record["status"] in ("succeeded", "failed", "cancelled")
    assert ("result" in record) == (end == "succeed")


def test_a_batch_all_succeeded_drops_payload_and_intents_its_items_keep_theirs(
    jobs: Jobs,
) -> None:
    job_id = jobs.new("batch", intents=3)
    for index in range(3):
        assert jobs.has_payload(job_id)
        jobs.store.record_item(job_id, index, _item(index, "succeeded"))

    assert (jobs.store.get(job_id) or {})["status"] == "succeeded"
    assert not jobs.has_payload(job_id)
    assert jobs.intents_kept(job_id) == 0
    assert [item["intent"] for item in jobs.store.batch_items(job_id, 0, 10)] == [
        "intent 0", "intent 1", "intent 2",
    ]  # fmt: skip


def test_a_batch_with_failed_items_keeps_both_until_a_retry_succeeds(jobs: Jobs) -> None:
    job_id = jobs.new("batch", intents=3)
    jobs.store.record_item(job_id, 0, _item(0, "succeeded"))
    jobs.store.record_item(job_id, 1, _item(1, "failed"))
    jobs.store.record_item(job_id, 2, _item(2, "succeeded"))
    assert (jobs.store.get(job_id) or {})["status"] == "succeeded"
    # A retry re-runs item 1: it needs the payload (its aggregated context) and its intent.
    assert jobs.store.get_with_payload(job_id)[1] == PAYLOAD
    assert jobs.intents_kept(job_id) == 3

    assert jobs.store.retry_failed(job_id) == [1]
    assert jobs.store.batch_intent(job_id, 1) == "intent 1"
    assert jobs.store.record_item(job_id, 1, _item(1, "succeeded"), run=1) == 2

    assert not jobs.has_payload(job_id)
    assert jobs.intents_kept(job_id) == 0


def test_a_cancelled_batch_drops_its_payload_and_shows_its_open_items_intents(
    jobs: Jobs,
) -> None:
    job_id = jobs.new("batch", intents=3)
    jobs.store.record_item(job_id, 0, _item(0, "failed"))
    assert jobs.store.cancel(job_id)

    assert not jobs.has_payload(job_id)
    items = jobs.store.batch_items(job_id, 0, 10)
    assert [(item["intent"], item["status"]) for item in items] == [
        ("intent 0", "failed"), ("intent 1", "cancelled"), ("intent 2", "cancelled"),
    ]  # fmt: skip
