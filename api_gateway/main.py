"""The gateway app: `uvicorn --factory api_gateway.main:create_app`."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.util import find_spec
from pathlib import Path

import redis
from anyio import to_thread
from fastapi import FastAPI, Request, Response, Security, status
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.params import Depends
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPBearer
from fastapi.staticfiles import StaticFiles
from kombu.exceptions import OperationalError

from api_gateway.auth import Authenticator
from api_gateway.body_limit import BodyLimitMiddleware
from api_gateway.deps import AuthDep
from api_gateway.enqueue import BrokerUnavailable, IdempotencyConflict, IdempotencyInProgress
from api_gateway.openapi_models import Responses, json_error
from api_gateway.request_context import RequestLogContext
from api_gateway.routes import cache, ops, schemas, submissions, tasks
from api_gateway.state import GatewayState, build_state
from api_gateway.waiting import done_listener
from eyeflow_worker.core.logging_setup import configure_logging
from eyeflow_worker.core.settings import Settings, load_settings

logger = logging.getLogger("api_gateway")

# The submissions and `GET /api/tasks/{id}` (with `?wait`) run on the event loop and hold no
# thread; the other routes are sync, and so is a submission on RabbitMQ (record, publish, claim
# on a thread). 200 threads, not the default 40: a burst of those must not queue behind each
# other.
_THREADPOOL_SIZE = 200

# Swagger UI and ReDoc, served from the gateway itself: /docs must work offline and must not
# make a browser fetch scripts from a CDN. `fastapi-offline` ships exactly FastAPI's assets.
DOCS_ASSETS_PATH = "/static/docs"
_DOCS_ASSETS_PACKAGE = "fastapi_offline"

TAGS: list[dict[str, str]] = [
    {"name": "jobs", "description": "Submit a job: 202 with a task id at once."},
    {"name": "tasks", "description": "Read, wait on, cancel, page and retry a task."},
    {"name": "configuration", "description": "The tenant's cached LLM config and context."},
    {"name": "schemas", "description": "The schemas callers build against."},
    {"name": "operations", "description": "Health, providers, Prometheus metrics."},
]


def create_app(settings: Settings | None = None) -> FastAPI:
    """The gateway for `settings` (default: from the environment, with logging configured)."""
    if settings is None:
        settings = load_settings()
        configure_logging(settings)

    @asynccontextmanager
    async def lifespan(running: FastAPI) -> AsyncIterator[None]:
        to_thread.current_default_thread_limiter().total_tokens = _THREADPOOL_SIZE
        _log_auth(authenticator)
        gateway: GatewayState = running.state.gateway
        await gateway.records.open()  # on this loop: the submissions' and waits' asyncio client
        try:
            yield
        finally:
            try:
                done_listener(gateway.redis).stop()  # `?wait`'s pub/sub thread and connection
            finally:
                try:
                    gateway.submitter.close()  # its broker connection
                finally:
                    await gateway.records.aclose()

    app = FastAPI(
        title="Eyeflow worker fleet gateway",
        version="1.0.0",
        description=(
            "Turns natural-language intents into validated workflow rules, refines rules and "
            "evaluates conditions — as queued jobs. Submit (202 + task id), then poll "
            "`GET /api/tasks/{id}` or receive a signed webhook."
        ),
        lifespan=lifespan,
        openapi_tags=TAGS,
        docs_url=None,
        redoc_url=None,
    )
    # Refuses to start misconfigured (e.g. NestJS mode outside dev without CACHE_ENCRYPTION_KEY).
    app.state.gateway = build_state(settings)
    # The keys are loaded once, here (Settings has already refused any that would not load).
    authenticator = Authenticator(settings)
    app.state.authenticator = authenticator
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    # Outermost of ours: every line a request logs (a 413 too) carries its request id and path.
    app.add_middleware(RequestLogContext)

    secured = [AuthDep, *_security_schemes(authenticator)]
    signed_in, for_a_tenant = _auth_responses(authenticator)
    app.include_router(ops.health_router)  # /health stays open, as /docs and /openapi.json
    app.include_router(ops.router, dependencies=secured, responses=for_a_tenant)
    app.include_router(submissions.router, dependencies=secured, responses=for_a_tenant)
    app.include_router(tasks.router, dependencies=secured, responses=for_a_tenant)
    app.include_router(
        cache.router, dependencies=secured, tags=["configuration"], responses=for_a_tenant
    )
    app.include_router(schemas.router, dependencies=secured, tags=["schemas"], responses=signed_in)
    _install_docs(app)
    _install_error_handlers(app)
    return app


def _auth_responses(authenticator: Authenticator) -> tuple[Responses, Responses]:
    """The refusals `deps.caller` (401) and `deps.resolve_tenant` (403) can answer — none on an
    open gateway, which refuses nobody. (A route's own entry, e.g. /metrics' 403, wins.)"""
    if authenticator.is_open:
        return {}, {}
    # `json_error`, not `model`: a `model` would be filed under a text route's media type
    # (/metrics), and these refusals are JSON everywhere.
    unauthorized: Responses = {
        401: {
            **json_error("No bearer credential, or one that does not verify"),
            "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
        }
    }
    forbidden: Responses = {
        403: json_error(
            "X-User-ID names another tenant than the bearer token's, or "
            "GATEWAY_REQUIRE_JWT and the credential is not a tenant token"
        )
    }
    return unauthorized, {**unauthorized, **forbidden}


def _install_docs(app: FastAPI) -> None:
    """/docs and /redoc with their assets served under DOCS_ASSETS_PATH (open, as /openapi.json)."""
    spec = find_spec(_DOCS_ASSETS_PACKAGE)
    if spec is None or spec.origin is None:
        raise RuntimeError("fastapi-offline (requirements.txt) is missing: /docs has no assets")
    assets = Path(spec.origin).parent / "static"
    app.mount(DOCS_ASSETS_PATH, StaticFiles(directory=assets), name="docs-assets")
    title = app.title
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} — Swagger UI",
            swagger_js_url=f"{DOCS_ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS_PATH}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} — ReDoc",
            redoc_js_url=f"{DOCS_ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{DOCS_ASSETS_PATH}/favicon.png",
            # ReDoc's default pulls Google Fonts: the point is that nothing leaves the gateway.
            with_google_fonts=False,
        )


def _security_schemes(authenticator: Authenticator) -> list[Depends]:
    """The bearer schemes in the OpenAPI document (the Authorize button of /docs), when the
    gateway has a credential to check; an open gateway states none. Alternatives: the shared
    tokens (`serviceToken`), and with a JWT key the signed tenant token (`tenantToken`). Both
    travel as `Authorization: Bearer`; they only document — `caller` in deps.py checks."""
    if authenticator.is_open:
        return []
    service_role = (
        "GATEWAY_API_TOKEN (the service: with GATEWAY_REQUIRE_JWT set, refused on every route "
        "that acts for a tenant, 403)"
        if authenticator.require_jwt
        else "GATEWAY_API_TOKEN (the service, NestJS: names the tenant in X-User-ID)"
    )
    service = HTTPBearer(
        auto_error=False,
        scheme_name="serviceToken",
        description=f"`Authorization: Bearer <value>` with {service_role} or OPERATOR_API_TOKEN "
        '(the operator: also `?all=true` and /metrics). README, "Authentication".',
    )
    schemes = [Security(service)]
    if authenticator.algorithms:
        tenant = HTTPBearer(
            auto_error=False,
            scheme_name="tenantToken",
            bearerFormat="JWT",
            description=f"`Authorization: Bearer <jwt>`: a tenant token "
            f"({', '.join(authenticator.algorithms)}) with `tenant` and `exp` claims, acting "
            "for that tenant only (an X-User-ID naming another is 403); at most "
            'GATEWAY_JWT_MAX_TTL_SECONDS long-lived. README, "Authentication".',
        )
        schemes.append(Security(tenant))
    return schemes


def _log_auth(authenticator: Authenticator) -> None:
    if authenticator.is_open:
        logger.warning(
            "No GATEWAY_API_TOKEN, OPERATOR_API_TOKEN or GATEWAY_JWT_* is set: the gateway "
            "accepts unauthenticated calls, for any tenant"
        )
    elif authenticator.algorithms and not authenticator.require_jwt:
        logger.info(
            "Tenant tokens (%s) prove their tenant; the service token still names any tenant "
            "(GATEWAY_REQUIRE_JWT=false)",
            ", ".join(authenticator.algorithms),
        )


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(BrokerUnavailable)
    async def broker_unavailable(_: Request, __: BrokerUnavailable) -> JSONResponse:
        return JSONResponse(
            {"detail": "The job broker is unreachable; nothing was enqueued. Retry later."},
            status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(redis.exceptions.RedisError)
    @app.exception_handler(OperationalError)
    async def store_unavailable(_: Request, exc: Exception) -> JSONResponse:
        logger.warning("Redis/broker error answered with 503: %s", type(exc).__name__)
        return JSONResponse(
            {"detail": "The job store (Redis) is unreachable. Retry later."},
            status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(RequestValidationError)
    async def unprocessable(_: Request, exc: RequestValidationError) -> Response:
        # FastAPI's default echoes the offending `input`, which can be large, can carry what the
        # caller should not see in logs, and (a lone surrogate) can fail to encode as a 500.
        errors = [
            {key: error[key] for key in ("loc", "msg", "type") if key in error}
            for error in exc.errors()
        ]
        body = json.dumps({"detail": errors}, ensure_ascii=True, default=str)
        return Response(body, status.HTTP_422_UNPROCESSABLE_CONTENT, media_type="application/json")

    @app.exception_handler(IdempotencyConflict)
    async def idempotency_conflict(_: Request, exc: IdempotencyConflict) -> JSONResponse:
        headers = {"Retry-After": "1"} if isinstance(exc, IdempotencyInProgress) else None
        return JSONResponse({"detail": str(exc)}, status.HTTP_409_CONFLICT, headers=headers)
