"""What an operator sees of a real fleet (`observed_fleet.py`: two workers and the gateway as
subprocesses, LOG_FORMAT=json, a fake Anthropic that answers the first call 429):

- every series the Grafana dashboard queries is in the gateway's /metrics, and those the jobs
  drive have samples (tokens and cost per tenant, the 429, queue wait, run time, batch items);
- every line of every process is one JSON object with ts/level/logger/message, and every line
  about a job names it (task_id, tenant, kind, attempt) — also when the batch worker's threads
  ran three items at once; the gateway's lines carry the request id and path;
- no secret reaches a log line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.ops import dashboard
from tests.ops.observed_fleet import BATCH_SIZE, SECRETS, Observed, observe

_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
# Celery names a task in its lines as `name[celery-task-id]`.
_CELERY_ID = re.compile(r"\beyeflow\.[a-z_.]+\[([^\]]+)\]")


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Observed:
    return observe(tmp_path_factory.mktemp("ops-fleet"))


def _samples(text: str) -> dict[str, list[Any]]:
    """Series name → its samples, with every declared family's series present (maybe empty)."""
    found: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        for suffix in _SUFFIXES.get(family.type, ("",)):
            found.setdefault(family.name + suffix, [])
        for sample in family.samples:
            found.setdefault(sample.name, []).append(sample)
    return found


def _records(lines: list[str]) -> Iterator[dict[str, Any]]:
    for line in lines:
        record = json.loads(line)  # every line: one JSON object, nothing else
        assert isinstance(record, dict), line
        yield record


def _about(records: list[dict[str, Any]], job_id: str) -> list[dict[str, Any]]:
    return [r for r in records if r.get("task_id") == job_id or job_id in r["message"]]


def test_every_dashboard_series_is_exported_and_the_jobs_fill_them(observed: Observed) -> None:
    exported = _samples(observed.metrics_text)
    assert dashboard.metric_names(dashboard.load()) - set(exported) == set()

    def total(series: str, **labels: str) -> float:
        return sum(
            float(s.value)
            for s in exported[series]
            if all(s.labels.get(k) == v for k, v in labels.items())
        )

    assert total("eyeflow_jobs_total", kind="generate", status="succeeded") == 1
    assert total("eyeflow_jobs_total", kind="batch", status="succeeded") == 1
    assert total("eyeflow_batch_items_total", status="succeeded") == BATCH_SIZE
    assert total("eyeflow_provider_rate_limited_total", provider="anthropic") == 1
    # generate + 6 items, each answered 120 input / 40 output tokens by the fake.
    assert total("eyeflow_tenant_tokens_total", tenant="system", direction="input") == 7 * 120
    assert total("eyeflow_tenant_tokens_total", tenant="system", direction="output") == 7 * 40
    # claude-sonnet-4-5: $3 / $15 per million tokens → 0.00096 USD a call.
    assert total("eyeflow_tenant_cost_microusd_total", tenant="system") == 7 * 960
    for histogram in ("eyeflow_job_queue_wait_seconds", "eyeflow_job_run_seconds"):
        assert total(f"{histogram}_count", kind="generate") == 1
    assert total("eyeflow_provider_latency_seconds_count", provider="anthropic") == 7
    assert {s.labels["queue"] for s in exported["eyeflow_queue_depth"]} >= {"eyeflow.batch"}
    assert observed.provider_calls == 8  # the 429, then 7 answers


def test_every_worker_line_is_json_and_every_line_about_a_job_names_it(
    observed: Observed,
) -> None:
    records = list(_records(observed.worker_logs))
    for record in records:
        assert {"ts", "level", "logger", "message"} <= record.keys(), record
        found = _CELERY_ID.search(record["message"])
        if found and record.get("celery_task_id"):
            # The line's fields are its own task's, even with three tasks running at once.
            assert record["celery_task_id"] == found.group(1), record
    for kind, job_id in observed.jobs.items():
        lines = _about(records, job_id)
        # received + succeeded at least; a batch: its start and every item too
        assert len(lines) >= (2 + 2 * BATCH_SIZE if kind == "batch" else 2), kind
        for record in lines:
            assert record["task_id"] == job_id, record
            assert record["kind"] == kind, record
            assert record["tenant"] == "system", record
            assert "attempt" in record, record
            received = record["logger"] == "celery.worker.strategy"  # before any attempt
            assert received or (isinstance(record["attempt"], int) and record["attempt"] >= 1)
    items = {r["item"] for r in _about(records, observed.jobs["batch"]) if "item" in r}
    assert items == set(range(BATCH_SIZE))
    retried = [r for r in _about(records, observed.jobs["generate"]) if "retry" in r["message"]]
    assert retried  # the 429's retry, on the job's line
    assert retried[0]["attempt"] == 1


def test_every_gateway_line_is_json_with_its_request_and_the_submission_names_its_job(
    observed: Observed,
) -> None:
    records = list(_records(observed.gateway_log))
    assert {"ts", "level", "logger", "message"} <= set().union(*records)
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    assert access
    assert all(r["request_id"] and r["path"].startswith("/") for r in access)
    generate = observed.jobs["generate"]
    queued = [r for r in records if r.get("task_id") == generate]
    assert queued, "the submission logs the job it queued"
    for record in queued:
        assert record["kind"] == "generate", record
        assert record["tenant"] == "system", record
        assert record["attempt"] == 0, record
        assert record["request_id"] == observed.request_id, record
        assert record["path"] == "/api/rules/generate", record
    assert observed.answered_request_id == observed.request_id
    # Request context ends with its request: the health probes carry no job's fields.
    health = [r for r in access if r["path"] == "/health"]
    assert health
    assert all("task_id" not in r for r in health)


def test_no_secret_reaches_any_log(observed: Observed) -> None:
    text = "\n".join(observed.worker_logs + observed.gateway_log)
    assert len(observed.worker_logs) > 10
    assert observed.gateway_log
    for secret in SECRETS:
        assert secret not in text
