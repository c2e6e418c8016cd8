"""Webhooks reach a loopback receiver, signed per Standard Webhooks, retried after failures."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from eyeflow_worker.core.settings import Settings


class Receiver:
    """Records every POST; answers with the queued status codes, then 204."""

    def __init__(self) -> None:
        self.deliveries: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.deliveries.put(({k.lower(): v for k, v in self.headers.items()}, body))
                code = receiver.statuses.pop(0) if receiver.statuses else 204
                self.send_response(code)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/eyeflow"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next_delivery(self, timeout: float = 60) -> tuple[dict[str, str], bytes]:
        return self.deliveries.get(timeout=timeout)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def test_a_finished_job_posts_a_signed_task_object(
    client: TestClient, receiver: Receiver, fleet_settings: Settings
) -> None:
    task_id = client.post(
        "/api/rules/generate",
        json={"user_intent": "Alert when disk usage exceeds 90%", "webhook_url": receiver.url},
    ).json()["task_id"]

    headers, body = receiver.next_delivery()

    verified = Webhook(fleet_settings.webhook_signing_secret).verify(body, headers)
    assert verified["task_id"] == task_id
    assert verified["status"] == "succeeded"
    current = _wait_for_webhook_state(client, task_id, "delivered")
    assert current["webhook"]["attempts"] == 1
    assert {**verified, "webhook": None} == {**current, "webhook": None}
    assert headers["webhook-signature"].startswith("v1,")
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "d3Jvbmctc2VjcmV0").verify(body, headers)


def test_delivery_is_retried_after_errors_with_the_same_message_id(
    client: TestClient, receiver: Receiver
) -> None:
    receiver.statuses = [500, 503]
    task_id = client.post(
        "/api/conditions/evaluate",
        json={"condition": "$x > 1", "context": {"x": 2}, "webhook_url": receiver.url},
    ).json()["task_id"]

    attempts = [receiver.next_delivery() for _ in range(3)]

    ids = {headers["webhook-id"] for headers, _ in attempts}
    assert len(ids) == 1
    assert json.loads(attempts[-1][1])["result"]["result"] is True
    assert _wait_for_webhook_state(client, task_id, "delivered")["webhook"]["attempts"] == 3


def test_a_receiver_that_never_accepts_is_given_up_on_visibly(
    client: TestClient, receiver: Receiver
) -> None:
    receiver.statuses = [500] * 10
    task_id = client.post(
        "/api/conditions/evaluate",
        json={"condition": "$x > 1", "context": {"x": 0}, "webhook_url": receiver.url},
    ).json()["task_id"]

    view = _wait_for_webhook_state(client, task_id, "failed")

    assert view["webhook"]["attempts"] == 4  # WEBHOOK_MAX_ATTEMPTS in the fleet environment
    assert "HTTP 500" in view["webhook"]["last_error"]
    assert receiver.deliveries.qsize() == 4
    assert view["status"] == "succeeded"  # the job itself is not affected


def _wait_for_webhook_state(client: TestClient, task_id: str, wanted: str) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        view = client.get(f"/api/tasks/{task_id}").json()
        if view["webhook"]["status"] == wanted:
            return view
        time.sleep(0.05)
    raise AssertionError(f"webhook never reached {wanted!r}: {view['webhook']}")


def test_a_cancelled_job_is_delivered_too(
    fleet_settings: Settings, receiver: Receiver, fleet: None
) -> None:
    from api_gateway.main import create_app

    parked = fleet_settings.model_copy(update={"queue_interactive": "eyeflow.test.parked"})
    with TestClient(create_app(parked)) as gateway:
        task_id = gateway.post(
            "/api/rules/generate", json={"user_intent": "Page on-call", "webhook_url": receiver.url}
        ).json()["task_id"]
        gateway.delete(f"/api/tasks/{task_id}")

    _headers, body = receiver.next_delivery()
    assert json.loads(body)["status"] == "cancelled"
    assert json.loads(body)["task_id"] == task_id
