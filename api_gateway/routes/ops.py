"""Operations: health (broker, workers, queues, config cache), providers, Prometheus metrics."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from api_gateway.deps import OperatorDep, TenantDep
from api_gateway.health import fleet_health
from api_gateway.openapi_models import STORE_DOWN, HealthReport, json_error
from api_gateway.state import GatewayState, StateDep
from eyeflow_worker.core.admission import admission_status
from eyeflow_worker.core.errors import EyeflowError
from eyeflow_worker.core.provider_catalogue import describe_providers
from eyeflow_worker.core.routing import all_queues

router = APIRouter(tags=["operations"])
# /health stays open (load balancers, orchestrators); /providers needs a caller's credential and
# answers for its tenant; /metrics, whose gauges name every tenant, needs the operator's.
health_router = APIRouter(tags=["operations"])


@health_router.get(
    "/health",
    operation_id="getHealth",
    summary="Fleet health",
    response_model=HealthReport,
    responses={503: {"model": HealthReport, "description": "`unhealthy`: broker or Redis down"}},
)
def health(state: StateDep) -> JSONResponse:
    """Fleet health, answered from Redis in one round trip, never waiting for a worker or NestJS.

    `unhealthy` (HTTP 503) when the broker (or Redis) is unreachable within
    HEALTH_REDIS_TIMEOUT_SECONDS; `degraded`, with `reasons`, when the cached worker ping saw no
    worker, when the fleet's last fetch from NestJS failed (`nestjs`: reason, ages, a digest of
    the tenant, never its name), or when the default tenant's config cache serves stale data;
    else `healthy`. `workers.ping_age_seconds` says how old the cached ping is."""
    report, code = fleet_health(state.health, state.settings, state.configs)
    return JSONResponse(report, code)


@router.get(
    "/providers",
    operation_id="listProviders",
    summary="Supported providers and the tenant's",
    responses=STORE_DOWN,
)
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
        for queue, depth in self._state.broker_queues(queues).items():
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


@router.get(
    "/metrics",
    operation_id="getMetrics",
    summary="Prometheus metrics (operator)",
    response_class=PlainTextResponse,
    dependencies=[OperatorDep],
    responses={
        403: json_error("Not the operator token (OPERATOR_API_TOKEN)"),
        503: json_error(STORE_DOWN[503]["description"]),
    },
)
def metrics(state: StateDep) -> PlainTextResponse:
    """Prometheus text format: jobs by kind and status, provider latency, tokens, retries, and
    batch items per tenant. It names every tenant: the operator token only (OPERATOR_API_TOKEN,
    as the scraper's bearer credential); 403 for the service token and tenant tokens."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_FleetCollector(state))
    return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
