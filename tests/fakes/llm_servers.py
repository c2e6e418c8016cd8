"""Loopback fakes of the LLM APIs the fleet talks to, speaking each real wire format.

One `FakeLLMServer` class serves every format: a test scripts the answers it wants (a queue of
`Reply`s — status, headers, body, or a hang of N seconds) and reads back every request it
received (`server.requests`: path, headers, parsed JSON body). When the queue is empty the
server answers with its `default` reply. Builders below produce correct bodies for Anthropic
Messages, OpenAI Chat Completions (also what llama.cpp's server speaks) and Ollama `/api/chat`.

    with FakeLLMServer(default=anthropic_message("{}")) as server:
        server.script(anthropic_error(429, "rate_limit_error", "slow down", {"retry-after": "2"}))
        ...  # point the SDK at server.url
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any

from tests.fakes.loopback import LoopbackHTTP


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None  # dict/list → JSON; str/bytes → sent as is
    headers: dict[str, str] = field(default_factory=dict)
    hang_seconds: float = 0.0  # wait this long before answering (a stuck upstream)
    content_type: str | None = None  # overrides the type guessed from `body`


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any  # parsed JSON, or the raw text when it was not JSON


class FakeLLMServer:
    def __init__(self, default: Reply | None = None) -> None:
        self.default = default or Reply(404, {"error": "no reply scripted"})
        self.requests: list[Recorded] = []
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._http = LoopbackHTTP(self._handler_class())

    # --- scripting ----------------------------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    def reset(self, default: Reply | None = None) -> None:
        """Forget scripted replies and recorded requests (to reuse one server across tests)."""
        with self._lock:
            self._replies.clear()
            self.requests.clear()
            self.default = default or Reply(404, {"error": "no reply scripted"})

    @property
    def url(self) -> str:
        return self._http.url

    @property
    def calls(self) -> int:
        return len(self.requests)

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> FakeLLMServer:
        self._http.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._http.stop()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- serving ------------------------------------------------------------------------------

    def _next(self, recorded: Recorded) -> Reply:
        with self._lock:
            self.requests.append(recorded)
            return self._replies.popleft() if self._replies else self.default

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                recorded = Recorded(
                    method=self.command,
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                reply = server._next(recorded)
                if reply.hang_seconds and server._stopping.wait(reply.hang_seconds):
                    return
                payload = reply.body
                if isinstance(payload, dict | list):
                    data = json.dumps(payload).encode()
                    content_type = "application/json"
                elif isinstance(payload, bytes):
                    data, content_type = payload, "application/octet-stream"
                else:
                    data, content_type = str(payload or "").encode(), "text/plain"
                content_type = reply.content_type or content_type
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", content_type)
                    self.send_header("content-length", str(len(data)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        return Handler


# --- Anthropic Messages API ---------------------------------------------------------------------


def anthropic_message(
    text: str,
    *,
    model: str = "claude-sonnet-4-6",
    input_tokens: int = 120,
    output_tokens: int = 40,
    cache_read: int = 0,
    cache_write: int = 0,
) -> Reply:
    return Reply(
        200,
        {
            "id": "msg_fake_01",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "cache_read_input_tokens": cache_read,
                "cache_creation_input_tokens": cache_write,
            },
        },
        {"request-id": "req_fake_01"},
    )


def anthropic_error(
    status: int, error_type: str, message: str, headers: dict[str, str] | None = None
) -> Reply:
    return Reply(
        status,
        {"type": "error", "error": {"type": error_type, "message": message}, "request_id": "req_x"},
        headers or {},
    )


# --- OpenAI Chat Completions (OpenAI and llama.cpp's llama-server) -----------------------------


def openai_completion(
    text: str,
    *,
    model: str = "gpt-4o-2024-08-06",
    prompt_tokens: int = 200,
    completion_tokens: int = 50,
    cached_tokens: int = 0,
) -> Reply:
    return Reply(
        200,
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": cached_tokens},
            },
        },
        {"x-request-id": "req_fake_oai"},
    )


def openai_error(
    status: int,
    message: str,
    *,
    error_type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    return Reply(
        status,
        {"error": {"message": message, "type": error_type, "param": param, "code": code}},
        headers or {},
    )


# --- Ollama /api/chat ---------------------------------------------------------------------------


def ollama_chat(
    text: str, *, model: str = "llama3.1", prompt_eval_count: int = 90, eval_count: int = 30
) -> Reply:
    return Reply(
        200,
        {
            "model": model,
            "created_at": "2026-11-26T12:00:00Z",
            "message": {"role": "assistant", "content": text},
            "done": True,
            "done_reason": "stop",
            "total_duration": 1_000_000,
            "prompt_eval_count": prompt_eval_count,
            "eval_count": eval_count,
        },
    )


def ollama_error(status: int, message: str) -> Reply:
    return Reply(status, {"error": message})
