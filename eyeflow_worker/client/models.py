"""The gateway's answers as typed models: the task object, each job kind's result, a batch's
per-item results, the 202 acknowledgement.

They mirror the gateway's OpenAPI (`api_gateway/openapi_models.py`, `eyeflow_worker.core.
task_view`, `…core.workflow_rules`) without importing it — the client talks HTTP only, so it can
be used where the fleet is not installed; `tests/client/test_models_match_openapi.py` keeps the
two from drifting. Every model admits keys it does not know (a gateway newer than the client
adds fields) and states no bound the server enforces: the server is the judge of input, the
client only reads.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from eyeflow_worker.client.errors import ResultUnavailable

Kind = Literal["generate", "batch", "refine", "evaluate"]
Status = Literal["queued", "running", "retrying", "succeeded", "failed", "cancelled"]
ItemStatus = Literal["queued", "succeeded", "failed", "cancelled"]
BatchMode = Literal["realtime", "economy", "auto"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
_R = TypeVar("_R", bound=BaseModel)


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def to_json(self) -> dict[str, Any]:
        """The object as the gateway sent it: the keys it had (unknown ones too), JSON names."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


# --- the workflow rules document --------------------------------------------------------------


class RetryPolicy(_Model):
    max_attempts: int
    backoff_seconds: float


class FallbackAction(_Model):
    action: str
    params: dict[str, Any] = Field(default_factory=dict)


class OnFailure(_Model):
    strategy: str  # continue | stop_workflow | run_actions
    actions: list[FallbackAction] = Field(default_factory=list)


class Action(_Model):
    action: str
    params: dict[str, Any] = Field(default_factory=dict)
    retry: RetryPolicy | None = None
    on_failure: OnFailure | None = None


class Rule(_Model):
    name: str
    description: str | None = None
    condition: str
    then: list[Action]
    else_: list[Action] | None = Field(default=None, alias="else")


class WorkflowRules(_Model):
    workflow_name: str
    description: str | None = None
    trigger: str
    rules: list[Rule]


# --- results, per kind ------------------------------------------------------------------------


class Usage(_Model):
    input_tokens: int | None = None
    output_tokens: int | None = None


class RulesResult(_Model):
    """`generate` (and each succeeded batch item's rules): the rules and what they cost."""

    workflow_rules: WorkflowRules
    model_used: str | None = None
    provider: str | None = None
    tokens_used: int | None = None
    usage: Usage | None = None
    generation_time_ms: int | None = None
    cost_usd: float | None = None
    attempts: int | None = None
    catalogue_warnings: list[str] = Field(default_factory=list)


class FeedbackApplied(_Model):
    clause: str
    changes: list[str] = Field(default_factory=list)  # the `changes` summaries carrying it


class FeedbackNotApplied(_Model):
    clause: str
    reason: str


class RefineResult(RulesResult):
    """`refine`: the improved rules, the structural `changes` against the rules sent, and
    which clauses of the feedback they carry (each clause is in exactly one list)."""

    changes: Any = None
    feedback_applied: list[FeedbackApplied] = Field(default_factory=list)
    feedback_not_applied: list[FeedbackNotApplied] = Field(default_factory=list)


class EvaluateResult(_Model):
    """`evaluate`: the verdict, how it was reached, the variables that were missing."""

    result: bool
    method: Literal["deterministic", "llm"]
    explanation: str = ""
    missing: list[str] = Field(default_factory=list)
    cached: bool | None = None
    provider: str | None = None
    model_used: str | None = None
    tokens_used: int | None = None
    usage: Usage | None = None
    cost_usd: float | None = None


Result = RefineResult | RulesResult | EvaluateResult
_RESULT_BY_KIND: dict[str, type[Result]] = {
    "generate": RulesResult,
    "refine": RefineResult,
    "evaluate": EvaluateResult,
}


# --- the task object --------------------------------------------------------------------------


class Accepted(_Model):
    """A submission's answer: 202 for a new job, 200 when the Idempotency-Key names an earlier
    one (`created` is False then, and `status` is where that job is now)."""

    task_id: str
    kind: Kind
    status: Status
    status_url: str
    total: int | None = None  # batches: the number of intents
    created: bool = Field(default=True, exclude=True)  # from the status code, not the body


class TaskError(_Model):
    code: str
    message: str
    details: Any = None


class Progress(_Model):
    total: int
    succeeded: int
    failed: int
    cancelled: int = 0

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed


class WebhookState(_Model):
    status: Literal["pending", "retrying", "delivered", "failed"]
    attempts: int
    last_error: str | None = None
    delivered_at: str | None = None


class ProviderBatch(_Model):
    provider: str
    batch_id: str
    round: int
    status: str
    provider_status: str | None = None
    request_counts: dict[str, int] = Field(default_factory=dict)


class Task(_Model):
    """`GET /api/tasks/{id}`: status, timestamps, progress, and the result typed by `kind`
    (generate → RulesResult, refine → RefineResult, evaluate → EvaluateResult, batch → None:
    its items page through `iter_results`)."""

    task_id: str
    kind: Kind
    status: Status
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    attempts: int = 0
    progress: Progress
    result: Result | None = None
    error: TaskError | None = None
    results_url: str | None = None
    webhook: WebhookState | None = None
    mode: BatchMode | None = None
    mode_reason: str | None = None
    provider_batches: list[ProviderBatch] | None = None
    cost_usd: float | None = None
    realtime_cost_usd: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _result_by_kind(cls, data: Any) -> Any:
        # By `kind`, not by shape: a refine result is a generate result plus `changes`, and a
        # union would guess.
        if isinstance(data, dict) and isinstance(data.get("result"), dict):
            model = _RESULT_BY_KIND.get(str(data.get("kind")))
            if model is not None:
                return {**data, "result": model.model_validate(data["result"])}
        return data

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    def rules_result(self) -> RulesResult:
        """A succeeded `generate` or `refine` task's result (`ResultUnavailable` otherwise)."""
        return self._result(RulesResult, "generate or refine")

    def refine_result(self) -> RefineResult:
        return self._result(RefineResult, "refine")

    def evaluate_result(self) -> EvaluateResult:
        return self._result(EvaluateResult, "evaluate")

    def _result(self, model: type[_R], kinds: str) -> _R:
        if isinstance(self.result, model):
            return self.result
        if self.status == "succeeded":
            reason = f"is a {self.kind} task, not {kinds}"
        elif self.error is not None:
            reason = f"{self.status}: {self.error.code}: {self.error.message}"
        else:
            reason = f"is {self.status}" + ("" if self.done else " (not finished yet)")
        raise ResultUnavailable(f"task {self.task_id} {reason}", task=self)


class RetriedTask(Task):
    """`POST /api/tasks/{id}/retry`: the batch as it now stands, and how many failed items were
    re-queued (0: none had failed, nothing changed)."""

    requeued: int = 0


class BatchItem(_Model):
    """One intent of a batch: its rules when it succeeded, its error when it failed."""

    index: int
    intent: str
    status: ItemStatus
    workflow_rules: WorkflowRules | None = None
    error: TaskError | None = None
    tokens_used: int | None = None
    usage: Usage | None = None
    cost_usd: float | None = None
    realtime_cost_usd: float | None = None


class BatchPage(_Model):
    """One page of `GET /api/tasks/{id}/results`; `next_offset` is None on the last page."""

    task_id: str
    offset: int
    limit: int
    total: int
    items: list[BatchItem]
    next_offset: int | None = None
