"""Models that only document: the error bodies, the /health report, and the task object with its
`result` typed per kind. Routes answer with `JSONResponse`s built from `core.task_view`; these
models give the OpenAPI the shapes those answers have, and the tests validate real answers
against them so the document cannot drift from what is sent.

Every model here admits extra keys: a result that grows a field (a new usage counter, a report
of the applied feedback) must not make the document a lie about older clients' input.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from eyeflow_worker.core.task_view import Accepted, TaskView
from eyeflow_worker.core.workflow_rules import WorkflowRules

_OPEN = ConfigDict(extra="allow")

# --- error bodies ---------------------------------------------------------------------------


class ErrorBody(BaseModel):
    """Every refusal but a validation error: a sentence saying what happened and what to do."""

    model_config = _OPEN

    detail: str = Field(examples=["Task not found"])


class ValidationIssue(BaseModel):
    loc: list[str | int] = Field(examples=[["body", "user_intent"]])
    msg: str
    type: str


class ValidationErrorBody(BaseModel):
    """422: each problem at its location (`body.<field>`, `header.X-User-ID`, `query.wait`)."""

    detail: list[ValidationIssue]


# --- results, per kind ------------------------------------------------------------------------


class Usage(BaseModel):
    model_config = _OPEN

    input_tokens: int | None = None
    output_tokens: int | None = None


class RulesResult(BaseModel):
    """`generate` (and each succeeded batch item): the workflow rules and what producing them
    cost."""

    model_config = _OPEN

    workflow_rules: WorkflowRules = Field(description="The validated workflow rules document.")
    model_used: str | None = None
    provider: str | None = None
    tokens_used: int | None = None
    usage: Usage | None = None
    generation_time_ms: int | None = None
    cost_usd: float | None = None
    attempts: int | None = Field(default=None, description="Provider calls, repairs included.")
    catalogue_warnings: list[str] = Field(
        default_factory=list,
        description="What the catalogue reader could not use in the aggregated context.",
    )


class FeedbackApplied(BaseModel):
    model_config = _OPEN

    clause: str = Field(examples=["use slack instead of email"])
    changes: list[str] = Field(
        description="The `changes` summaries that carry this clause.",
        examples=[["rule 'cpu-high': then action SEND_NOTIFICATION changed (params)"]],
    )


class FeedbackNotApplied(BaseModel):
    model_config = _OPEN

    clause: str = Field(examples=["use teams instead of email"])
    reason: str = Field(
        examples=["the catalogue offers no 'teams' channel (channels it offers: email, slack)"]
    )


class RefineResult(RulesResult):
    """`refine`: the improved rules, the structural changes computed against the rules sent
    (not the model's own summary), and which parts of the feedback they carry."""

    changes: Any = Field(description="The structural diff from `current_rules`.")
    feedback_applied: list[FeedbackApplied] = Field(
        default_factory=list,
        description="The clauses of `feedback` (cut at ';', sentence ends, and ',', 'and', "
        "'then' before a new request) that some change carries, with those changes. Computed "
        "by comparing the rules sent and returned, for every provider.",
    )
    feedback_not_applied: list[FeedbackNotApplied] = Field(
        default_factory=list,
        description="The other clauses, each with why: the catalogue offers no channel it "
        "names, or no change corresponds to it. Every clause is in exactly one of the lists.",
    )


class EvaluateResult(BaseModel):
    """`evaluate`: the verdict, how it was reached, and the variables that were missing."""

    model_config = _OPEN

    result: bool
    method: Literal["deterministic", "llm"]
    explanation: str = ""
    missing: list[str] = Field(default_factory=list, examples=[["$metrics.mem"]])
    cached: bool | None = Field(default=None, description="`llm` only: served from the cache.")
    provider: str | None = None
    model_used: str | None = None
    tokens_used: int | None = None
    usage: Usage | None = None
    cost_usd: float | None = None


RESULT_BY_KIND: dict[str, type[BaseModel] | None] = {
    "generate": RulesResult,
    "refine": RefineResult,
    "evaluate": EvaluateResult,
    # A batch's own result stays null: its items page through GET /api/tasks/{id}/results.
    "batch": None,
}


class TypedTaskView(TaskView):
    """The task object (`core.task_view.TaskView`) with `result` stated per kind."""

    # Smart-mode union: pydantic picks the most exact match; the JSON Schema is an `anyOf` of
    # the kinds' shapes, as a refine result is a generate result plus `changes`.
    result: RefineResult | RulesResult | EvaluateResult | None = Field(  # type: ignore[assignment]
        description="Set once the job succeeded, by `kind`: generate → RulesResult, refine → "
        "RefineResult, evaluate → EvaluateResult; batch → null (items: `results_url`)."
    )


class RetriedTask(TypedTaskView):
    requeued: int = Field(description="How many failed items were re-queued (0: none had failed).")


class ConflictBody(BaseModel):
    """409 on a task: why, and the task as it now stands."""

    detail: str = Field(examples=["Task already succeeded"])
    task: TypedTaskView


# --- /health ----------------------------------------------------------------------------------


class Reachability(BaseModel):
    model_config = _OPEN

    reachable: bool
    error: str | None = None


class HealthReport(BaseModel):
    """The fleet's health. `unhealthy` (HTTP 503) carries only `status`, `reasons`, `broker` and
    `redis`; `healthy` and `degraded` carry the rest."""

    model_config = _OPEN

    status: Literal["healthy", "degraded", "unhealthy"]
    reasons: list[str] = Field(examples=[["no worker answered the last ping"]])
    broker: Reachability
    redis: Reachability | None = None
    queues: dict[str, int] | None = Field(default=None, description="Messages waiting, by queue.")
    workers: dict[str, Any] | None = Field(
        default=None, description="The cached worker ping (`ping_age_seconds`, workers seen)."
    )
    nestjs: dict[str, Any] | None = None
    provider: str | None = None
    model: str | None = None
    context_cache_age_minutes: float | None = None
    config_cache: dict[str, Any] | None = None


# --- `responses=` building blocks -------------------------------------------------------------

Responses = dict[int | str, dict[str, Any]]


def error(description: str, model: type[BaseModel] = ErrorBody) -> dict[str, Any]:
    return {"model": model, "description": description}


def json_error(description: str, model: type[BaseModel] = ErrorBody) -> dict[str, Any]:
    """An error of a route whose success is not JSON (`/metrics`): FastAPI would state a
    `model` under the route's own media type (text/plain), but errors are always JSON — so
    the schema is given here (the model is in the components: other routes answer it)."""
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"description": description, "content": {"application/json": {"schema": ref}}}


STORE_DOWN: Responses = {503: error("Redis or the broker is unreachable; retry later")}
SUBMITTED: Responses = {
    200: {
        "model": TypedTaskView | Accepted,
        "description": "`wait` was given and the job ended in time (the task object), or the "
        "Idempotency-Key repeats an earlier submission (where that job is now)",
    }
}
