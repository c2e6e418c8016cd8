"""Fleet-wide metrics kept in Redis, so that every worker process adds to the same numbers and the
gateway can render them for Prometheus without scraping each worker.

Counters live in one hash; a field is `name|label=value,label=value`. Histograms are kept as
cumulative bucket counters plus a sum and a count, which is what Prometheus expects.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Literal, cast

import redis
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

METRICS_KEY = "eyeflow:metrics"
BUCKETS_SECONDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)

_COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "eyeflow_jobs": ("Jobs that reached a terminal status, by kind and status", ("kind", "status")),
    "eyeflow_batch_items": ("Batch items processed, by status", ("status",)),
    "eyeflow_batch_item_waits": (
        "Batch item attempts that failed for a transient reason and were re-sent to try again "
        "later (within the batch's deadline), by error code",
        ("code",),
    ),
    "eyeflow_tokens": ("LLM tokens used, by provider and direction", ("provider", "direction")),
    "eyeflow_tenant_tokens": ("LLM tokens used, by tenant and direction", ("tenant", "direction")),
    "eyeflow_tenant_cost_microusd": (
        "LLM spend on the tenant's jobs, in millionths of a US dollar (priced models): every "
        "answered provider call, also when its result was not kept (a cancel, a redelivery)",
        ("tenant",),
    ),
    "eyeflow_provider_rate_limited": (
        "Provider answers 429 (rate limited), by provider",
        ("provider",),
    ),
    "eyeflow_provider_retries": ("Provider calls retried, by error code", ("code",)),
    "eyeflow_leases_reaped": (
        "Jobs and batch items sent again because their worker died (their lease expired), by task",
        ("task",),
    ),
    "eyeflow_webhook_deliveries": (
        "Webhook deliveries: attempts delivered or failed, and deliveries abandoned",
        ("outcome",),
    ),
}

_HISTOGRAMS: dict[str, tuple[str, str]] = {
    "eyeflow_provider_latency_seconds": ("Provider call latency (all repair rounds)", "provider"),
    "eyeflow_job_queue_wait_seconds": ("Time from submission to a worker starting it", "kind"),
    "eyeflow_job_run_seconds": ("Time from a worker starting a job to its end", "kind"),
}


def _field(name: str, labels: Mapping[str, str]) -> str:
    return name + "|" + ",".join(f"{k}={labels[k]}" for k in sorted(labels))


# One increment of the metrics hash: ('i', field, amount) is HINCRBY, ('f', …) HINCRBYFLOAT.
Increment = tuple[Literal["i", "f"], str, str]


def job_ended_increments(
    kind: str, status: str, *, queue_wait: float | None, run: float | None
) -> list[Increment]:
    """What counting a job that ended adds to the metrics hash (`METRICS_KEY`): the job, and
    the one bucket and the sum of each time observed. Written by whoever ends the job — in the
    same script as the end itself (`JobStore.succeed(..., counted=...)`) or `Metrics.job_ended`."""
    increments: list[Increment] = [
        ("i", _field("eyeflow_jobs", {"kind": kind, "status": status}), "1")
    ]
    for name, seconds in (
        ("eyeflow_job_queue_wait_seconds", queue_wait),
        ("eyeflow_job_run_seconds", run),
    ):
        if seconds is not None:
            increments.extend(_observation(name, kind, max(0.0, seconds)))
    return increments


def _observation(name: str, label: str, seconds: float) -> list[Increment]:
    # Only the one bucket the value falls in is counted (two commands, not one per bucket);
    # `collect` makes the counts cumulative, as Prometheus wants them.
    bound = next((str(b) for b in BUCKETS_SECONDS if seconds <= b), "+Inf")
    return [
        ("i", _field(f"{name}:bucket", {"l": label, "le": bound}), "1"),
        ("f", _field(f"{name}:sum", {"l": label}), repr(seconds)),
    ]


class Metrics:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def count(self, name: str, amount: int = 1, **labels: str) -> None:
        if name not in _COUNTERS:
            raise KeyError(f"unknown metric {name}")
        if amount:
            self._redis.hincrby(METRICS_KEY, _field(name, labels), amount)

    def observe(self, name: str, label: str, seconds: float) -> None:
        """One observation of histogram `name` for `label` (its one label's value)."""
        if name not in _HISTOGRAMS:
            raise KeyError(f"unknown metric {name}")
        self._apply(_observation(name, label, seconds))

    def job_ended(
        self, kind: str, status: str, *, queue_wait: float | None, run: float | None
    ) -> None:
        """Count a job that ended and observe its times, in one round trip."""
        self._apply(job_ended_increments(kind, status, queue_wait=queue_wait, run=run))

    def _apply(self, increments: list[Increment]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for op, field, amount in increments:
            if op == "i":
                pipe.hincrby(METRICS_KEY, field, int(amount))
            else:
                pipe.hincrbyfloat(METRICS_KEY, field, float(amount))
        pipe.execute()

    def observe_latency(self, provider: str, seconds: float) -> None:
        self.observe("eyeflow_provider_latency_seconds", provider, seconds)

    def collect(self) -> Iterator[Metric]:
        """Prometheus metric families built from the shared counters."""
        raw = cast(dict[str, str], self._redis.hgetall(METRICS_KEY))
        parsed: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
        for field, raw_value in raw.items():
            name, _, label_text = field.partition("|")
            labels = dict(pair.split("=", 1) for pair in label_text.split(",") if pair)
            parsed[name].append((labels, float(raw_value)))
        for name, (documentation, label_names) in _COUNTERS.items():
            family = CounterMetricFamily(name, documentation, labels=list(label_names))
            for labels, value in parsed.get(name, []):
                family.add_metric([labels.get(label, "") for label in label_names], value)
            yield family
        for name, (documentation, label_name) in _HISTOGRAMS.items():
            yield _histogram(name, documentation, label_name, parsed)


def _histogram(
    name: str,
    documentation: str,
    label_name: str,
    parsed: Mapping[str, list[tuple[dict[str, str], float]]],
) -> Metric:
    family = HistogramMetricFamily(name, documentation, labels=[label_name])
    sums = {labels["l"]: value for labels, value in parsed.get(f"{name}:sum", [])}
    buckets: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for labels, value in parsed.get(f"{name}:bucket", []):
        buckets[labels["l"]].append((labels["le"], value))
    for label, pairs in buckets.items():
        counts = dict(pairs)
        running = 0.0
        cumulative: list[tuple[str, float]] = []
        for bound in (*(str(b) for b in BUCKETS_SECONDS), "+Inf"):
            running += counts.get(bound, 0.0)
            cumulative.append((bound, running))
        family.add_metric([label], cumulative, sum_value=sums.get(label, 0.0))
    return family
