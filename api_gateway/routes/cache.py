"""Configuration cache: status, refresh from NestJS, invalidate the aggregated context.

Auth is applied by the app when it includes this router. No response ever contains an API key:
configurations are shown through `ProviderConfig.public_view()`.
"""

from __future__ import annotations

from typing import Annotated, Any

import redis
from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import JSONResponse

from api_gateway.deps import TenantDep
from api_gateway.state import GatewayState, state_from_app
from eyeflow_worker.tenant_config.source import ConfigSource

router = APIRouter()

_REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def _store(state: Annotated[GatewayState, Depends(state_from_app)]) -> ConfigSource:
    return state.configs


StoreDep = Annotated[ConfigSource, Depends(_store)]
AllQuery = Annotated[
    bool, Query(alias="all", description="Apply to every known tenant instead of the caller's.")
]


def _redis_down(exc: Exception) -> HTTPException:
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        detail=f"Redis (configuration cache) is unreachable: {type(exc).__name__}. "
        "Check REDIS_URL and that Redis is running.",
    )


@router.get("/cache/status")
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
    responses={502: {"description": "At least one fetch from NestJS failed; body is the report"}},
)
def refresh_config(store: StoreDep, tenant: TenantDep, all_tenants: AllQuery = False) -> Any:
    """Re-fetch the LLM configuration and aggregated context from NestJS now.

    For the caller's tenant, or every known tenant with `?all=true`. The answer is a report
    `{"ok", "source", "tenants": {tenant: {"config": "ok"|code, "context": "ok"|"absent"|code,
    "provider", "model", "errors"}}}`.

    **200** when every fetch succeeded. **502** with the same report when any fetch failed
    (NestJS unreachable, no default configuration for a tenant, or an invalid one): the last-known-
    good values stay in use and `errors` says what to fix. Never a 500.
    """
    try:
        report = store.refresh(None if all_tenants else tenant)
    except _REDIS_DOWN as exc:
        raise _redis_down(exc) from None
    ok = all(
        value in ("ok", "absent", "fresh")
        for item in report.values()
        for key, value in item.items()
        if key in ("config", "context")
    )
    body = {"ok": ok, "source": store.name, "tenants": report}
    return JSONResponse(body, status.HTTP_200_OK if ok else status.HTTP_502_BAD_GATEWAY)


@router.post("/cache/invalidate")
def invalidate_cache(store: StoreDep, tenant: TenantDep, all_tenants: AllQuery = False) -> Any:
    """Drop the cached aggregated context (the caller's, or every tenant's with `?all=true`).

    The next job fetches it again from NestJS. The LLM configuration is kept; use
    `POST /config/refresh` to re-fetch it. Answers `{"invalidated": <entries dropped>, "scope"}`.
    """
    try:
        dropped = store.invalidate_context(None if all_tenants else tenant)
    except _REDIS_DOWN as exc:
        raise _redis_down(exc) from None
    return {"invalidated": dropped, "scope": "all" if all_tenants else tenant}
