"""The gateway app: `uvicorn --factory api_gateway.main:create_app`."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis
from anyio import to_thread
from fastapi import FastAPI, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from kombu.exceptions import OperationalError

from api_gateway.body_limit import BodyLimitMiddleware
from api_gateway.deps import AuthDep
from api_gateway.enqueue import BrokerUnavailable, IdempotencyConflict, IdempotencyInProgress
from api_gateway.routes import cache, ops, schemas, submissions, tasks
from api_gateway.state import build_state
from eyeflow_worker.core.logging_setup import configure_logging
from eyeflow_worker.core.settings import Settings, load_settings

logger = logging.getLogger("api_gateway")

# Routes are sync and a `?wait` holds its thread for up to 60 s; the default 40 threads would
# let a handful of waiting callers starve everybody else.
_THREADPOOL_SIZE = 200


def create_app(settings: Settings | None = None) -> FastAPI:
    """The gateway for `settings` (default: from the environment, with logging configured)."""
    if settings is None:
        settings = load_settings()
        configure_logging(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        to_thread.current_default_thread_limiter().total_tokens = _THREADPOOL_SIZE
        if settings.gateway_api_token is None:
            logger.warning(
                "GATEWAY_API_TOKEN is not set: the gateway accepts unauthenticated calls"
            )
        yield

    app = FastAPI(
        title="Eyeflow worker fleet gateway",
        version="1.0.0",
        description=(
            "Turns natural-language intents into validated workflow rules, refines rules and "
            "evaluates conditions — as queued jobs. Submit (202 + task id), then poll "
            "`GET /api/tasks/{id}` or receive a signed webhook."
        ),
        lifespan=lifespan,
    )
    # Refuses to start misconfigured (e.g. NestJS mode outside dev without CACHE_ENCRYPTION_KEY).
    app.state.gateway = build_state(settings)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)

    app.include_router(ops.health_router)
    app.include_router(ops.router, dependencies=[AuthDep])
    app.include_router(submissions.router, dependencies=[AuthDep])
    app.include_router(tasks.router, dependencies=[AuthDep])
    app.include_router(cache.router, dependencies=[AuthDep], tags=["configuration"])
    app.include_router(schemas.router, dependencies=[AuthDep], tags=["schemas"])
    _install_error_handlers(app)
    return app


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
