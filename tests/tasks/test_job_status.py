"""A job's status during provider retries: `retrying` while it waits, `running` again after."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from eyeflow_worker.core.celery_factory import create_celery_app
from eyeflow_worker.core.deadline import Deadline
from eyeflow_worker.core.errors import JobTimeout, ProviderRateLimited
from eyeflow_worker.core.job_leases import Work, job_lease_key
from eyeflow_worker.core.llm import LLMRequest, Message
from eyeflow_worker.core.records import NewJob
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.rules.sample_catalogue import sample_catalogue
from eyeflow_worker.runtime import Runtime
from eyeflow_worker.tasks import execution, leasing
from eyeflow_worker.tasks.execution import JobContext, JobWork

REDIS_URL = os.environ.get("EYEFLOW_TEST_REDIS", "redis://127.0.0.1:6379") + "/15"


@pytest.fixture
def rt() -> Iterator[Runtime]:
    settings = Settings(_env_file=None, redis_url=REDIS_URL)  # type: ignore[call-arg]
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    client.flushdb()
    yield Runtime.build(settings, create_celery_app(settings, include_tasks=False))
    client.flushdb()
    client.close()


def test_retry_wait_reads_retrying_then_running(rt: Runtime) -> None:
    job_id = str(uuid.uuid4())
    rt.jobs.create(NewJob(job_id, "system", "generate", {"user_intent": "x"}))
    assert rt.jobs.start(job_id)
    job = JobContext(rt, "system", job_id)

    job._on_retry(0.0, ProviderRateLimited("slow down", retry_after=0.0))
    during = (rt.jobs.get(job_id) or {})["status"]
    job._wait_then_resume(0.0)
    after = (rt.jobs.get(job_id) or {})["status"]

    assert (during, after) == ("retrying", "running")
    assert 'eyeflow_provider_retries_total{code="rate_limited"} 1.0' in _metrics_text(rt)


def test_a_cancelled_job_is_not_revived_by_a_retry(rt: Runtime) -> None:
    job_id = str(uuid.uuid4())
    rt.jobs.create(NewJob(job_id, "system", "generate", {"user_intent": "x"}))
    assert rt.jobs.start(job_id)
    job = JobContext(rt, "system", job_id)
    job._on_retry(0.0, ProviderRateLimited("slow down"))
    assert rt.jobs.cancel(job_id)

    job._wait_then_resume(0.0)

    assert (rt.jobs.get(job_id) or {})["status"] == "cancelled"
    assert not rt.jobs.succeed(job_id, {"workflow_rules": {}})


def _metrics_text(rt: Runtime) -> str:
    from prometheus_client import generate_latest
    from prometheus_client.registry import CollectorRegistry

    class Collector:
        def collect(self):  # type: ignore[no-untyped-def]
            return rt.metrics.collect()

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector())  # type: ignore[arg-type]
    return generate_latest(registry).decode()


def test_no_provider_call_starts_past_the_job_deadline(rt: Runtime) -> None:
    job_id = str(uuid.uuid4())
    rt.jobs.create(NewJob(job_id, "system", "generate", {"user_intent": "x"}))
    job = JobContext(rt, "system", job_id)
    request = LLMRequest(
        purpose="generate",
        system="s",
        messages=(Message("user", "x"),),
        inputs={"intent": "Alert the team when CPU exceeds 90%", "catalogue": sample_catalogue()},
    )
    assert job.llm().complete(request).provider == "offline"  # within the limit: it answers
    job.deadline = Deadline(0.0)  # the time limit has been used up by earlier rounds

    with pytest.raises(JobTimeout) as caught:
        job.llm().complete(request)
    assert caught.value.code == "timeout"


def test_the_retry_budget_never_exceeds_what_is_left_of_the_deadline(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[float] = []

    def fake_build_llm(config: object, settings: Settings, **kwargs: Any) -> object:
        seen.append(kwargs["deadline"].remaining())
        return type("Chain", (), {"name": "chain"})()

    monkeypatch.setattr(execution, "build_llm", fake_build_llm)
    job = JobContext(rt, "system", "job")
    job.deadline = Deadline(42.0)
    job.llm()

    assert 41.0 < seen[0] <= 42.0 < rt.settings.llm_retry_max_total_seconds


def test_a_redis_blip_on_the_final_write_keeps_the_paid_for_result(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = str(uuid.uuid4())
    rt.jobs.create(NewJob(job_id, "system", "evaluate", {"condition": "1 < 2", "context": {}}))
    real_succeed = rt.jobs.succeed
    calls: list[int] = []

    def flaky_succeed(job: str, result: Any, *counted: Any) -> bool:
        calls.append(1)
        if len(calls) < 3:
            raise redis.exceptions.ConnectionError("blip")
        return real_succeed(job, result, *counted)

    monkeypatch.setattr(rt.jobs, "succeed", flaky_succeed)
    monkeypatch.setattr("tenacity.nap.time.sleep", lambda _: None)
    work_runs: list[int] = []

    def work(payload: Any, job: JobContext) -> dict[str, Any]:
        work_runs.append(1)
        return {"result": True}

    run_leased(rt, job_id, work)

    assert (len(work_runs), len(calls)) == (1, 3)  # the work ran once; only the write was redone
    assert (rt.jobs.get(job_id) or {})["status"] == "succeeded"
    assert not lease_fields(rt, job_id)  # the write that ended the job ended its lease


def test_a_redis_error_inside_the_work_goes_to_the_infrastructure_retry_not_a_failure(
    rt: Runtime,
) -> None:
    job_id = str(uuid.uuid4())
    rt.jobs.create(NewJob(job_id, "system", "evaluate", {"condition": "1 < 2", "context": {}}))

    def work(payload: Any, job: JobContext) -> dict[str, Any]:
        raise redis.exceptions.ConnectionError("Redis restarting")

    with pytest.raises(redis.exceptions.ConnectionError):  # Celery's autoretry takes it
        run_leased(rt, job_id, work)

    record = rt.jobs.get(job_id) or {}
    assert record["status"] == "running"  # not a final `internal_error`
    assert "error" not in record
    # The lease went to the same message: Celery's retry (same task id) takes it at once.
    lease = lease_fields(rt, job_id)
    assert (lease["lease_state"], lease["lease_task_id"]) == ("handed", job_id)


def run_leased(rt: Runtime, job_id: str, work: JobWork) -> None:
    """What `tasks.interactive` does with a message for `job_id`."""
    sent = Work("eyeflow.evaluate", [job_id, "system"], {}, "eyeflow.interactive", job_id)
    with leasing.leased_job(rt, job_id, sent) as job:
        assert isinstance(job, leasing.StartedJob)
        execution.run_job(rt, job, "system", work)


def lease_fields(rt: Runtime, job_id: str) -> dict[str, str]:
    record = rt.redis.hgetall(job_lease_key(job_id))
    return {name: str(value) for name, value in record.items() if str(name).startswith("lease_")}
