"""What each method sends, and the typed models it answers: results by kind, accessors that
refuse what a task does not have, batches paged through, the raw JSON kept."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from eyeflow_worker.client import (
    EvaluateResult,
    RefineResult,
    ResultUnavailable,
    RulesResult,
    Task,
)
from tests.client.stubs import RULES, TASK_ID, async_client, client, rules_result, task


def _accepted(kind: str, status: int = 202) -> httpx.Response:
    body = {
        "task_id": TASK_ID,
        "kind": kind,
        "status": "queued",
        "status_url": f"/api/tasks/{TASK_ID}",
    }
    return httpx.Response(status, json=body, headers={"Location": body["status_url"]})


class Recorder:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.response

    def body(self) -> Any:
        return json.loads(self.requests[-1].content)


def test_each_submission_sends_its_route_and_only_the_fields_given() -> None:
    gateway = Recorder(_accepted("generate"))
    c = client(gateway)

    c.submit_generate("Alert on CPU > 90%")
    plain = gateway.body()
    c.submit_generate(
        "x", aggregated_context={"triggers": []}, webhook_url="https://h/x", idempotency_key="k-1"
    )
    full, full_headers = gateway.body(), gateway.requests[-1].headers
    c.submit_batch(["a", "b"], mode="economy", deadline=3600)
    batch = gateway.body()
    c.submit_refine(RULES, "use slack")
    refine = gateway.body()
    c.submit_evaluate("$metrics.cpu > 80", {"metrics": {"cpu": 90}})
    evaluate = gateway.body()

    paths = [(r.method, r.url.path) for r in gateway.requests]
    assert paths == [
        ("POST", "/api/rules/generate"),
        ("POST", "/api/rules/generate"),
        ("POST", "/api/rules/generate-batch"),
        ("POST", "/api/rules/refine"),
        ("POST", "/api/conditions/evaluate"),
    ]
    assert plain == {"user_intent": "Alert on CPU > 90%"}
    assert full == {
        "user_intent": "x",
        "aggregated_context": {"triggers": []},
        "webhook_url": "https://h/x",
    }
    assert full_headers["idempotency-key"] == "k-1"
    assert "idempotency-key" not in gateway.requests[0].headers
    assert batch == {"intents": ["a", "b"], "mode": "economy", "deadline": 3600}
    assert refine == {"current_rules": RULES, "feedback": "use slack"}
    assert evaluate == {"condition": "$metrics.cpu > 80", "context": {"metrics": {"cpu": 90}}}


def test_accepted_says_whether_the_job_is_new() -> None:
    new = client(Recorder(_accepted("batch", 202))).submit_batch(["a"])
    repeat = client(Recorder(_accepted("batch", 200))).submit_batch(["a"])

    assert (new.created, repeat.created) == (True, False)
    assert new.task_id == TASK_ID
    assert "created" not in new.to_json()  # not part of the body


@pytest.mark.parametrize(
    ("kind", "result", "model"),
    [
        ("generate", rules_result(), RulesResult),
        ("refine", rules_result(changes={"rules": {"modified": ["check-memory"]}}), RefineResult),
        (
            "evaluate",
            {"result": True, "method": "deterministic", "explanation": "90 > 80", "missing": []},
            EvaluateResult,
        ),
    ],
)
def test_the_result_is_typed_by_the_tasks_kind(
    kind: str, result: dict[str, Any], model: type
) -> None:
    parsed = Task.model_validate(task(kind=kind, result=result))

    assert type(parsed.result) is model
    assert parsed.to_json() == task(kind=kind, result=result)  # nothing lost, `else` as in JSON


def test_accessors_answer_the_typed_result_or_say_why_not() -> None:
    generated = Task.model_validate(task(result=rules_result()))
    failed = Task.model_validate(
        task(
            status="failed",
            error={"code": "provider_unavailable", "message": "Anthropic is overloaded"},
        )
    )
    running = Task.model_validate(task(status="running"))

    rule = generated.rules_result().workflow_rules.rules[0]
    assert rule.condition == "$metrics.db_memory_percent > 85"
    assert rule.else_ is not None
    assert rule.else_[0].action == "LOG"
    with pytest.raises(ResultUnavailable, match="is a generate task, not evaluate"):
        generated.evaluate_result()
    with pytest.raises(ResultUnavailable, match="failed: provider_unavailable: Anthropic") as e:
        failed.rules_result()
    assert e.value.error is not None
    assert e.value.error.code == "provider_unavailable"
    with pytest.raises(ResultUnavailable, match=r"is running \(not finished yet\)"):
        running.rules_result()


def test_unknown_fields_are_kept() -> None:
    parsed = Task.model_validate(task(result=rules_result(applied=["threshold"]), future=1))

    assert parsed.to_json()["future"] == 1
    assert parsed.rules_result().to_json()["applied"] == ["threshold"]


def _pages(request: httpx.Request) -> httpx.Response:
    """A batch of 7 items, every third failed; `status` filters as the gateway does."""
    offset = int(request.url.params["offset"])
    limit = int(request.url.params["limit"])
    wanted = request.url.params.get("status")
    items = [
        {
            "index": i,
            "intent": f"intent {i}",
            "status": "failed" if i % 3 == 2 else "succeeded",
            **(
                {"error": {"code": "invalid_llm_output", "message": "m"}}
                if i % 3 == 2
                else {"workflow_rules": RULES, "cost_usd": 0.5}
            ),
        }
        for i in range(7)
    ]
    matching = [item for item in items if wanted is None or item["status"] == wanted]
    page = matching[offset : offset + limit]
    next_offset = offset + limit if offset + limit < len(matching) else None
    body = {
        "task_id": TASK_ID,
        "offset": offset,
        "limit": limit,
        "total": 7,
        "items": page,
        "next_offset": next_offset,
    }
    return httpx.Response(200, json=body)


def test_iter_results_pages_through_the_whole_batch() -> None:
    c = client(_pages)

    every = list(c.iter_results(TASK_ID, page_size=3))
    failed = list(c.iter_results(TASK_ID, status="failed", page_size=1))

    assert [item.index for item in every] == list(range(7))
    assert every[0].workflow_rules is not None
    assert every[0].workflow_rules.rules[0].name == "check-memory"
    assert every[0].cost_usd == 0.5
    assert [item.index for item in failed] == [2, 5]
    assert failed[0].error is not None
    assert failed[0].error.code == "invalid_llm_output"


def test_iter_results_asks_at_most_the_gateways_page_size() -> None:
    gateway = Recorder(
        httpx.Response(
            200,
            json={
                "task_id": TASK_ID,
                "offset": 0,
                "limit": 500,
                "total": 0,
                "items": [],
                "next_offset": None,
            },
        )
    )

    assert list(client(gateway).iter_results(TASK_ID, page_size=10_000)) == []
    assert gateway.requests[0].url.params["limit"] == "500"


def test_cancel_and_retry() -> None:
    gateway = Recorder(
        httpx.Response(200, json={**task(kind="batch", status="running"), "requeued": 4})
    )
    c = client(gateway)

    cancelled = c.cancel(TASK_ID)
    retried = c.retry(TASK_ID)

    assert [(r.method, r.url.path) for r in gateway.requests] == [
        ("DELETE", f"/api/tasks/{TASK_ID}"),
        ("POST", f"/api/tasks/{TASK_ID}/retry"),
    ]
    assert cancelled.kind == "batch"
    assert retried.requeued == 4


def test_the_async_client_submits_and_pages_the_same_way() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return _accepted("batch")
        return _pages(request)

    async def run() -> tuple[str, list[int]]:
        async with async_client(handle) as c:
            accepted = await c.submit_batch(["a"], idempotency_key="k")
            indexes = [item.index async for item in c.iter_results(TASK_ID, page_size=2)]
            return accepted.kind, indexes

    assert asyncio.run(run()) == ("batch", list(range(7)))
