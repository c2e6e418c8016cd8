"""HTTP failures become one CliError with a message to act on: the client translates each once
(`eyeflow_worker.client.boundary`), the command adds its hints (`eyeflow_worker.cli_errors`)."""

from __future__ import annotations

import socket

import httpx
import pytest
from typer.testing import CliRunner

from eyeflow_worker.cli import app
from eyeflow_worker.cli_errors import CliError, cli_error
from eyeflow_worker.client import EyeflowClient, EyeflowError
from eyeflow_worker.client.boundary import Redactor, Where, error_for


def _error(code: int, body: object, headers: dict[str, str] | None = None) -> CliError:
    response = httpx.Response(code, json=body, headers=headers)
    return cli_error(error_for(response, Where("http://gw", "acme", "x"), Redactor(None)))


@pytest.mark.parametrize(
    ("code", "body", "expected"),
    [
        (401, {"detail": "Invalid token"}, "token refused — set EYEFLOW_TOKEN"),
        (404, {"detail": "Task not found"}, "x not found for tenant 'acme' (Task not found)"),
        (409, {"detail": "Task already succeeded"}, "conflict on x: Task already succeeded"),
        (413, {"detail": "too large"}, "larger than the gateway accepts (413"),
        (
            422,
            {"detail": [{"loc": ["body", "intents"], "msg": "at most 5000 intents"}]},
            "(422): intents: at most 5000 intents",
        ),
        (503, {"detail": "Broker unavailable"}, "cannot reach Redis/the broker (503)"),
    ],
)
def test_each_status_has_its_message(code: int, body: object, expected: str) -> None:
    error = _error(code, body)
    assert expected in error.message
    assert error.exit_code == 2
    assert error.status == code


def test_422_names_the_fields_and_503_is_retryable_with_retry_after() -> None:
    unprocessable = _error(422, {"detail": [{"loc": ["body", "mode"], "msg": "extra"}]})
    unavailable = _error(503, {"detail": "down"}, {"Retry-After": "5"})

    assert unprocessable.fields == ("mode",)
    assert unavailable.retryable
    assert "retry after 5 s" in unavailable.message


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_connection_refused_asks_whether_the_gateway_is_up(runner: CliRunner) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"

    result = runner.invoke(app, ["--url", url, "batch", "status", "some-id"])

    assert result.exit_code == 2
    assert f"cannot connect to the gateway at {url}: is the gateway up? (make up)" in (
        result.stderr
    )


def test_the_token_goes_in_the_authorization_header_only() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(401, json={"detail": "no"})

    client = EyeflowClient(
        "http://gw", token="SECRET-1", tenant="t1", transport=httpx.MockTransport(handle)
    )
    with pytest.raises(EyeflowError) as raised:
        client.get_task("abc")

    assert "SECRET-1" not in cli_error(raised.value).message
    assert seen[0].headers["authorization"] == "Bearer SECRET-1"
    assert seen[0].headers["x-user-id"] == "t1"
