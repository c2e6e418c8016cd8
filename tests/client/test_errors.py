"""Every way a request can fail becomes one `EyeflowError` subclass, translated once at the
boundary, and the token is in no message, repr or exception context."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from eyeflow_worker.client import (
    AuthError,
    Conflict,
    EyeflowError,
    Forbidden,
    GatewayError,
    InvalidRequest,
    NetworkError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthenticated,
    Unavailable,
    UnexpectedResponse,
)
from tests.client.stubs import TASK_ID, TOKEN, answer, async_client, client, task


def _raised(status: int, body: Any, headers: dict[str, str] | None = None) -> EyeflowError:
    with pytest.raises(EyeflowError) as raised:
        client(answer(status, body, headers)).get_task(TASK_ID)
    return raised.value


@pytest.mark.parametrize(
    ("status", "kind", "retryable", "text"),
    [
        (401, Unauthenticated, False, "refused the token (401): Invalid or missing token"),
        (403, Forbidden, False, "forbidden for tenant 'acme': Invalid or missing token"),
        (404, NotFound, False, f"task {TASK_ID} not found for tenant 'acme'"),
        (413, PayloadTooLarge, False, "larger than the gateway accepts (413, MAX_BODY_BYTES)"),
        (500, GatewayError, True, "the gateway answered 500 for task"),
        (502, Unavailable, True, "the gateway is unavailable (502)"),
        (503, Unavailable, True, "cannot reach Redis/the broker (503)"),
    ],
)
def test_each_status_is_its_own_error(
    status: int, kind: type[GatewayError], retryable: bool, text: str
) -> None:
    error = _raised(status, {"detail": "Invalid or missing token"})

    assert type(error) is kind
    assert isinstance(error, GatewayError)
    assert error.status == status
    assert error.retryable is retryable
    assert text in error.message
    assert isinstance(error, AuthError) is (status in (401, 403))


def test_422_carries_each_field_and_reason() -> None:
    detail = [
        {
            "loc": ["body", "intents", 3],
            "msg": "String should have at least 1 character",
            "type": "string_too_short",
        },
        {
            "loc": ["body", "mode"],
            "msg": "Input should be 'realtime', 'economy' or 'auto'",
            "type": "literal_error",
        },
        {"loc": ["header", "X-User-ID"], "msg": "bad tenant", "type": "value_error"},
    ]

    error = _raised(422, {"detail": detail})

    assert isinstance(error, InvalidRequest)
    assert error.fields == ("intents", "mode", "X-User-ID")
    assert [issue.field for issue in error.issues] == ["intents.3", "mode", "X-User-ID"]
    assert error.issues[0].location == ("body", "intents", 3)
    assert error.issues[0].type == "string_too_short"
    assert "(422): intents.3: String should have at least 1 character; mode:" in error.message


def test_429_and_503_say_when_to_retry() -> None:
    limited = _raised(429, {"detail": "Rate limit exceeded"}, {"Retry-After": "7"})
    down = _raised(503, {"detail": "Broker unavailable"}, {"Retry-After": "2.5"})
    unsaid = _raised(503, {"detail": "Broker unavailable"})

    assert isinstance(limited, RateLimited)
    assert limited.retry_after == 7.0
    assert limited.retryable
    assert "retry after 7 s" in limited.message
    assert isinstance(down, Unavailable)
    assert down.retry_after == 2.5
    assert isinstance(unsaid, Unavailable)
    assert unsaid.retry_after is None


def test_409_carries_the_task_as_it_stands() -> None:
    body = {"detail": "Task already succeeded", "task": task(status="succeeded")}

    error = _raised(409, body)

    assert isinstance(error, Conflict)
    assert error.task is not None
    assert error.task.status == "succeeded"
    assert "conflict on task" in error.message
    assert "Task already succeeded" in error.message


def test_a_409_without_a_task_still_is_a_conflict() -> None:
    error = _raised(409, {"detail": "Idempotency-Key reused with a different body"})

    assert isinstance(error, Conflict)
    assert error.task is None
    assert (error.retryable, error.retry_after) == (False, None)  # final: another body


def test_a_409_still_being_processed_is_retryable_after_its_retry_after() -> None:
    detail = "A request with this Idempotency-Key is still being processed; retry shortly"
    error = _raised(409, {"detail": detail}, {"Retry-After": "1"})

    assert isinstance(error, Conflict)
    assert (error.retryable, error.retry_after) == (True, 1.0)
    assert "retry after 1 s" in error.message


@pytest.mark.parametrize(
    ("response", "text"),
    [
        (httpx.Response(200, text="<html>proxy</html>"), "200 with a body that is not a JSON"),
        (httpx.Response(200, json=["not", "an", "object"]), "not a JSON object"),
        (httpx.Response(200, json={"task_id": TASK_ID}), "not a Task (kind: Field required"),
        (httpx.Response(502, text="Bad Gateway"), "unavailable (502): Bad Gateway"),
    ],
)
def test_an_answer_outside_the_contract_is_unexpected(response: httpx.Response, text: str) -> None:
    with pytest.raises(EyeflowError) as raised:
        client(lambda _request: response).get_task(TASK_ID)

    assert text in raised.value.message
    if response.status_code == 200:
        assert isinstance(raised.value, UnexpectedResponse)


@pytest.mark.parametrize(
    ("failure", "reason", "text"),
    [
        (httpx.ConnectError("refused"), "connect", "cannot connect to the gateway at"),
        (httpx.ReadTimeout("slow"), "timeout", "did not answer in time"),
        (httpx.RemoteProtocolError("cut"), "broken", "failed (RemoteProtocolError)"),
    ],
)
def test_transport_failures_are_network_errors(
    failure: httpx.HTTPError, reason: str, text: str
) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        failure.request = request  # as httpx sets it: the request, Authorization header and all
        raise failure

    with pytest.raises(NetworkError) as raised:
        client(handle).get_task(TASK_ID)

    error = raised.value
    assert error.reason == reason
    assert error.retryable
    assert text in error.message
    assert error.url == "http://gw.test"
    # Not chained to the httpx error, whose request holds the token.
    assert error.__context__ is None
    assert error.__cause__ is None


def test_the_token_is_sent_only_as_the_bearer_header() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(401, json={"detail": "Invalid or missing token"})

    c = client(handle)
    with pytest.raises(Unauthenticated) as raised:
        c.get_task(TASK_ID)

    assert seen[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert seen[0].headers["x-user-id"] == "acme"
    assert TOKEN not in seen[0].url.query.decode()
    for text in (
        raised.value.message,
        str(raised.value),
        repr(raised.value),
        repr(c),
        repr(c.settings),
    ):
        assert TOKEN not in text


def test_an_answer_that_echoes_the_token_is_masked() -> None:
    detail = [{"loc": ["header", "Authorization"], "msg": f"bad {TOKEN}", "input": TOKEN}]

    unprocessable = _raised(422, {"detail": detail})
    forbidden = _raised(403, {"detail": f"token {TOKEN} may not"})
    proxied = client(lambda _r: httpx.Response(502, text=f"upstream saw {TOKEN}"))

    with pytest.raises(Unavailable) as raised:
        proxied.get_task(TASK_ID)
    for error in (unprocessable, forbidden, raised.value):
        assert TOKEN not in error.message
        assert TOKEN not in repr(error)
        assert TOKEN not in repr(getattr(error, "detail", None))
    assert "***" in raised.value.message
    assert isinstance(unprocessable, InvalidRequest)
    assert unprocessable.issues[0].message == "bad ***"


def test_the_async_client_raises_the_same_errors() -> None:
    async def run() -> list[EyeflowError]:
        errors: list[EyeflowError] = []
        for status in (404, 422, 503):
            body = (
                {"detail": [{"loc": ["body", "x"], "msg": "m"}]}
                if status == 422
                else {"detail": "nope"}
            )
            async with async_client(answer(status, body)) as c:
                try:
                    await c.get_task(TASK_ID)
                except EyeflowError as error:
                    errors.append(error)
        return errors

    errors = asyncio.run(run())

    assert [type(e) for e in errors] == [NotFound, InvalidRequest, Unavailable]
    assert isinstance(errors[1], InvalidRequest)
    assert errors[1].fields == ("x",)
