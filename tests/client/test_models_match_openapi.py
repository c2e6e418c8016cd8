"""The client's models state what the gateway's OpenAPI states: the same fields, no field
required that the gateway may leave out, the same enumerations. The client imports nothing of
the fleet, so this is what keeps the two from drifting."""

from __future__ import annotations

from functools import cache
from typing import Any, get_args

import pytest
from pydantic import BaseModel

from api_gateway.main import create_app
from eyeflow_worker.client import models

# gateway schema component → the client model that reads it
PAIRS: dict[str, type[BaseModel]] = {
    "Accepted": models.Accepted,
    "TypedTaskView": models.Task,
    "RetriedTask": models.RetriedTask,
    "TaskError": models.TaskError,
    "Progress": models.Progress,
    "WebhookState": models.WebhookState,
    "ProviderBatchView": models.ProviderBatch,
    "RulesResult": models.RulesResult,
    "RefineResult": models.RefineResult,
    "FeedbackApplied": models.FeedbackApplied,
    "FeedbackNotApplied": models.FeedbackNotApplied,
    "EvaluateResult": models.EvaluateResult,
    "Usage": models.Usage,
    "BatchItem": models.BatchItem,
    "BatchResultsPage": models.BatchPage,
    "WorkflowRules": models.WorkflowRules,
    "Rule": models.Rule,
    "Action": models.Action,
    "RetryPolicy": models.RetryPolicy,
    "OnFailure": models.OnFailure,
    "FallbackAction": models.FallbackAction,
}
# Fields the client reads that the schema does not list (the models admit extra keys):
# `created` comes from the status code.
CLIENT_ONLY = {"Accepted": {"created"}}


@cache
def _schemas() -> dict[str, Any]:
    components: dict[str, Any] = create_app().openapi()["components"]["schemas"]
    return components


def _aliases(model: type[BaseModel]) -> dict[str, str]:
    return {name: field.alias or name for name, field in model.model_fields.items()}


@pytest.mark.parametrize("component", sorted(PAIRS))
def test_same_fields_and_nothing_more_required(component: str) -> None:
    schema = _schemas()[component]
    model = PAIRS[component]
    names = set(_aliases(model).values())
    required = {
        _aliases(model)[name] for name, field in model.model_fields.items() if field.is_required()
    }

    assert names - CLIENT_ONLY.get(component, set()) == set(schema["properties"])
    assert required <= set(schema.get("required", []))


def _enum(component: str, prop: str) -> set[str]:
    schema = _schemas()[component]["properties"][prop]
    for option in [schema, *schema.get("anyOf", [])]:
        if "enum" in option:
            return set(option["enum"])
        if "$ref" in option:
            return set(_schemas()[option["$ref"].rsplit("/", 1)[1]]["enum"])
    raise AssertionError(f"{component}.{prop} states no enumeration")


@pytest.mark.parametrize(
    ("component", "prop", "literal"),
    [
        ("TypedTaskView", "kind", models.Kind),
        ("TypedTaskView", "status", models.Status),
        ("TypedTaskView", "mode", models.BatchMode),
        ("BatchItem", "status", models.ItemStatus),
        ("EvaluateResult", "method", models.EvaluateResult.model_fields["method"].annotation),
    ],
)
def test_same_enumerations(component: str, prop: str, literal: Any) -> None:
    assert set(get_args(literal)) == _enum(component, prop)
