"""Every gateway request's log lines carry its `request_id`, `path` and `method` (and, from the
submission on, its job's fields: `enqueue.py`). The id is the caller's `X-Request-ID` when it
sends a sensible one, else a fresh one, and is answered in the same header so a caller can quote
it. Plain ASGI rather than `BaseHTTPMiddleware`: it adds no task and no copy of the body.
"""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from eyeflow_worker.core import log_context

REQUEST_ID_HEADER = "x-request-id"
# A caller's id is logged as is: short, and only characters that cannot forge a log line.
_SENSIBLE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RequestLogContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        token = log_context.bind(
            request_id=request_id, path=scope.get("path"), method=scope.get("method")
        )
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log_context.reset(token)


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER.encode():
            given = bytes(value).decode("latin-1")
            if _SENSIBLE_ID.fullmatch(given):
                return given
    return uuid.uuid4().hex
