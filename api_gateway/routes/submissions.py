"""The four job submissions. Each validates, checks the webhook URL, enqueues and answers 202."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, status
from fastapi.responses import JSONResponse

from api_gateway.body_limit import BoundedJsonRoute
from api_gateway.deps import TenantDep, too_many_submissions
from api_gateway.enqueue import Submission, SubmissionRateLimited
from api_gateway.openapi_models import SUBMITTED, ErrorBody, ValidationErrorBody, error
from api_gateway.schemas import BatchRequest, EvaluateRequest, GenerateRequest, RefineRequest
from api_gateway.state import GatewayState, StateDep
from api_gateway.waiting import await_terminal, done_listener
from eyeflow_worker.core.catalogue_shapes import json_size
from eyeflow_worker.core.routing import Kind
from eyeflow_worker.core.task_view import TERMINAL, Accepted, status_path, task_view
from eyeflow_worker.core.webhook_urls import webhook_url_problem

# Bodies are parsed within MAX_JSON_ELEMENTS / MAX_JSON_DEPTH (`BoundedJsonRoute`); every
# submission that passes the token check (main.py) and validation takes one from the tenant's
# rate budget, in the round trip that writes its record (`enqueue.Submitter`).
router = APIRouter(prefix="/api", tags=["jobs"], route_class=BoundedJsonRoute)

WaitQuery = Annotated[
    float | None,
    Query(gt=0, le=60, description="Hold the request up to this many seconds for the result."),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        max_length=255,
        description="Same key and body from the same tenant within 24 h returns the original task.",
    ),
]

# The numbers behind 413 and 429 are this gateway's settings: `routes/schemas.py` states them.
_RESPONSES: dict[int | str, dict[str, Any]] = {
    **SUBMITTED,
    409: error("Idempotency-Key reused with a different body (or its first use still runs)"),
    413: error("Request body over MAX_BODY_BYTES"),
    422: error("The body, a header or a query parameter is invalid", ValidationErrorBody),
    429: {
        "model": ErrorBody,
        "description": "Over the tenant's submission rate (TENANT_SUBMIT_RATE_PER_MINUTE, "
        "TENANT_SUBMIT_BURST); nothing was enqueued",
        "headers": {
            "Retry-After": {
                "description": "Seconds until a submission is accepted again",
                "schema": {"type": "integer"},
            }
        },
    },
    503: error("The broker or Redis cannot be reached; nothing was enqueued"),
}


def _unprocessable(field: str, message: str) -> HTTPException:
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        detail=[{"loc": ["body", field], "msg": message, "type": "value_error"}],
    )


async def _accept(
    state: GatewayState,
    *,
    tenant: str,
    kind: Kind,
    payload: dict[str, Any],
    webhook_url: str | None,
    wait: float | None,
    idempotency_key: str | None,
    fingerprint_body: dict[str, Any],
    intents: tuple[str, ...] = (),
) -> JSONResponse:
    if webhook_url is not None:
        problem = webhook_url_problem(webhook_url, state.settings.webhook_allowed_hosts)
        if problem is not None:
            raise _unprocessable("webhook_url", f"webhook_url {problem}")
    context = payload.get("aggregated_context")
    limit = state.settings.max_catalogue_bytes
    if context is not None and (size := json_size(context)) > limit:
        raise _unprocessable(
            "aggregated_context",
            f"the capability catalogue is {size} bytes, over MAX_CATALOGUE_BYTES ({limit})",
        )
    submit = partial(
        state.submitter.submit,
        tenant=tenant,
        kind=kind,
        payload=payload,
        webhook_url=webhook_url,
        intents=intents,
        idempotency_key=idempotency_key,
        fingerprint_body=fingerprint_body,
    )
    if wait is not None and state.wait_slots.acquire(blocking=False):
        try:
            return await _submit_and_wait(state, submit, kind, len(intents), wait)
        finally:
            state.wait_slots.release()
    # No wait asked, or every wait slot taken by other waiting requests: a plain 202.
    return await _answer(state, await _submitted(state, submit), kind, len(intents))


async def _submitted(
    state: GatewayState, submit: Callable[..., Awaitable[Submission]], **extra: Any
) -> Submission:
    try:
        return await submit(**extra)
    except SubmissionRateLimited as limited:
        raise too_many_submissions(state.settings, limited.retry_after) from None


async def _submit_and_wait(
    state: GatewayState,
    submit: Callable[..., Awaitable[Submission]],
    kind: Kind,
    total: int,
    wait: float,
) -> JSONResponse:
    """Watch the job *before* it exists (its id chosen here), so the job's done message cannot
    come before the watch: the record is read once, when the message wakes the request."""
    job_id = str(uuid.uuid4())
    listener = done_listener(state.redis)
    with listener.watch(job_id) as watch:
        submission = await _submitted(state, submit, job_id=job_id, waited=True)
        if submission.job_id != job_id:  # an idempotent repeat: another job, maybe done
            with listener.watch(submission.job_id) as repeat:
                record = await await_terminal(
                    state.records, listener, repeat, submission.job_id, wait, read_first=True
                )
        else:
            record = await await_terminal(
                state.records, listener, watch, job_id, wait, read_first=False
            )
    if record is not None and record.get("status") in TERMINAL:
        view = task_view(submission.job_id, record)
        headers = {"Location": status_path(submission.job_id)}
        return JSONResponse(view.to_json(), 200, headers=headers)
    return await _answer(state, submission, kind, total)


async def _answer(
    state: GatewayState, submission: Submission, kind: Kind, total: int
) -> JSONResponse:
    status_url = status_path(submission.job_id)
    headers = {"Location": status_url}
    # A new job is reported as it was accepted ("queued"), even if a worker already picked it up
    # meanwhile; a repeat under the same Idempotency-Key reports where the original job is now.
    record = {} if submission.created else await state.records.get(submission.job_id) or {}
    accepted = Accepted(
        task_id=submission.job_id,
        kind=kind,
        status=record.get("status", "queued"),
        status_url=status_url,
        total=int(record.get("total", total)) if kind == "batch" else None,
    )
    code = status.HTTP_202_ACCEPTED if submission.created else status.HTTP_200_OK
    return JSONResponse(accepted.model_dump(exclude_none=True), code, headers=headers)


@router.post(
    "/rules/generate",
    operation_id="submitGenerate",
    summary="Generate rules from one intent",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    responses=_RESPONSES,
)
async def submit_generate(
    body: GenerateRequest,
    state: StateDep,
    tenant: TenantDep,
    wait: WaitQuery = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Generate workflow rules from one natural-language intent.

    Answers 202 with a task id at once; poll `status_url` or pass `webhook_url`.
    """
    return await _accept(
        state,
        tenant=tenant,
        kind="generate",
        payload=body.model_dump(exclude={"webhook_url"}),
        webhook_url=body.webhook_url,
        wait=wait,
        idempotency_key=idempotency_key,
        fingerprint_body=body.model_dump(),
    )


