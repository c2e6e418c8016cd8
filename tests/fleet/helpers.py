"""Small helpers shared by the fleet tests."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

TERMINAL = {"succeeded", "failed", "cancelled"}


def wait_for_task(
    client: TestClient, task_id: str, *, headers: dict[str, str] | None = None, timeout: float = 90
) -> dict[str, Any]:
    """Long-poll (`?wait=`) until the task is terminal; fail the test when it never ends."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(f"/api/tasks/{task_id}", params={"wait": 20}, headers=headers or {})
        assert response.status_code in (200, 202), response.text
        body: dict[str, Any] = response.json()
        if body["status"] in TERMINAL:
            return body
    raise AssertionError(f"task {task_id} did not finish within {timeout}s")
