"""The schemas callers build against: the canonical aggregated context (capability catalogue),
and the OpenAPI document stating this gateway's own limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI

from api_gateway.request_schemas import ON_FAILURE_RULE
from api_gateway.schemas import BatchRequest, EvaluateRequest, GenerateRequest, RefineRequest
from eyeflow_worker.core.catalogue_model import aggregated_context_schema
from eyeflow_worker.core.settings import Settings

_SUBMISSIONS = (GenerateRequest, BatchRequest, RefineRequest, EvaluateRequest)


def with_limits(openapi: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """`openapi` (FastAPI's document) stating the limits that come from `settings`: the request
    models state the fixed ones themselves (string lengths, patterns, `deadline`); these are the
    numbers an operator sets, so a request valid by the document is never refused for an unstated
    rule. Changes `openapi` in place (idempotent) and returns it."""
    models = openapi.get("components", {}).get("schemas", {})
    if "OnFailure" in models:
        models["OnFailure"].update(ON_FAILURE_RULE)
    for model in _SUBMISSIONS:
        schema = models.get(model.__name__)
        if schema is None:
            continue
        schema["x-max-json-elements"] = settings.max_json_elements
        schema["x-max-json-depth"] = settings.max_json_depth
        context = schema.get("properties", {}).get("aggregated_context")
        if context is not None:
            context["x-max-bytes"] = settings.max_catalogue_bytes
    intents = models.get(BatchRequest.__name__, {}).get("properties", {}).get("intents")
    if intents is not None:
        intents["maxItems"] = settings.max_batch_intents
    for operations in openapi.get("paths", {}).values():
        for operation in operations.values():
            _state_responses(operation.get("responses", {}), settings)
    return openapi


def _state_responses(responses: dict[str, Any], settings: Settings) -> None:
    if "413" in responses:
        responses["413"]["description"] = (
            f"Request body over {settings.max_body_bytes} bytes (MAX_BODY_BYTES)"
        )
    if "429" not in responses:
        return
    if settings.tenant_submit_rate_per_minute <= 0:
        del responses["429"]  # the limit is off: no submission is refused for its rate
        return
    responses["429"]["description"] = (
        f"Over the tenant's submission rate: {settings.tenant_submit_rate_per_minute:g} per "
        f"minute, {settings.tenant_submit_burst} at once (TENANT_SUBMIT_RATE_PER_MINUTE, "
        "TENANT_SUBMIT_BURST; a batch counts once); nothing was enqueued"
    )


@asynccontextmanager
async def _publish_limits(app: FastAPI) -> AsyncIterator[None]:
    """Serve /openapi.json with the app's own limits. A router's lifespan is merged into the
    app's when the router is included, and receives the app: the one place that has both the app
    and, through its state, its settings. (An app served without a lifespan — a bare
    TestClient — shows the models' fixed limits and the setting names only.)"""
    settings: Settings = app.state.gateway.settings
    generate = FastAPI.openapi  # FastAPI's own generation, cached by it

    def openapi() -> dict[str, Any]:
        return with_limits(generate(app), settings)

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented extension point
    yield


router = APIRouter(prefix="/schemas", lifespan=_publish_limits)


@router.get(
    "/aggregated-context",
    operation_id="getAggregatedContextSchema",
    summary="JSON Schema of the aggregated context",
)
def aggregated_context() -> dict[str, Any]:
    """JSON Schema of the canonical aggregated context: what `aggregated_context` (and the NestJS
    context endpoint) should send. Other shapes are read too (listed in the README, "The
    capability catalogue"); every one is read into exactly this, and what could not be read is
    reported in the job result's `catalogue_warnings`."""
    return aggregated_context_schema()
