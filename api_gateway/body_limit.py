"""What a request body may cost the gateway: its bytes (over MAX_BODY_BYTES: 413, before the app
reads it) and its shape (too many values, too deep, values nothing downstream can store: 422 naming
the field, before and right after it is parsed — `core/json_bounds.py`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response, status
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api_gateway.state import state_from_app
from eyeflow_worker.core.json_bounds import JsonBounds, JsonRefused, parse_bounded


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self._app = app
        self._max = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > self._max:
                await self._refuse(send)
                return
            await self._app(scope, receive, send)
            return
        # No Content-Length (chunked): read up to the limit before the app sees anything, then
        # replay what was read.
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self._max:
                await self._refuse(send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self._app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"detail": f"Request body exceeds {self._max} bytes"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class BoundedJsonRequest(Request):
    """A request whose JSON body is parsed within the app's bounds (MAX_JSON_ELEMENTS,
    MAX_JSON_DEPTH); what cannot be accepted is a 422 whose `loc` names the field."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            settings = state_from_app(self).settings
            bounds = JsonBounds(settings.max_json_elements, settings.max_json_depth)
            try:
                self._json = parse_bounded(await self.body(), bounds)
            except JsonRefused as refused:
                # An HTTPException: FastAPI passes it on from the body parse (anything else there
                # becomes a 400), and its answer has the shape of a validation error's.
                detail = [
                    {"loc": ["body", *problem.loc], "msg": problem.message, "type": problem.kind}
                    for problem in refused.problems
                ]
                raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=detail) from None
        return self._json


class BoundedJsonRoute(APIRoute):
    """Routes whose JSON bodies are parsed by `BoundedJsonRequest` (FastAPI's custom route class
    hook: the request is swapped before FastAPI reads the body)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def bounded(request: Request) -> Response:
            return await handler(BoundedJsonRequest(request.scope, request.receive))

        return bounded
