"""A loopback LLM API that enforces a rate limit the way providers do, for the limiter's tests and
the rate-limit benchmark.

It speaks Anthropic Messages (`POST /v1/messages`) and OpenAI Chat Completions
(`POST /v1/chat/completions`) on one port, with the bodies of `llm_servers.py`. Requests per
minute (and optionally tokens per minute) are token buckets with a configurable burst, refilled
continuously. Every answer carries the real rate-limit headers of the wire it serves — `remaining`
is what is left in the bucket, `reset` when the bucket is whole again — unless `headers=False`
(a server that states nothing, for the adaptive case). Over the limit it answers 429 with
`retry-after` and the provider's real error body. Calls and 429s are counted thread-safely.

    with RateLimitedServer(requests_per_minute=600, burst=10, answer=lambda body: "{}") as fake:
        ...  # point the SDK at fake.url (OpenAI: fake.url + "/v1")
        assert fake.limited <= 0.05 * fake.calls
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any

from tests.fakes.llm_servers import (
    Reply,
    anthropic_error,
    anthropic_message,
    openai_completion,
    openai_error,
)
from tests.fakes.loopback import LoopbackHTTP

Answer = Callable[[dict[str, Any]], str]
ANTHROPIC_PATH = "/v1/messages"
OPENAI_PATH = "/v1/chat/completions"


@dataclass
class Bucket:
    """A token bucket: `capacity` at most, refilled at `per_minute` / 60 per second."""

    per_minute: float
    capacity: float
    level: float = -1.0  # starts full
    at: float = 0.0

    def refill(self, now: float) -> None:
        if self.level < 0:
            self.level, self.at = self.capacity, now
        self.level = min(self.capacity, self.level + (now - self.at) * self.per_minute / 60.0)
        self.at = now

    def seconds_until(self, amount: float) -> float:
        return max(0.0, (amount - self.level) * 60.0 / self.per_minute)

    def seconds_to_full(self) -> float:
        return self.seconds_until(self.capacity)


def tokens_of(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


class RateLimitedServer:
    def __init__(
        self,
        *,
        requests_per_minute: float = 600,
        burst: float = 10,
        tokens_per_minute: float | None = None,
        token_burst: float | None = None,
        headers: bool = True,
        answer: Answer | None = None,
        latency_seconds: float = 0.0,
    ) -> None:
        self.headers = headers
        self.answer: Answer = answer or (lambda body: "{}")
        self.latency_seconds = latency_seconds
        self.calls = 0
        self.limited = 0
        self._requests = Bucket(requests_per_minute, burst)
        self._tokens = (
            Bucket(tokens_per_minute, token_burst or tokens_per_minute)
            if tokens_per_minute is not None
            else None
        )
        self._lock = threading.Lock()
        self._http = LoopbackHTTP(self._handler_class())

    @property
    def url(self) -> str:
        return self._http.url

    @property
    def served(self) -> int:
        with self._lock:
            return self.calls - self.limited

    # --- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> RateLimitedServer:
        self._http.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._http.stop()

    # --- the limit ----------------------------------------------------------------------------

    def handle(self, path: str, body: dict[str, Any]) -> Reply:
        """The reply to one request (the HTTP handler's whole job, callable from a test)."""
        anthropic = path.startswith(ANTHROPIC_PATH)
        prompt = tokens_of(json.dumps(body.get("system", "")) + json.dumps(body.get("messages")))
        max_out = int(body.get("max_tokens") or body.get("max_completion_tokens") or 0)
        with self._lock:
            self.calls += 1
            wait = self._take(time.monotonic(), prompt + max_out)
            if wait > 0:
                self.limited += 1
            limits = self._headers(anthropic)
        if wait > 0:
            return self._too_many(anthropic, wait, limits)
        text = self.answer(body)
        output = tokens_of(text)
        if self._tokens is not None:
            with self._lock:  # charge what was used (reserved as max_tokens above)
                self._tokens.level += max_out - output
        if anthropic:
            reply = anthropic_message(text, input_tokens=prompt, output_tokens=output)
        else:
            reply = openai_completion(text, prompt_tokens=prompt, completion_tokens=output)
        return Reply(reply.status, reply.body, {**reply.headers, **limits})

    def _take(self, now: float, cost: int) -> float:
        """0 when the request is admitted (taken from the buckets), else the seconds to wait."""
        self._requests.refill(now)
        wait = self._requests.seconds_until(1)
        if self._tokens is not None:
            self._tokens.refill(now)
            wait = max(wait, self._tokens.seconds_until(min(cost, self._tokens.capacity)))
        if wait > 0:
            return wait
        self._requests.level -= 1
        if self._tokens is not None:
            self._tokens.level -= cost
        return 0.0

    def _headers(self, anthropic: bool) -> dict[str, str]:
        if not self.headers:
            return {}
        buckets = {"requests": self._requests}
        if self._tokens is not None:
            buckets["tokens"] = self._tokens
        headers: dict[str, str] = {}
        for name, bucket in buckets.items():
            limit, left = str(int(bucket.per_minute)), str(max(0, math.floor(bucket.level)))
            reset = bucket.seconds_to_full()
            if anthropic:
                instant = datetime.fromtimestamp(time.time() + reset, UTC)
                headers[f"anthropic-ratelimit-{name}-limit"] = limit
                headers[f"anthropic-ratelimit-{name}-remaining"] = left
                headers[f"anthropic-ratelimit-{name}-reset"] = instant.isoformat(
                    timespec="milliseconds"
                ).replace("+00:00", "Z")
            else:
                headers[f"x-ratelimit-limit-{name}"] = limit
                headers[f"x-ratelimit-remaining-{name}"] = left
                headers[f"x-ratelimit-reset-{name}"] = go_duration(reset)
        return headers

    def _too_many(self, anthropic: bool, wait: float, limits: dict[str, str]) -> Reply:
        headers = {"retry-after": str(max(1, math.ceil(wait))), **limits}
        if anthropic:
            return anthropic_error(
                429,
                "rate_limit_error",
                "This request would exceed your organization's rate limit. Please reduce the "
                "prompt length or the maximum tokens requested, or try again later.",
                headers,
            )
        return openai_error(
            429,
            "Rate limit reached on requests per min (RPM). "
            f"Please try again in {go_duration(wait)}.",
            error_type="requests",
            code="rate_limit_exceeded",
            headers=headers,
        )

    # --- HTTP ---------------------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the SDKs' connection pools expect

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = {}
                if self.path.split("?")[0] not in (ANTHROPIC_PATH, OPENAI_PATH):
                    reply = Reply(404, {"error": {"message": f"no route {self.path}"}})
                else:
                    reply = server.handle(self.path, body if isinstance(body, dict) else {})
                    if reply.status == 200 and server.latency_seconds:
                        time.sleep(server.latency_seconds)
                data = json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler


def go_duration(seconds: float) -> str:
    """A duration as OpenAI writes it: `20ms`, `1s`, `6m0s`, `1m30.5s`."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    minutes, rest = divmod(round(seconds, 3), 60)
    text = f"{rest:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(minutes)}m{text}" if minutes else text
