"""Request models: what the gateway accepts (they become the OpenAPI). What it answers — the task
object and its parts — is `eyeflow_worker.core.task_view`, shared with webhooks."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from eyeflow_worker.core.catalogue_shapes import shape_problems
from eyeflow_worker.core.workflow_rules import WorkflowRules


def _readable_catalogue(value: dict[str, Any]) -> dict[str, Any]:
    """Refuse, at submission, a catalogue no reading can use — a section that is neither a list
    nor an object — each error at the field's own location (`body.aggregated_context.variables`).
    Entries the reader would skip are not refused: the job's result reports them in
    `catalogue_warnings`. (Its size bound, a setting, is checked by the route.)"""
    problems = [
        InitErrorDetails(type=_error("catalogue_shape", message), loc=loc, input=None)
        for loc, message in shape_problems(value)
    ]
    if problems:
        # Raised from a validator, a ValidationError's locations nest under the field's.
        raise ValidationError.from_exception_data("aggregated_context", problems)
    return value


def _error(kind: str, message: str) -> PydanticCustomError:
    # The message goes in as context: a template would read braces in it as placeholders.
    return PydanticCustomError(kind, "{problem}", {"problem": message})


AggregatedContext = Annotated[dict[str, Any], AfterValidator(_readable_catalogue)]


_NO_EXTRA = ConfigDict(extra="forbid")
BatchMode = Literal["realtime", "economy", "auto"]
# The longest `deadline` a batch may ask for.
MAX_BATCH_DEADLINE_SECONDS = 24 * 3600


class _Submission(BaseModel):
    model_config = _NO_EXTRA

    webhook_url: str | None = Field(
        default=None,
        max_length=2048,
        description="POSTed the task object, signed (Standard Webhooks), when the job ends. "
        "Its host must be in WEBHOOK_ALLOWED_HOSTS.",
    )


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


class GenerateRequest(_Submission):
    user_intent: str = Field(
        min_length=1,
        max_length=4000,
        examples=["Alert the team when database memory exceeds 85%"],
        description="What the workflow should do, in plain language.",
    )
    aggregated_context: AggregatedContext | None = Field(
        default=None,
        description="The capability catalogue (condition_types, action_types, triggers, "
        "variables; the shapes read: GET /schemas/aggregated-context and the README). "
        "Omitted: the tenant's cached context from NestJS is used.",
    )

    _check_intent = field_validator("user_intent")(_non_blank)


class BatchRequest(_Submission):
    intents: list[str] = Field(min_length=1, description="One rule set is generated per intent.")
    aggregated_context: AggregatedContext | None = None
    deadline: float | None = Field(
        default=None,
        gt=0,
        le=MAX_BATCH_DEADLINE_SECONDS,
        examples=[3600],
        description="Seconds from submission during which items that fail for a transient "
        "reason (provider unavailable or rate limited, NestJS unreachable, an attempt's time "
        "limit) wait and are tried again; past it they fail with their last error. At most "
        "24 h. Omitted: BATCH_DEADLINE_SECONDS (8 h).",
    )
    mode: BatchMode | None = Field(
        default=None,
        description="realtime: one call per intent, at full price, results within minutes. "
        "economy: the provider's own batch API (Anthropic, OpenAI) at half the price; most "
        "provider batches end within an hour, the window is 24 h. auto: economy when the "
        "tenant's provider has a batch API and the batch has at least BATCH_API_MIN_ITEMS "
        "intents, realtime otherwise. A provider without a batch API runs realtime and the "
        "task says so (`mode`, `mode_reason`). Omitted: BATCH_DEFAULT_MODE.",
    )

    @field_validator("intents")
    @classmethod
    def _intents_not_blank(cls, intents: list[str]) -> list[str]:
        for position, intent in enumerate(intents):
            if not intent.strip():
                raise ValueError(f"intent at position {position} is blank")
            if len(intent) > 4000:
                raise ValueError(f"intent at position {position} is longer than 4000 characters")
        return intents


class RefineRequest(_Submission):
    current_rules: dict[str, Any] = Field(description="The workflow rules to improve.")
    feedback: str = Field(min_length=1, max_length=4000, examples=["Add retry logic for failures"])
    aggregated_context: AggregatedContext | None = None

    _check_feedback = field_validator("feedback")(_non_blank)

    @field_validator("current_rules")
    @classmethod
    def _rules_document(cls, value: dict[str, Any]) -> dict[str, Any]:
        """The rules to refine must be a rules document (the catalogue checks come later).

        Top-level keys outside the schema (NestJS metadata such as `id`, `createdAt`) are
        tolerated; the document itself must hold."""
        core = {key: item for key, item in value.items() if key in WorkflowRules.model_fields}
        try:
            WorkflowRules.model_validate(core)
        except ValidationError as invalid:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc']) or '(root)'}: {error['msg']}"
                for error in invalid.errors()[:10]
            )
            raise ValueError(f"not a workflow rules document ({problems})") from None
        return value


class EvaluateRequest(_Submission):
    condition: str = Field(
        min_length=1, max_length=4096, examples=["$metrics.cpu > 80 AND $status == running"]
    )
    context: dict[str, Any] = Field(description="The values the condition's $variables refer to.")

    _check_condition = field_validator("condition")(_non_blank)
