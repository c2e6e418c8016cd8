"""A batch item never fails for a transient reason while its batch has time.

The fleet's workers run the offline provider, so the item task body runs in-process (as
`tests/reliability/test_redelivery_after_finish.py` does) against the real Redis (database 14,
flushed before and after each test) and a loopback fake OpenAI server scripted to answer 503
first. The item re-sends itself with a countdown instead of being recorded `failed`; those
re-sent messages are captured (a fake `apply_async`) and then run in-process, in order.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from api_gateway.main import create_app
from eyeflow_worker.celery_app import app
from eyeflow_worker.core.errors import InvalidLLMOutput, JobTimeout
from eyeflow_worker.core.records import NewJob, job_key
from eyeflow_worker.core.routing import Tasks
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.runtime import Runtime, install_runtime
from eyeflow_worker.tasks import batch
from tests.fakes.llm_servers import FakeLLMServer, openai_completion, openai_error
from tests.integration.conftest import VALID_JSON
from tests.reliability.conftest import reliability_env, settings_from

INTENT = "Alert the team when database memory exceeds 85%"


@dataclass(frozen=True)
class Sent:
    args: list[Any]
    kwargs: dict[str, Any]
    countdown: float
    task_id: str


class CapturedSends:
    """Stands in for the broker: item messages are kept (to be run by the test), webhook
    deliveries are counted."""

    def __init__(self) -> None:
        self.items: list[Sent] = []
        self.webhooks: list[list[Any]] = []

    def apply_async(
        self, args: list[Any], kwargs: dict[str, Any], countdown: float, task_id: str, **_: Any
    ) -> None:
        self.items.append(Sent(args, kwargs, countdown, task_id))

    def send_task(self, name: str, args: list[Any], **_: Any) -> None:
        assert name == Tasks.WEBHOOK_DELIVER
        self.webhooks.append(args)


@pytest.fixture
def llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(default=openai_completion(VALID_JSON)) as server:
        yield server


@pytest.fixture
def db14(llm: FakeLLMServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(_settings(llm).redis_url, decode_responses=True)
    assert client.connection_pool.connection_kwargs["db"] == 14
    client.flushdb()
    yield client
    client.flushdb()


def _settings(llm: FakeLLMServer) -> Settings:
    return settings_from(
        reliability_env(
            LLM_PROVIDER="openai",
            LLM_MODEL="gpt-4o",
            LLM_API_KEY="sk-transient-test",
            LLM_API_URL=llm.url + "/v1",
            LLM_MAX_ATTEMPTS="1",
            LLM_RETRY_MAX_TOTAL_SECONDS="1",
            LLM_REQUEST_TIMEOUT_SECONDS="5",
            LLM_FALLBACK_PROVIDERS="",
            RULES_MAX_REPAIR_ATTEMPTS="1",
        )
    )


@pytest.fixture
def sends(monkeypatch: pytest.MonkeyPatch) -> CapturedSends:
    captured = CapturedSends()
    monkeypatch.setattr(batch.generate_item, "apply_async", captured.apply_async)
    return captured


@pytest.fixture
def rt(db14: redis.Redis, llm: FakeLLMServer, sends: CapturedSends) -> Iterator[Runtime]:
    runtime = Runtime.build(_settings(llm), sends)
    previous = getattr(app, "eyeflow_runtime", None)
    install_runtime(app, runtime)
    yield runtime
    app.eyeflow_runtime = previous


def _batch(rt: Runtime, *, deadline_in: float = 3600) -> str:
    job_id = str(uuid.uuid4())
    rt.jobs.create(
        NewJob(
            job_id=job_id,
            tenant="system",
            kind="batch",
            payload={},
            intents=(INTENT,),
            deadline_at=time.time() + deadline_in,
        )
    )
    assert rt.jobs.start(job_id)
    return job_id


def _unavailable() -> Any:
    return openai_error(503, "overloaded", error_type="server_error")


def test_an_item_waits_out_a_transient_outage_and_then_succeeds(
    rt: Runtime, llm: FakeLLMServer, sends: CapturedSends, db14: redis.Redis
) -> None:
    job_id = _batch(rt)
    llm.script(_unavailable(), _unavailable())

    batch.generate_item.run(job_id, "system", 0)
    while len(sends.items) < 3:  # run each re-sent message in turn, as a worker would
        # Nothing was recorded in between: the item is open, the batch still running.
        assert not rt.jobs.item_is_done(job_id, 0)
        assert (rt.jobs.get(job_id) or {})["failed"] == "0"
        assert (rt.jobs.get(job_id) or {})["status"] == "running"
        message = sends.items[-1]
        batch.generate_item.run(*message.args, **message.kwargs)
        if rt.jobs.item_is_done(job_id, 0):
            break

    assert len(sends.items) == 2, "two 503s: two waits"
    assert [m.kwargs for m in sends.items] == [{"transient_retries": 1}, {"transient_retries": 2}]
    assert [m.args for m in sends.items] == [[job_id, "system", 0, 0]] * 2
    assert [m.task_id for m in sends.items] == [f"{job_id}:0:t1", f"{job_id}:0:t2"]
    assert [m.countdown for m in sends.items] == [5, 10]  # no retry-after: 5 s, doubling
    record = rt.jobs.get(job_id) or {}
    assert record["status"] == "succeeded"
    assert (record["succeeded"], record["failed"]) == ("1", "0")
    [item] = rt.jobs.batch_items(job_id, 0, 10)
    assert item["status"] == "succeeded"
    assert llm.calls == 3
    waits = db14.hget("eyeflow:metrics", "eyeflow_batch_item_waits|code=provider_unavailable")
    assert waits == "2"


def test_a_server_retry_after_is_the_wait_but_never_more_than_a_minute(
    rt: Runtime, llm: FakeLLMServer, sends: CapturedSends
) -> None:
    job_id = _batch(rt)
    llm.script(
        openai_error(
            429, "slow down", error_type="rate_limit_error", headers={"retry-after": "900"}
        )
    )
    batch.generate_item.run(job_id, "system", 0)

    assert [m.countdown for m in sends.items] == [60]
    assert not rt.jobs.item_is_done(job_id, 0)


def test_a_permanent_error_fails_the_item_at_once(
    rt: Runtime, llm: FakeLLMServer, sends: CapturedSends
) -> None:
    job_id = _batch(rt)
    llm.script(openai_error(401, "bad key", error_type="invalid_request_error"))

    batch.generate_item.run(job_id, "system", 0)

    assert sends.items == []
    [item] = rt.jobs.batch_items(job_id, 0, 10)
    assert item["status"] == "failed"
    assert item["error"]["code"] == "provider_auth_failed"
    assert (rt.jobs.get(job_id) or {})["status"] == "failed"


def test_past_the_batch_deadline_a_transient_error_fails_the_item(
    rt: Runtime, llm: FakeLLMServer, sends: CapturedSends
) -> None:
    job_id = _batch(rt, deadline_in=-1)
    llm.script(_unavailable())

    batch.generate_item.run(job_id, "system", 0, 0, transient_retries=4)

    assert sends.items == []
    [item] = rt.jobs.batch_items(job_id, 0, 10)
    assert item["status"] == "failed"
    assert item["error"]["code"] == "provider_unavailable"
    assert item["error"]["details"]["deadline_passed"] is True


def test_a_cancelled_batch_drops_the_re_sent_message(
    rt: Runtime, llm: FakeLLMServer, sends: CapturedSends
) -> None:
    job_id = _batch(rt)
    llm.script(_unavailable())
    batch.generate_item.run(job_id, "system", 0)
    assert rt.jobs.cancel(job_id)
    calls = llm.calls

    batch.generate_item.run(*sends.items[-1].args, **sends.items[-1].kwargs)

    assert llm.calls == calls
    assert len(sends.items) == 1
    assert not rt.jobs.item_is_done(job_id, 0)


def test_a_re_sent_message_of_an_earlier_run_does_nothing(
    rt: Runtime, llm: FakeLLMServer, sends: CapturedSends, db14: redis.Redis
) -> None:
    job_id = _batch(rt)
    db14.hset(job_key(job_id), "retries", 1)  # the batch moved on to run 1
    calls = llm.calls

    batch.generate_item.run(job_id, "system", 0, 0, transient_retries=1)

    assert llm.calls == calls
    assert sends.items == []


# --- the gateway --------------------------------------------------------------------------------


@pytest.fixture
def gateway(rt: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(rt.settings)) as client:
        yield client


def test_the_gateway_stores_the_batch_deadline(gateway: TestClient, rt: Runtime) -> None:
    before = time.time()
    response = gateway.post(
        "/api/rules/generate-batch", json={"intents": [INTENT], "deadline": 120}
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["task_id"]
    deadline_at = float((rt.jobs.get(job_id) or {})["deadline_at"])
    assert before + 120 <= deadline_at <= time.time() + 120
    assert rt.jobs.payload(job_id)["deadline"] == 120

    default = gateway.post("/api/rules/generate-batch", json={"intents": [INTENT]})
    default_at = float((rt.jobs.get(default.json()["task_id"]) or {})["deadline_at"])
    assert default_at == pytest.approx(time.time() + rt.settings.batch_deadline_seconds, abs=60)


@pytest.mark.parametrize("deadline", [-1, 0, 100000])
def test_the_gateway_refuses_a_deadline_out_of_bounds(gateway: TestClient, deadline: int) -> None:
    response = gateway.post(
        "/api/rules/generate-batch", json={"intents": [INTENT], "deadline": deadline}
    )
    assert response.status_code == 422, response.text
    assert "deadline" in response.text


def test_an_attempt_past_its_own_time_limit_is_transient_for_the_batch() -> None:
    assert batch._is_transient(JobTimeout("The job ran past its time limit of 1740 s"))
    assert not batch._is_transient(InvalidLLMOutput("no rules"))
