"""The economy bench's provider: a loopback fake Anthropic that speaks both the Messages API
(`POST /v1/messages`) and the Message Batches API (`tests/fakes/anthropic_batches_server.py`),
answers every request with `drafted_answer(intent)` (valid rules for the sample catalogue) and
reports usage the way Anthropic bills it, on a *model* of the tokens (see `economy_bench.py`):

- tokens = ceil(characters / 4) of the text sent or answered;
- the cacheable prefix is the system blocks up to the last one marked `cache_control`; when it
  is at least `MIN_CACHEABLE_TOKENS` (Sonnet's documented minimum), the first request that
  carries that exact prefix (per model) reports it as `cache_creation_input_tokens`, and any
  request within its TTL (5 min, or `"ttl": "1h"`; a hit refreshes it) as
  `cache_read_input_tokens`; the rest of the prompt is `input_tokens`;
- a request without `cache_control` reports its whole prompt as `input_tokens`;
- `output_tokens` from the answer's length.

A batch's requests are metered when the batch is created, in submission order (so a batch is
billed once however often its results are read). The fake counts what it was asked: Messages
calls and the intents they carried (a call for an intent beyond the times the workload
holds it counts as billed twice), batch creates, the requests inside them by `custom_id`,
and the token totals it reported per kind, so the bench can check that each was billed once.

For the crash bench (`economy_chaos.py`): `HoldsReplies` holds the first reply to a chosen
request (`Hold`: before any byte, e.g. a batch's create, or once part of its body is sent, e.g.
the results stream) until the bench releases it (`POST /_chaos/release`), so a worker can be
killed at that point; `ChaosAnthropic` is the metered fake with it, `DraftedOpenAI` the OpenAI
Batch fake answering the same drafted rules; `chaos_stats` reads either's batches back.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from batch_fake_ollama import request_intent
from batch_workload import drafted_answer
from processes import ROOT

sys.path.insert(0, str(ROOT))
from tests.fakes.anthropic_batches_server import AnthropicBatchesServer
from tests.fakes.batches_base import BatchesServer, FakeBatch, Item, Response
from tests.fakes.openai_batches_server import OpenAIBatchesServer

MIN_CACHEABLE_TOKENS = 1024  # Claude Sonnet's documented minimum cacheable prompt
TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
TOKEN_KINDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


def tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def _text(content: Any) -> str:
    """The text of a message's or system's content (a string or a list of text blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return ""


class MeteredAnthropic(AnthropicBatchesServer):
    """See the module docstring. `latency_s`: how long a Messages call takes (batches answer at
    once: the bench measures cost, and a real batch takes minutes to hours anyway)."""

    def __init__(self, latency_s: float = 0.0, workload: Counter[str] | None = None) -> None:
        self.latency_s = latency_s
        self.workload = workload or Counter()  # how often each intent is in the batch
        super().__init__()

    def reset(self) -> None:
        super().reset()
        self.cache: dict[str, float] = {}  # prefix key → expires at
        self.metered: dict[int, dict[str, int]] = {}  # id(Item) → its usage
        self.intents: Counter[str] = Counter()  # realtime calls per intent
        self.custom_ids: Counter[str] = Counter()  # batch requests per custom_id
        self.messages_calls = 0
        self.batch_creates = 0
        self.totals = {f"{where}_{kind}": 0 for where in ("rt", "batch") for kind in TOKEN_KINDS}

    # --- metering ---------------------------------------------------------------------------

    def meter(self, params: dict[str, Any], answer: str, where: str) -> dict[str, int]:
        system = params.get("system")
        blocks = system if isinstance(system, list) else [{"text": system or ""}]
        marked = [i for i, b in enumerate(blocks) if isinstance(b, dict) and b.get("cache_control")]
        prompt = "".join(_text(m.get("content")) for m in params.get("messages", []))
        usage = dict.fromkeys(TOKEN_KINDS, 0)
        usage["output_tokens"] = tokens(answer)
        if marked:
            prefix = _text(blocks[: marked[-1] + 1])
            rest = _text(blocks[marked[-1] + 1 :])
        else:
            prefix, rest = "", _text(blocks)
        if prefix and tokens(prefix) >= MIN_CACHEABLE_TOKENS:
            ttl = TTL_SECONDS.get(str(blocks[marked[-1]]["cache_control"].get("ttl", "5m")), 300.0)
            key = hashlib.sha256(f"{params.get('model')}\0{prefix}".encode()).hexdigest()
            now = time.monotonic()
            hit = self.cache.get(key, 0.0) > now
            kind = "cache_read_input_tokens" if hit else "cache_creation_input_tokens"
            usage[kind] = tokens(prefix)
            self.cache[key] = max(self.cache.get(key, 0.0), now + ttl)
        else:
            rest = prefix + rest
        usage["input_tokens"] = tokens(rest + prompt)
        for kind, count in usage.items():
            self.totals[f"{where}_{kind}"] += count
        return usage

    # --- the Messages API -------------------------------------------------------------------

    def route(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> Response:
        if path == "/v1/messages" and method == "POST":
            return self._messages(json.loads(body))
        return super().route(method, path, query, headers, body)

    def _messages(self, params: dict[str, Any]) -> Response:
        intent = request_intent(params)
        self.messages_calls += 1
        self.intents[intent] += 1
        answer = drafted_answer(intent) or "{}"
        usage = self.meter(params, answer, "rt")
        return Response(
            200, self._wire_message(f"msg_rt_{self.messages_calls}", params, answer, usage)
        )

    # --- the Message Batches API ------------------------------------------------------------

    def add_batch(self, items: list[Item], metadata: dict[str, str] | None = None) -> FakeBatch:
        self.batch_creates += 1
        for item in items:
            self.custom_ids[item.custom_id] += 1
            answer = drafted_answer(request_intent(item.params)) or "{}"
            self.metered[id(item)] = self.meter(item.params, answer, "batch")
        return super().add_batch(items, metadata)

    def _message(self, item: Item) -> dict[str, Any]:
        answer = drafted_answer(request_intent(item.params)) or "{}"
        return self._wire_message(
            f"msg_{item.custom_id}", item.params, answer, self.metered[id(item)]
        )

    @staticmethod
    def _wire_message(
        message_id: str, params: dict[str, Any], answer: str, usage: dict[str, int]
    ) -> dict[str, Any]:
        return {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": params.get("model", "claude-sonnet-4-5"),
            "content": [{"type": "text", "text": answer}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": dict(usage),
        }

    # --- HTTP: the latency is slept outside the store's lock --------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        base = super()._handler_class()
        server = self

        class Handler(base):  # type: ignore[misc, valid-type]
            def do_POST(self) -> None:
                if server.latency_s and self.path == "/v1/messages":
                    time.sleep(server.latency_s)
                super().do_POST()

        return Handler

    # --- what the bench reads back ----------------------------------------------------------

    def stats(self) -> dict[str, int]:
        with self.lock:
            return {
                "messages_calls": self.messages_calls,
                "messages_intents": len(self.intents),
                # More calls for an intent than the workload holds it (it repeats a few texts).
                "messages_twice": sum(
                    max(0, n - max(1, self.workload[intent])) for intent, n in self.intents.items()
                ),
                "batch_creates": self.batch_creates,
                "batch_requests": sum(self.custom_ids.values()),
                "batch_twice": sum(n - 1 for n in self.custom_ids.values() if n > 1),
                "http_requests": len(self.paths),
                **self.totals,
            }


def serve(latency_s: float, intents: list[str]) -> MeteredAnthropic:
    return MeteredAnthropic(latency_s, Counter(intents))


def stats_of(fake: MeteredAnthropic) -> dict[str, int]:
    return fake.stats()


# --- holding a reply (the crash bench) --------------------------------------------------------

RELEASE_PATH = "/_chaos/release"
HOLD_SECONDS = 900.0  # a hold nobody releases ends by itself


@dataclass(frozen=True)
class Hold:
    """Hold the first reply to `method` on a path matching `path` (a regex) once `fraction` of
    its body is sent (0: before its status line; else cut after the last whole line before that
    fraction), until released."""

    method: str
    path: str
    fraction: float = 0.0


class _HeldWriter:
    """The handler's `wfile` while its reply is held: the first write is the status line and
    headers, the second the body (how `batches_base` sends a reply)."""

    def __init__(self, raw: BinaryIO, fraction: float, wait: Any) -> None:
        self.raw, self.fraction, self.wait = raw, fraction, wait
        self.writes = 0

    def write(self, data: bytes) -> int:
        self.writes += 1
        if self.fraction <= 0 and self.writes == 1:
            self.wait()
        elif self.fraction > 0 and self.writes == 2:
            cut = data.rfind(b"\n", 0, int(len(data) * self.fraction)) + 1
            self.raw.write(data[:cut])
            self.raw.flush()
            self.wait()
            self.raw.write(data[cut:])
            return len(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()


class HoldsReplies(BatchesServer):
    """A batches fake that holds one reply (`arm(hold)`, see `Hold`) until `POST
    /_chaos/release` (or `HOLD_SECONDS`). `holding` is 1 once the reply is being held."""

    hold: Hold | None = None

    def reset(self) -> None:
        super().reset()
        self.hold_taken = False
        self.holding = 0
        self.released = threading.Event()

    def arm(self, hold: Hold | None) -> None:
        with self.lock:
            self.hold, self.hold_taken = hold, False

    def _take_hold(self, method: str, path: str) -> Hold | None:
        with self.lock:
            hold = self.hold
            if hold is None or self.hold_taken or method != hold.method:
                return None
            if not re.fullmatch(hold.path, path):
                return None
            self.hold_taken = True
            return hold

    def _wait_held(self) -> None:
        self.holding = 1
        self.released.wait(HOLD_SECONDS)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        base = super()._handler_class()
        server = self

        class Handler(base):  # type: ignore[misc, valid-type]
            wfile: Any  # the socket writer, or a `_HeldWriter` around it

            def do_GET(self) -> None:
                self._maybe_held(super().do_GET)

            def do_POST(self) -> None:
                if self.path == RELEASE_PATH:
                    server.released.set()
                    self.send_response(204)
                    self.end_headers()
                    return
                self._maybe_held(super().do_POST)

            def _maybe_held(self, serve: Any) -> None:
                hold = server._take_hold(self.command, urlsplit(self.path).path)
                if hold is None:
                    serve()
                    return
                raw = self.wfile
                self.wfile = _HeldWriter(raw, hold.fraction, server._wait_held)
                try:
                    serve()
                except OSError:  # the client was killed while its reply was held
                    self.close_connection = True
                finally:
                    self.wfile = raw

        return Handler


class ChaosAnthropic(HoldsReplies, MeteredAnthropic):
    """The metered fake Anthropic (Messages and Message Batches) that can hold a reply."""


class DraftedOpenAI(HoldsReplies, OpenAIBatchesServer):
    """The OpenAI Batch fake answering every request with `drafted_answer(intent)`."""

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        completion = super()._completion(body)
        answer = drafted_answer(request_intent(body)) or "{}"
        completion["choices"][0]["message"]["content"] = answer
        return completion


def serve_chaos(provider: str, hold: Hold | None, intents: list[str]) -> HoldsReplies:
    fake: HoldsReplies = (
        DraftedOpenAI() if provider == "openai" else ChaosAnthropic(0.0, Counter(intents))
    )
    fake.arm(hold)
    return fake


def chaos_stats(fake: HoldsReplies) -> dict[str, int]:
    """What the fake was asked, from its batches: creates, requests by `custom_id` (billed
    twice: one in more than one batch), batches ended, list calls (reconciliation), realtime
    calls, deletes (OpenAI's files), and whether its held reply is being held / was released."""
    with fake.lock:
        batches = list(fake.batches.values())
        ids = Counter(item.custom_id for batch in batches for item in batch.items)
        paths = list(fake.paths)
    lists = {"/v1/messages/batches", "/v1/batches"}
    realtime = {"/v1/messages", "/v1/chat/completions"}
    return {
        "batch_creates": len(batches),
        "batch_requests": sum(ids.values()),
        "batch_twice": sum(n - 1 for n in ids.values() if n > 1),
        "batches_ended": sum(1 for b in batches if b.ended),
        "ended_requests": sum(len(b.items) for b in batches if b.ended),
        "list_calls": sum(1 for m, p in paths if m == "GET" and p in lists),
        "realtime_calls": sum(1 for m, p in paths if m == "POST" and p in realtime),
        "deletes": sum(1 for m, _ in paths if m == "DELETE"),
        "http_requests": len(paths),
        "holding": fake.holding,
        "released": int(fake.released.is_set()),
    }
