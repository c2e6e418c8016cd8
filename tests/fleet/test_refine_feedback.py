"""Refine through the gateway and a real worker (offline provider): the result says which parts
of the feedback were applied and which were not, and why; the OpenAPI states those fields."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.fleet.helpers import wait_for_task

SEED_INTENT = "Alert the team when database memory exceeds 85%"


def test_refine_reports_the_feedback_it_applied_and_what_it_did_not(client: TestClient) -> None:
    generated = client.post(
        "/api/rules/generate", params={"wait": 30}, json={"user_intent": SEED_INTENT}
    ).json()["result"]["workflow_rules"]

    submitted = client.post(
        "/api/rules/refine",
        json={
            "current_rules": generated,
            "feedback": "use slack instead of email and lower the threshold to 80%; "
            "use teams for the escalations",
        },
    )
    assert submitted.status_code == 202, submitted.text
    task = wait_for_task(client, submitted.json()["task_id"])

    assert task["status"] == "succeeded", task
    result = task["result"]
    rule = result["workflow_rules"]["rules"][0]
    assert rule["then"][0]["params"]["channel"] == "slack"
    assert rule["condition"] == "$metrics.db_memory_percent > 80"
    assert [a["clause"] for a in result["feedback_applied"]] == [
        "use slack instead of email",
        "lower the threshold to 80%",
    ]
    assert result["feedback_not_applied"] == [
        {
            "clause": "use teams for the escalations",
            "reason": "the catalogue offers no 'teams' channel "
            "(channels it offers: email, slack, sms)",
        }
    ]
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert {"feedback_applied", "feedback_not_applied"} <= set(
        schemas["RefineResult"]["properties"]
    )
