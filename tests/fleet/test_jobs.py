"""The four job kinds end to end: gateway → Redis broker → real Celery worker → polling."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.fleet.helpers import wait_for_task

SEED_INTENT = "Alert the team when database memory exceeds 85%"


def test_generate_answers_202_then_rules_from_the_offline_provider(client: TestClient) -> None:
    response = client.post("/api/rules/generate", json={"user_intent": SEED_INTENT})

    assert response.status_code == 202
    accepted = response.json()
    assert accepted["kind"] == "generate"
    assert accepted["status"] == "queued"
    assert accepted["status_url"] == f"/api/tasks/{accepted['task_id']}"
    assert response.headers["location"] == accepted["status_url"]

    task = wait_for_task(client, accepted["task_id"])
    assert task["status"] == "succeeded", task
    assert task["attempts"] == 1
    assert task["progress"] == {"total": 1, "succeeded": 1, "failed": 0, "cancelled": 0}
    assert task["created_at"] <= task["started_at"] <= task["finished_at"]
    result = task["result"]
    rules = result["workflow_rules"]
    assert rules["workflow_name"]
    assert rules["trigger"]
    assert rules["rules"]
    first = rules["rules"][0]
    assert first["condition"]
    assert first["then"][0]["action"]
    assert result["provider"] == "offline"
    assert isinstance(result["tokens_used"], int)
    assert set(result["usage"]) >= {"input_tokens", "output_tokens"}
    assert isinstance(result["generation_time_ms"], int)
    assert task["error"] is None


def test_generate_with_wait_returns_the_finished_task_in_one_call(client: TestClient) -> None:
    response = client.post(
        "/api/rules/generate",
        params={"wait": 30},
        json={"user_intent": "Notify ops when CPU is above 90%"},
    )

    assert response.status_code == 200
    assert response.json()["status"] == "succeeded"
    assert response.json()["result"]["workflow_rules"]["rules"]


def test_evaluate_is_deterministic_and_reports_missing_variables(client: TestClient) -> None:
    body = {
        "condition": "$metrics.cpu > 80 AND $status == running OR $metrics.mem > 90",
        "context": {"metrics": {"cpu": 91.5}, "status": "running"},
    }
    response = client.post("/api/conditions/evaluate", params={"wait": 30}, json=body)

    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert result["result"] is True
    assert result["method"] == "deterministic"
    assert "91.5" in result["explanation"]

    missing = client.post(
        "/api/conditions/evaluate",
        params={"wait": 30},
        json={"condition": "$metrics.mem > 90", "context": {"metrics": {}}},
    ).json()["result"]
    assert missing["result"] is False
    assert missing["missing"] == ["$metrics.mem"]


def test_plain_english_condition_on_the_offline_provider_fails_honestly(client: TestClient) -> None:
    response = client.post(
        "/api/conditions/evaluate",
        params={"wait": 30},
        json={"condition": "the database looks overloaded", "context": {"cpu": 99}},
    )

    task = response.json()
    assert task["status"] == "failed"
    assert task["error"]["code"] == "provider_bad_request"
    assert "offline" in task["error"]["message"]


def test_refine_returns_new_rules_and_a_structural_diff(client: TestClient) -> None:
    generated = client.post(
        "/api/rules/generate", params={"wait": 30}, json={"user_intent": SEED_INTENT}
    ).json()["result"]["workflow_rules"]

    response = client.post(
        "/api/rules/refine",
        params={"wait": 30},
        json={"current_rules": generated, "feedback": "Add retry logic for failures"},
    )

    task = response.json()
    assert task["status"] == "succeeded", task
    assert task["result"]["workflow_rules"]["rules"]
    assert "changes" in task["result"]


def test_a_bad_condition_fails_with_the_parse_position(client: TestClient) -> None:
    response = client.post(
        "/api/conditions/evaluate",
        params={"wait": 30},
        # Not clearly an expression ('?' begins no token), so the gateway lets it through and
        # the job, reading it as one (it holds '>'), refuses it; `$metrics.cpu > (80 AND` is a
        # 422 at submission (tests/conditions/test_refused_at_submission.py).
        json={"condition": "$metrics.cpu > 80?", "context": {}},
    )

    task = response.json()
    assert task["status"] == "failed"
    assert task["error"]["code"] == "invalid_input"
    assert task["error"]["details"]["column"] >= 1
