"""The latency scenario's LLM provider: a loopback fake Ollama, and its answer drafted in-process.

`FakeOllama` serves `POST /api/chat` on 127.0.0.1 after sleeping a fixed latency, with a valid
rules document for the sample catalogue; `InProcessFake` gives the same answer with no HTTP hop
and no sleep, so the rules expected for every intent can be drafted without waiting N x latency.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from batch_workload import drafted_answer

INTENT_LINE = re.compile(r"^Intent: (.*)$", re.MULTILINE)  # the user turn of a generate request


def request_intent(body: Any) -> str:
    """The intent a generate request's first user turn carries ("" when there is none)."""
    messages = (body.get("messages") if isinstance(body, dict) else None) or []
    for message in messages:
        if isinstance(message, dict) and message.get("role") == "user":
            found = INTENT_LINE.search(str(message.get("content", "")))
            return found.group(1) if found else ""
    return ""


def chat_answer(body: Any) -> dict[str, Any]:
    """The fake's Ollama `/api/chat` answer to a request body: the offline drafter's valid rules
    for the request's intent on the sample catalogue (`drafted_answer`)."""
    return {
        "model": "llama3.1",
        "created_at": "2026-11-26T12:00:00Z",
        "message": {"role": "assistant", "content": drafted_answer(request_intent(body)) or "{}"},
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": 90,
        "eval_count": 30,
    }


class FakeOllama(ThreadingHTTPServer):
    """Loopback Ollama: `POST /api/chat` sleeps `latency_s`, then answers `chat_answer(body)`.
    One thread per connection, HTTP/1.1 keep-alive (no Nagle), a backlog deep enough for 64
    callers. The bench counts `calls` to see that every item took exactly one."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 256

    def __init__(self, latency_s: float) -> None:
        super().__init__(("127.0.0.1", 0), FakeOllamaHandler)
        self.latency_s = latency_s
        self.calls = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class FakeOllamaHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle on, a keep-alive connection waits for
    # the client's delayed ACK (~40 ms) before sending the body, which no real server adds.
    disable_nagle_algorithm = True
    server: FakeOllama

    # The base class's signature: overridden only to keep one stderr line per request out of
    # the bench's output.
    def log_message(self, format: str, *args: Any) -> None:  # noqa: ARG002
        return

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path != "/api/chat":
            status, answer = 404, {"error": f"no route {self.path}"}
        else:
            with self.server.lock:
                self.server.calls += 1
            time.sleep(self.server.latency_s)
            status, answer = 200, chat_answer(json.loads(raw or b"{}"))
        data = json.dumps(answer).encode()
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the caller went away (a worker being stopped)


@contextmanager
def fake_ollama(latency_ms: int) -> Iterator[FakeOllama]:
    """A `FakeOllama` serving in a daemon thread for the duration of the block."""
    server = FakeOllama(latency_ms / 1000)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class InProcessFake:
    """The fake's answer without the HTTP hop and the sleep: drafts the expected rules."""

    name = "ollama"
    model = "llama3.1"

    def complete(self, request: Any) -> Any:
        from eyeflow_worker.core.llm import LLMResponse, Usage

        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        data = chat_answer({"messages": messages})
        usage = Usage(int(data["prompt_eval_count"]), int(data["eval_count"]))
        return LLMResponse(data["message"]["content"], self.name, data["model"], usage, 0, None)