@router.post(
    "/rules/generate-batch",
    operation_id="submitBatch",
    summary="Generate rules for many intents (a batch)",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    responses=_RESPONSES,
)
async def submit_batch(
    body: BatchRequest,
    state: StateDep,
    tenant: TenantDep,
    wait: WaitQuery = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Generate one rule set per intent. Items run in parallel on the batch queue.

    Progress is in the task's `progress`; per-item results page through
    `GET /api/tasks/{id}/results`. `mode` picks realtime calls or the provider's batch API
    (`economy`, half the price, up to 24 h); the task shows the mode it runs in.
    """
    limit = state.settings.max_batch_intents
    if len(body.intents) > limit:
        raise _unprocessable(
            "intents",
            f"at most {limit} intents per batch (MAX_BATCH_INTENTS; got {len(body.intents)})",
        )
    payload = body.model_dump(exclude={"webhook_url", "intents"})
    # The requested mode; `auto` is resolved by the worker, which knows the tenant's provider.
    payload["mode"] = body.mode or state.settings.batch_default_mode
    return await _accept(
        state,
        tenant=tenant,
        kind="batch",
        payload=payload,
        webhook_url=body.webhook_url,
        wait=wait,
        idempotency_key=idempotency_key,
        fingerprint_body=body.model_dump(),
        intents=tuple(body.intents),
    )


@router.post(
    "/rules/refine",
    operation_id="submitRefine",
    summary="Refine rules from feedback",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    responses=_RESPONSES,
)
async def submit_refine(
    body: RefineRequest,
    state: StateDep,
    tenant: TenantDep,
    wait: WaitQuery = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Improve existing rules from feedback; the result lists the structural `changes`."""
    return await _accept(
        state,
        tenant=tenant,
        kind="refine",
        payload=body.model_dump(exclude={"webhook_url"}),
        webhook_url=body.webhook_url,
        wait=wait,
        idempotency_key=idempotency_key,
        fingerprint_body=body.model_dump(),
    )


@router.post(
    "/conditions/evaluate",
    operation_id="submitEvaluate",
    summary="Evaluate a condition against a context",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    responses=_RESPONSES,
)
async def submit_evaluate(
    body: EvaluateRequest,
    state: StateDep,
    tenant: TenantDep,
    wait: WaitQuery = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Evaluate a condition against a context.

    Expressions are evaluated deterministically; plain English goes to the tenant's LLM.
    """
    return await _accept(
        state,
        tenant=tenant,
        kind="evaluate",
        payload=body.model_dump(exclude={"webhook_url"}),
        webhook_url=body.webhook_url,
        wait=wait,
        idempotency_key=idempotency_key,
        fingerprint_body=body.model_dump(),
    )
