"""Request models: what the gateway accepts (they become the OpenAPI). What it answers — the task
object and its parts — is `eyeflow_worker.core.task_view`, shared with webhooks."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from api_gateway.request_schemas import (
    WEBHOOK_URL_PATTERN,
    RulesDocument,
    SchemaOf,
    catalogue_schema,
)
from eyeflow_worker.conditions.syntax_check import malformed_expression
from eyeflow_worker.core.catalogue_shapes import shape_problems


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


AggregatedContext = Annotated[
    dict[str, Any], AfterValidator(_readable_catalogue), WithJsonSchema(catalogue_schema())
]
# A workflow rules document as sent (extra top-level keys kept); `_rules_document` checks it.
RulesDocumentField = Annotated[dict[str, Any], SchemaOf(RulesDocument)]


_NO_EXTRA = ConfigDict(extra="forbid")
BatchMode = Literal["realtime", "economy", "auto"]
# The longest `deadline` a batch may ask for.
MAX_BATCH_DEADLINE_SECONDS = 24 * 3600
MAX_INTENT_CHARS = 4000
# Not blank: at least one character that is not whitespace (stated in the schema as `pattern`).
_NOT_BLANK = r"\S"


def _text(max_length: int) -> StringConstraints:
    """A non-blank string of at most `max_length` characters, as pydantic constraints (so the
    OpenAPI states exactly what is enforced: minLength, maxLength, pattern)."""
    return StringConstraints(min_length=1, max_length=max_length, pattern=_NOT_BLANK)


Intent = Annotated[str, _text(MAX_INTENT_CHARS)]
# What every submission's body is also held to, before it is parsed (`body_limit.py`); the
# OpenAPI carries this gateway's numbers as `x-max-json-elements` / `x-max-json-depth`.
_BODY_BOUNDS = (
    " The body holds at most MAX_JSON_ELEMENTS JSON values, nested at most MAX_JSON_DEPTH levels "
    "inside any field; no string may hold a lone surrogate and no number may be NaN or infinite."
)


class _Submission(BaseModel):
    model_config = _NO_EXTRA

    webhook_url: str | None = Field(
        default=None,
        max_length=2048,
        json_schema_extra={"format": "uri", "pattern": WEBHOOK_URL_PATTERN},
        description="POSTed the task object, signed (Standard Webhooks), when the job ends. "
        "http(s), reaching a public address unless its host is in WEBHOOK_ALLOWED_HOSTS "
        "(internal receivers the operator lists).",
    )


_CONTEXT = (
    "The capability catalogue (condition_types, action_types, triggers, variables; the shapes "
    "read: GET /schemas/aggregated-context and the README): an object whose sections are lists "
    "or objects, at most MAX_CATALOGUE_BYTES as compact JSON (`x-max-bytes`), nested at most 32 "
    "levels. Omitted: the tenant's cached context from NestJS is used."
)


# An example only (the OpenAPI's): the smallest catalogue that grounds a rule.
_CONTEXT_EXAMPLE: dict[str, Any] = {
    "triggers": [{"name": "ON_METRIC_UPDATE"}],
    "condition_types": [{"name": "threshold"}],
    "action_types": [{"name": "SEND_SLACK", "params": {"channel": "string"}}],
    "variables": [{"name": "$metrics.db_memory_percent", "type": "number"}],
}


class GenerateRequest(_Submission):
    __doc__ = "Generate workflow rules from one intent." + _BODY_BOUNDS

    user_intent: Intent = Field(
        examples=["Alert the team when database memory exceeds 85%"],
        description="What the workflow should do, in plain language (not blank).",
    )
    aggregated_context: AggregatedContext | None = Field(default=None, description=_CONTEXT)


class BatchRequest(_Submission):
    __doc__ = "Generate one rule set per intent." + _BODY_BOUNDS

    intents: list[Intent] = Field(
        min_length=1,
        description="One rule set is generated per intent; at most MAX_BATCH_INTENTS of them "
        "(`maxItems`), each not blank.",
    )
    aggregated_context: AggregatedContext | None = Field(default=None, description=_CONTEXT)
    deadline: float | None = Field(
        default=None,
        gt=0,
        le=MAX_BATCH_DEADLINE_SECONDS,
        allow_inf_nan=False,
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


class RefineRequest(_Submission):
    __doc__ = "Improve existing rules from feedback." + _BODY_BOUNDS

    current_rules: RulesDocumentField = Field(
        description="The workflow rules to improve: a workflow rules document (`workflow_name`, "
        "`trigger`, `rules` — the rules schema the providers are given); other top-level keys "
        "(NestJS metadata such as `id`) are kept as they are."
    )
    feedback: Annotated[str, _text(4000)] = Field(
        examples=["Add retry logic for failures", "Use slack instead of email; threshold 80%"],
        description="What to change, in plain language (not blank, at most 4000 characters). "
        "The result's `changes` lists what changed structurally.",
    )
    aggregated_context: AggregatedContext | None = Field(
        default=None,
        description=_CONTEXT + " The refined rules may use only what it offers.",
        examples=[_CONTEXT_EXAMPLE],
    )

    @field_validator("current_rules")
    @classmethod
    def _rules_document(cls, value: dict[str, Any]) -> dict[str, Any]:
        """The rules to refine must be a rules document (the catalogue checks come later).

        Checked by `RulesDocument`, the model the OpenAPI states for the field: top-level keys
        outside the schema (NestJS metadata such as `id`, `createdAt`) are tolerated; the
        document itself must hold."""
        try:
            RulesDocument.model_validate(value)
        except ValidationError as invalid:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc']) or '(root)'}: {error['msg']}"
                for error in invalid.errors()[:10]
            )
            raise ValueError(f"not a workflow rules document ({problems})") from None
        return value


class EvaluateRequest(_Submission):
    __doc__ = "Evaluate a condition against a context." + _BODY_BOUNDS

    condition: Annotated[str, _text(4096)] = Field(
        examples=["$metrics.cpu > 80 AND $status == running", "the database looks overloaded"],
        description="An expression in the condition language (`$variables`, comparisons, AND, "
        "OR, NOT), evaluated deterministically against `context`; plain English goes to the "
        "tenant's LLM instead (not blank, at most 4096 characters). A text that is clearly an "
        "expression — every character belongs to a token of the language and it holds a "
        "`$variable` or one of `== = != <> > >= < <= && ||` — must parse, or the answer is a 422 "
        "naming the column and what was expected (docs/conditions.md).",
    )
    context: dict[str, Any] = Field(description="The values the condition's $variables refer to.")

    @field_validator("condition")
    @classmethod
    def _well_formed_if_an_expression(cls, value: str) -> str:
        """Refuse now what the job would fail on: a malformed text that is clearly an expression
        (`eyeflow_worker/conditions/syntax_check.py`). Prose passes, for the LLM."""
        problem = malformed_expression(value)
        if problem is not None:
            raise _error("condition_syntax", f"not a valid condition: {problem.message}")
        return value
