"""The task object is built once, from the record, as the model the gateway answers with and the
webhook body carries: optional parts only when they apply, a batch's progress from its counts."""

from __future__ import annotations

import json

from eyeflow_worker.core.task_view import TaskView, results_path, status_path, task_view

RECORD = {
    "tenant": "acme",
    "kind": "generate",
    "status": "succeeded",
    "created_at": "2026-12-01T07:00:00.000Z",
    "started_at": "2026-12-01T07:00:00.100Z",
    "finished_at": "2026-12-01T07:00:01.000Z",
    "attempts": "1",
    "result": json.dumps({"workflow_rules": {"rules": []}, "provider": "offline"}),
}


def test_a_finished_job_without_webhook() -> None:
    view = task_view("t-1", RECORD).to_json()
    assert view == {
        "task_id": "t-1",
        "kind": "generate",
        "status": "succeeded",
        "created_at": "2026-12-01T07:00:00.000Z",
        "started_at": "2026-12-01T07:00:00.100Z",
        "finished_at": "2026-12-01T07:00:01.000Z",
        "attempts": 1,
        "progress": {"total": 1, "succeeded": 1, "failed": 0, "cancelled": 0},
        "result": {"workflow_rules": {"rules": []}, "provider": "offline"},
        "error": None,
    }
    assert TaskView.model_validate(view) == task_view("t-1", RECORD)


def test_a_cancelled_batch_with_a_webhook() -> None:
    record = {
        "kind": "batch",
        "status": "cancelled",
        "total": "5",
        "succeeded": "2",
        "failed": "1",
        "error": json.dumps({"code": "cancelled", "message": "Cancelled", "details": None}),
        "webhook_url": "http://127.0.0.1:9/hook",
    }
    view = task_view("b-1", record).to_json()
    assert view["progress"] == {"total": 5, "succeeded": 2, "failed": 1, "cancelled": 2}
    assert view["results_url"] == results_path("b-1") == "/api/tasks/b-1/results"
    assert view["webhook"] == {"status": "pending", "attempts": 0}
    assert view["error"]["code"] == "cancelled"
    assert view["started_at"] is None  # present, null: the shape never changes


def test_the_url_layout() -> None:
    assert status_path("x") == "/api/tasks/x"
