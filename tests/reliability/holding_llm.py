"""A loopback Ollama `/api/chat` fake that can *hold* requests until the test releases them.

`tests/fakes/llm_servers.FakeLLMServer` can only hang for a fixed number of seconds; a
reliability test needs to know *that* a worker is inside a provider call (so it can kill the
worker at exactly that moment) and to decide when the held calls end. Here:

- the first `hold` requests are held on `release` (a `threading.Event`); `all_held` is set once
  all of them have arrived;
- every other request is answered after `serve_delay` seconds with a valid rules document whose
  `workflow_name` is `delivery-<n>` (n = the request's 1-based arrival number), so a job's result
  says exactly which provider call produced it;
- held requests, once released, answer `held-<n>` (they normally write into a dead socket: their
  worker was killed).
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any

from tests.fakes.loopback import LoopbackHTTP, private_loopback_address
from tests.rules.scripted import rules_doc

_INTENT = re.compile(r"^Intent: (.*)$", re.MULTILINE)


@dataclass(frozen=True)
class ChatCall:
    number: int  # 1-based arrival order
    intent: str
    held: bool
    at: float  # time.monotonic() on arrival


def ollama_answer(workflow_name: str) -> dict[str, Any]:
    return {
        "model": "llama3.1",
        "created_at": "2026-11-26T12:00:00Z",
        "message": {
            "role": "assistant",
            "content": json.dumps(rules_doc(workflow_name=workflow_name)),
        },
        "done": True,
        "done_reason": "stop",
        "total_duration": 1_000_000,
        "prompt_eval_count": 90,
        "eval_count": 30,
    }


class HoldingOllama:
    def __init__(self, *, hold: int = 1, serve_delay: float = 0.0, max_hold: float = 90.0):
        self.hold = hold
        self.serve_delay = serve_delay
        self.max_hold = max_hold
        self.release = threading.Event()
        self.all_held = threading.Event()
        self.calls: list[ChatCall] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        # Counted calls: on an address of its own, out of reach of other tests' workers.
        self._http = LoopbackHTTP(self._handler_class(), host=private_loopback_address())

    @property
    def url(self) -> str:
        return self._http.url

    def snapshot(self) -> list[ChatCall]:
        with self._lock:
            return list(self.calls)

    def held_calls(self) -> list[ChatCall]:
        return [call for call in self.snapshot() if call.held]

    def __enter__(self) -> HoldingOllama:
        self._http.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping.set()
        self.release.set()
        self._http.stop()

    def _arrive(self, intent: str) -> ChatCall:
        with self._lock:
            number = len(self.calls) + 1
            call = ChatCall(number, intent, number <= self.hold, time.monotonic())
            self.calls.append(call)
            if call.held and number == self.hold:
                self.all_held.set()
            return call

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                if len(raw) < length or not raw:
                    # Its worker was killed while sending it (the headers out, not the body):
                    # a request that never arrived is no provider call.
                    return
                body = json.loads(raw)
                messages = body.get("messages") or [{}]
                found = _INTENT.search(str(messages[-1].get("content", "")))
                call = fake._arrive(found.group(1) if found else "")
                if call.held:
                    fake.release.wait(fake.max_hold)
                    name = f"held-{call.number}"
                else:
                    if fake.serve_delay and fake._stopping.wait(fake.serve_delay):
                        return
                    name = f"delivery-{call.number}"
                data = json.dumps(ollama_answer(name)).encode()
                try:
                    self.send_response(200)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the worker that asked was killed: nobody reads this answer

        return Handler
