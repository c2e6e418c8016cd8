"""The shape of a workflow-rules document, as pydantic models and as JSON Schema.

The models are strict (`extra="forbid"`): an invented field is a mistake the repair loop should
show the model, not something to drop quietly. The same models produce the JSON Schema handed
to providers for structured output, so the prompt, the provider and the validator agree.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

_STRICT = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class RetryPolicy(BaseModel):
    """How often an action is retried before its `on_failure` handling applies."""

    model_config = _STRICT

    max_attempts: int = Field(ge=1, le=10, description="Total tries, including the first.")
    backoff_seconds: float = Field(
        ge=0, le=3600, description="Wait before the first retry; doubled after each retry."
    )


class FallbackAction(BaseModel):
    """An action run when another action finally fails (no retry/on_failure of its own)."""

    model_config = _STRICT

    action: str = Field(min_length=1, description="An action type name from the catalogue.")
    params: dict[str, Any] = Field(default_factory=dict)


class OnFailure(BaseModel):
    """What happens when an action still fails after its retries."""

    model_config = _STRICT

    strategy: Literal["continue", "stop_workflow", "run_actions"] = Field(
        description="continue with the next action, stop the workflow, or run `actions`."
    )
    actions: list[FallbackAction] = Field(
        default_factory=list, description="Required (non-empty) when strategy is run_actions."
    )

    @model_validator(mode="after")
    def _actions_match_strategy(self) -> OnFailure:
        if self.strategy == "run_actions" and not self.actions:
            raise ValueError("strategy 'run_actions' needs at least one entry in 'actions'")
        if self.strategy != "run_actions" and self.actions:
            raise ValueError(
                f"'actions' is only allowed with strategy 'run_actions', not {self.strategy!r}"
            )
        return self


class Action(BaseModel):
    model_config = _STRICT

    action: str = Field(min_length=1, description="An action type name from the catalogue.")
    params: dict[str, Any] = Field(default_factory=dict)
    retry: RetryPolicy | None = None
    on_failure: OnFailure | None = None


class Rule(BaseModel):
    model_config = _STRICT

    name: str = Field(min_length=1, max_length=100, description="Unique within the workflow.")
    description: str | None = None
    condition: str = Field(min_length=1, description="An expression in the condition language.")
    then: list[Action] = Field(min_length=1, description="Run in order when the condition holds.")
    # `else` is a Python keyword, hence the alias; JSON always says "else".
    else_: list[Action] | None = Field(
        default=None, alias="else", description="Run in order when the condition does not hold."
    )


class WorkflowRules(BaseModel):
    model_config = _STRICT

    workflow_name: str = Field(min_length=1, max_length=120, description="kebab-case name.")
    description: str | None = None
    trigger: str = Field(min_length=1, description="A trigger name from the catalogue.")
    rules: list[Rule] = Field(min_length=1)

    def located_actions(self) -> Iterator[tuple[str, Action | FallbackAction]]:
        """Every action with where it stands (`rules[0].then[1]`, `….on_failure.actions[0]`),
        as validation errors name them."""
        for i, rule in enumerate(self.rules):
            for branch, actions in (("then", rule.then), ("else", rule.else_ or [])):
                for j, action in enumerate(actions):
                    where = f"rules[{i}].{branch}[{j}]"
                    yield where, action
                    if action.on_failure is not None:
                        for k, fallback in enumerate(action.on_failure.actions):
                            yield f"{where}.on_failure.actions[{k}]", fallback

    def to_json_dict(self) -> dict[str, Any]:
        """The document as plain JSON data, with `else` spelled as in JSON and nulls left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    return WorkflowRules.model_json_schema(by_alias=True, mode="validation")


def shared_json_schema() -> Mapping[str, Any]:
    """The schema without a copy, for read-only use on hot paths (every LLM request carries it;
    providers copy before they change anything)."""
    return _schema()


def workflow_rules_json_schema() -> dict[str, Any]:
    """JSON Schema of a workflow-rules document (a fresh copy: callers may mutate it)."""
    return copy.deepcopy(_schema())
