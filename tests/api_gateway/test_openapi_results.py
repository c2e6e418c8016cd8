"""The task object's `result` is typed per kind in the OpenAPI, and what the gateway really
answers validates against those models: results made by the worker's own functions, stored as a
worker stores them, read back through GET /api/tasks/{id}."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from api_gateway.openapi_models import RESULT_BY_KIND, ConflictBody, TypedTaskView
from eyeflow_worker.evaluation import evaluate_deterministically
from eyeflow_worker.rules.service import generate_rules, refine_rules
from tests.api_gateway.submit_helpers import Gateway, gateway
from tests.rules.scripted import ScriptedProvider, rules_doc

REFINED = rules_doc(workflow_name="database-memory-alert-80")


def _finish(gw: Gateway, path: str, body: dict[str, Any], result: Any) -> dict[str, Any]:
    """Submit `body`, store `result` as the worker would, and read the task back."""
    accepted = gw.post(path, body)
    assert accepted.status_code == 202, accepted.text
    task_id = accepted.json()["task_id"]
    jobs = gw.app.state.gateway.jobs
    if result is not None:
        assert jobs.start(task_id)
        assert jobs.succeed(task_id, result)
    answer = gw.http.get(f"/api/tasks/{task_id}", headers={"X-User-ID": gw.tenant})
    assert answer.status_code == 200, answer.text
    view: dict[str, Any] = answer.json()
    return view


def _check(view: dict[str, Any], kind_model: type[BaseModel] | None) -> None:
    TypedTaskView.model_validate(view)  # the union admits it
    if kind_model is None:
        assert view["result"] is None
    else:
        kind_model.model_validate(view["result"])  # and the kind's own model does


def test_real_results_validate_against_their_kinds_models() -> None:
    provider = ScriptedProvider([json.dumps(rules_doc()), json.dumps(REFINED)])
    generated = generate_rules(provider, "Alert on DB memory", None, max_repair_attempts=0)
    refined = refine_rules(provider, rules_doc(), "rename it", None, max_repair_attempts=0)
    evaluated = evaluate_deterministically("$metrics.cpu > 80", {"metrics": {"cpu": 91}})
    cases = [
        ("generate", "/api/rules/generate", {"user_intent": "Alert me"}, generated),
        ("refine", "/api/rules/refine", {"current_rules": rules_doc(), "feedback": "x"}, refined),
        ("evaluate", "/api/conditions/evaluate", {"condition": "$a", "context": {}}, evaluated),
        ("batch", "/api/rules/generate-batch", {"intents": ["Alert me"]}, None),
    ]
    with gateway() as gw:
        for kind, path, body, result in cases:
            view = _finish(gw, path, body, result)
            assert view["kind"] == kind
            if result is not None:
                assert view["result"] == json.loads(json.dumps(result))  # sent unchanged
            _check(view, RESULT_BY_KIND[kind])


def test_a_conflict_validates_against_its_model() -> None:
    with gateway() as gw:
        evaluated = evaluate_deterministically("$a > 1", {"a": 2})
        body = {"condition": "$a", "context": {}}
        view = _finish(gw, "/api/conditions/evaluate", body, evaluated)
        answer = gw.http.delete(f"/api/tasks/{view['task_id']}", headers={"X-User-ID": gw.tenant})
    assert answer.status_code == 409
    ConflictBody.model_validate(answer.json())


def test_the_schema_carries_the_rules_inside_the_result() -> None:
    with gateway() as gw:
        spec = gw.http.get("/openapi.json").json()
    models = spec["components"]["schemas"]
    result = models["TypedTaskView"]["properties"]["result"]
    refs = {option.get("$ref", "").rsplit("/", 1)[-1] for option in result["anyOf"]}
    assert refs == {"RulesResult", "RefineResult", "EvaluateResult", ""}  # "" is the null
    rules = models["RulesResult"]["properties"]["workflow_rules"]
    assert rules["$ref"].endswith("/WorkflowRules")
    assert "else" in models["Rule"]["properties"]  # the JSON spelling, not `else_`
    task = spec["paths"]["/api/tasks/{task_id}"]["get"]["responses"]["200"]
    assert task["content"]["application/json"]["schema"]["$ref"].endswith("/TypedTaskView")


def test_the_fields_that_need_it_have_a_description_and_an_example() -> None:
    with gateway() as gw:
        models = gw.http.get("/openapi.json").json()["components"]["schemas"]
    fields = [
        models["EvaluateRequest"]["properties"]["condition"],
        models["RefineRequest"]["properties"]["feedback"],
        models["RefineRequest"]["properties"]["aggregated_context"],
    ]
    for field in fields:
        assert field.get("description"), field
        assert field.get("examples"), field
