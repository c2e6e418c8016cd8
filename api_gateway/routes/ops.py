"""Operations: health (broker, workers, queues, config cache), providers, Prometheus metrics."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import redis
from fastapi import APIRouter, status
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from api_gateway.deps import TenantDep
from api_gateway.state import GatewayState, StateDep
from eyeflow_worker.core.admission import admission_status
from eyeflow_worker.core.errors import EyeflowError
from eyeflow_worker.core.provider_catalogue import describe_providers
from eyeflow_worker.core.routing import all_queues

router = APIRouter(tags=["operations"])
# /health stays open (load balancers, orchestrators); /providers and /metrics need the token.
health_router = APIRouter(tags=["operations"])

# kombu's Redis transport keeps one list per queue and priority step; step 0 is the bare name.
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


def _queue_depths(client: redis.Redis, queues: tuple[str, ...]) -> dict[str, int]:
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        for suffix in _PRIORITY_SUFFIXES:
            pipe.llen(queue + suffix)
    lengths = pipe.execute()
    step = len(_PRIORITY_SUFFIXES)
    return {queue: sum(lengths[i * step : (i + 1) * step]) for i, queue in enumerate(queues)}


def _workers_online(state: GatewayState) -> list[str]:
    # One second: a busy worker on a loaded host can take longer than half to answer.
    replies = state.celery.control.ping(timeout=1.0) or []
    return sorted(name for reply in replies for name in reply)


def _config_cache_status(state: GatewayState) -> dict[str, Any]:
    try:
        return state.configs.status("system")
    except EyeflowError as exc:  # e.g. the cache cannot decrypt: report it, don't 500
        return {"degraded": True, "reason": exc.message, "config": {}, "context": {}}


@health_router.get("/health")
def health(state: StateDep) -> JSONResponse:
    """Fleet health. `unhealthy` (HTTP 503) when the broker is unreachable; `degraded` when no
    worker answers or the configuration cache is serving stale data."""
    settings = state.settings
    report: dict[str, Any] = {"status": "healthy", "reasons": []}
    try:
        state.broker_redis.ping()
        report["broker"] = {"reachable": True}
        report["queues"] = _queue_depths(state.broker_redis, all_queues(settings))
        workers = _workers_online(state)
        report["workers"] = {"online": len(workers), "names": workers}
        cache = _config_cache_status(state)
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        report.update(
            status="unhealthy",
            broker={"reachable": False, "error": type(exc).__name__},
            reasons=["broker unreachable"],
        )
        return JSONResponse(report, status.HTTP_503_SERVICE_UNAVAILABLE)
    config = cache.get("config", {})
    report["provider"] = config.get("provider")
    report["model"] = config.get("model")
    report["context_cache_age_minutes"] = cache.get("context", {}).get("age_minutes")
    report["config_cache"] = cache
    if not workers:
        report["reasons"].append("no worker online")
    if cache.get("degraded"):
        report["reasons"].append(cache.get("reason") or "configuration cache degraded")
    if report["reasons"]:
        report["status"] = "degraded"
    return JSONResponse(report)


@router.get("/providers")
def providers(state: StateDep, tenant: TenantDep) -> dict[str, Any]:
    """The providers this build supports, and which one the tenant's configuration uses."""
    try:
        config = state.configs.llm_config(tenant)
    except EyeflowError as exc:
        return {"providers": describe_providers(None, state.settings), "error": exc.to_dict()}
    return {
        "providers": describe_providers(config, state.settings),
        "active": config.public_view(),
    }


class _FleetCollector(Collector):
    def __init__(self, state: GatewayState) -> None:
        self._state = state

    def collect(self) -> Iterator[Metric]:
        yield from self._state.metrics.collect()
        depths = GaugeMetricFamily(
            "eyeflow_queue_depth", "Messages waiting in each broker queue", labels=["queue"]
        )
        queues = all_queues(self._state.settings)
        for queue, depth in _queue_depths(self._state.broker_redis, queues).items():
            depths.add_metric([queue], depth)
        yield depths
        yield from _admission_gauges(self._state)


def _admission_gauges(state: GatewayState) -> Iterator[Metric]:
    """Batch admission per tenant: items registered but not admitted yet, and items in flight
    (on the batch queue, running, or waiting out a transient error)."""
    report = admission_status(state.redis, state.settings.queue_batch)
    pending = GaugeMetricFamily(
        "eyeflow_batch_items_pending",
        "Batch items waiting for admission to the batch queue, by tenant",
        labels=["tenant"],
    )
    in_flight = GaugeMetricFamily(
        "eyeflow_batch_items_in_flight",
        "Batch items admitted and not finished (queued, running or waiting), by tenant",
        labels=["tenant"],
    )
    for tenant, counts in report["tenants"].items():
        pending.add_metric([tenant], counts["pending"])
        in_flight.add_metric([tenant], counts["in_flight"])
    yield pending
    yield in_flight


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(state: StateDep) -> PlainTextResponse:
    """Prometheus text format: jobs by kind and status, provider latency, tokens, retries."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_FleetCollector(state))
    return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
