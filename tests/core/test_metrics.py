"""Fleet metrics shared through Redis render as valid Prometheus counters and histograms."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry

from eyeflow_worker.core.metrics import Metrics

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    client.flushdb()
    yield Metrics(client)
    client.flushdb()
    client.close()


def _render(metrics: Metrics) -> str:
    class Collector:
        def collect(self):  # type: ignore[no-untyped-def]
            return metrics.collect()

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector())  # type: ignore[arg-type]
    return generate_latest(registry).decode()


def test_histogram_buckets_are_cumulative(metrics: Metrics) -> None:
    for seconds in (0.07, 3.0, 2000.0):
        metrics.observe("eyeflow_job_run_seconds", "generate", seconds)

    text = _render(metrics)

    assert 'eyeflow_job_run_seconds_bucket{kind="generate",le="0.05"} 0.0' in text
    assert 'eyeflow_job_run_seconds_bucket{kind="generate",le="0.1"} 1.0' in text
    assert 'eyeflow_job_run_seconds_bucket{kind="generate",le="5.0"} 2.0' in text
    assert 'eyeflow_job_run_seconds_bucket{kind="generate",le="900.0"} 2.0' in text
    assert 'eyeflow_job_run_seconds_bucket{kind="generate",le="+Inf"} 3.0' in text
    assert 'eyeflow_job_run_seconds_count{kind="generate"} 3.0' in text
    assert 'eyeflow_job_run_seconds_sum{kind="generate"} 2003.07' in text


def test_counters_add_up_across_instances_and_refuse_unknown_names(metrics: Metrics) -> None:
    other_process = Metrics(redis.Redis.from_url(REDIS_URL, decode_responses=True))
    metrics.count("eyeflow_jobs", kind="batch", status="succeeded")
    other_process.count("eyeflow_jobs", 2, kind="batch", status="succeeded")

    assert 'eyeflow_jobs_total{kind="batch",status="succeeded"} 3.0' in _render(metrics)
    with pytest.raises(KeyError):
        metrics.count("eyeflow_unknown")
