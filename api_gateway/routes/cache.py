"""Configuration cache: status, refresh from NestJS, invalidate the aggregated context.

Auth is applied by the app when it includes this router; the tenant is the caller's
(`deps.TenantDep`). `?all=true` acts across tenants: the operator's alone (`deps.require_operator`),
and its answers name no tenant. No response ever contains an API key: configurations are shown
through `ProviderConfig.public_view()`.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import redis
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse
from kombu.exceptions import OperationalError

from api_gateway.deps import CallerDep, TenantDep, UserIdHeader, require_operator, resolve_tenant
from api_gateway.enqueue import BrokerUnavailable
from api_gateway.openapi_models import STORE_DOWN, ErrorBody, error
from api_gateway.state import GatewayState, StateDep, state_from_app
from eyeflow_worker.core.routing import Tasks, queue_for
from eyeflow_worker.tenant_config.source import ConfigSource

router = APIRouter()

_REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
# A refresh of every tenant is 2 NestJS fetches per tenant: it runs on a worker (beat's
# `eyeflow.config.refresh_due` with a horizon that makes everything due), never in a gateway
# thread, and at most one is queued per this many seconds across every gateway.
REFRESH_ALL_KEY = "eyeflow:config:refresh-all"
REFRESH_ALL_MIN_INTERVAL_SECONDS = 60
# Every cached entry expires within CONFIG_FETCH_INTERVAL_MINUTES: a horizon of ten years is due
# for all of them, whatever the TTL.
_EVERYTHING_DUE_SECONDS = 10 * 365 * 24 * 3600.0


def _store(state: Annotated[GatewayState, Depends(state_from_app)]) -> ConfigSource:
    return state.configs


StoreDep = Annotated[ConfigSource, Depends(_store)]
AllQuery = Annotated[
    bool,
    Query(
        alias="all",
        description="Every known tenant instead of the caller's. Needs the operator token "
        "(OPERATOR_API_TOKEN): 403 for any other caller.",
    ),
]


def scope(
    request: Request,
    principal: CallerDep,
    x_user_id: UserIdHeader = None,
    all_tenants: AllQuery = False,
) -> str | None:
    """None for `?all=true` (the operator only: 403 else), otherwise the caller's tenant."""
    if all_tenants:
        require_operator(principal)
        return None
    return resolve_tenant(request, principal, x_user_id)


ScopeDep = Annotated[str | None, Depends(scope)]


def _redis_down(exc: Exception) -> HTTPException:
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        detail=f"Redis (configuration cache) is unreachable: {type(exc).__name__}. "
        "Check REDIS_URL and that Redis is running.",
    )


@router.get(
    "/cache/status",
    operation_id="getCacheStatus",
    summary="The tenant's cached configuration and context",
    responses=STORE_DOWN,
)
def cache_status(store: StoreDep, tenant: TenantDep) -> dict[str, Any]:
    """Age and validity of the caller's cached LLM configuration and aggregated context.

    `source` is `nestjs` or `environment` (NESTJS_SERVER_URL unset). `config.public` is the
    masked configuration. `degraded` is true, with a `reason`, when the last fetch from NestJS
    failed (the last-known-good values are then being served) or an entry is past its TTL.
    """
    try:
        return store.status(tenant)
    except _REDIS_DOWN as exc:
        raise _redis_down(exc) from None


@router.post(
    "/config/refresh",
    operation_id="refreshConfig",
    summary="Re-fetch the configuration and context from NestJS",
    responses={
        202: {"description": "`?all=true`: a refresh of every tenant was queued (or already was)"},
        403: error("`?all=true` without the operator token, or a tenant mismatch"),
        502: {"description": "A fetch from NestJS failed; body is the report"},
        503: {"model": ErrorBody, "description": "Redis or the broker is unreachable"},
    },
)
def refresh_config(store: StoreDep, state: StateDep, tenant: ScopeDep) -> Any:
    """Re-fetch the caller's LLM configuration and aggregated context from NestJS now.

    The answer is a report `{"ok", "source", "tenants": {tenant: {"config": "ok"|code,
    "context": "ok"|"absent"|code, "provider", "model", "errors"}}}` — the caller's tenant only.
    **200** when every fetch succeeded. **502** with the same report when one failed (NestJS
    unreachable, no default configuration, or an invalid one): the last-known-good values stay
    in use and `errors` says what to fix. Never a 500.

    `?all=true` (operator): every known tenant, on a worker — **202** `{"queued", "scope": "all",
    "source", "task_id"}` at once; `queued: false` when one was queued in the last minute (it
    covers this call). Each tenant's outcome is then in its `/cache/status` and `/health`.
    """
    if tenant is None:
        return _queue_refresh_all(state, store)
    try:
        report = store.refresh(tenant)
    except _REDIS_DOWN as exc:
        raise _redis_down(exc) from None
    # Only the caller's own entry is ever answered, whatever the source reported.
    report = {tenant: report[tenant]} if tenant in report else {}
    ok = all(
        value in ("ok", "absent", "fresh")
        for item in report.values()
        for key, value in item.items()
        if key in ("config", "context")
    )
    body = {"ok": ok, "source": store.name, "tenants": report}
    return JSONResponse(body, status.HTTP_200_OK if ok else status.HTTP_502_BAD_GATEWAY)


def _queue_refresh_all(state: GatewayState, store: ConfigSource) -> JSONResponse:
    """One refresh of every tenant on the maintenance queue, at most one a minute (a Redis claim
    shared by every gateway; released if the broker refuses the message)."""
    task_id = str(uuid.uuid4())
    try:
        claimed = state.redis.set(
            REFRESH_ALL_KEY, task_id, nx=True, ex=REFRESH_ALL_MIN_INTERVAL_SECONDS
        )
        queued_id = task_id if claimed else state.redis.get(REFRESH_ALL_KEY)
    except _REDIS_DOWN as exc:
        raise _redis_down(exc) from None
    if claimed:
        task = Tasks.CONFIG_REFRESH_DUE
        try:
            state.celery.send_task(
                task,
                kwargs={"horizon_seconds": _EVERYTHING_DUE_SECONDS},
                task_id=task_id,
                queue=queue_for(task, state.settings),
                retry=False,
            )
        except OperationalError as exc:
            state.redis.delete(REFRESH_ALL_KEY)
            raise BrokerUnavailable(str(exc)) from None
    body = {
        "queued": bool(claimed),
        "scope": "all",
        "source": store.name,
        "task_id": queued_id if isinstance(queued_id, str) else None,
    }
    return JSONResponse(body, status.HTTP_202_ACCEPTED)


@router.post(
    "/cache/invalidate",
    operation_id="invalidateCache",
    summary="Drop the cached aggregated context",
    responses={
        403: error("`?all=true` without the operator token, or a tenant mismatch"),
        **STORE_DOWN,
    },
)
def invalidate_cache(store: StoreDep, tenant: ScopeDep) -> Any:
    """Drop the cached aggregated context (the caller's, or with `?all=true` — operator — every
    tenant's: a few Redis deletes, answered at once).

    The next job fetches it again from NestJS. The LLM configuration is kept; use
    `POST /config/refresh` to re-fetch it. Answers `{"invalidated": <entries dropped>, "scope"}`
    (`scope` is the caller's tenant, or `all`: no tenant is named).
    """
    try:
        dropped = store.invalidate_context(tenant)
    except _REDIS_DOWN as exc:
        raise _redis_down(exc) from None
    return {"invalidated": dropped, "scope": "all" if tenant is None else tenant}
