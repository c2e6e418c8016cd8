"""What the loopback fakes of the two batch APIs share (`anthropic_batches_server.py`,
`openai_batches_server.py`): an in-memory store of batches, the scripting knobs, and the
`ThreadingHTTPServer` plumbing on 127.0.0.1.

Knobs (set on the server before or between calls):
- `outcomes[custom_id]`: `succeeded` (default) | `errored` | `invalid_request` | `expired`
- `ends_after_polls`: a batch ends on its N-th retrieve (1: the first retrieve already sees it
  ended; 0: it is ended at creation)
- `not_found_polls`: the first K retrieves/results/cancels of a new batch answer 404
- `no_results_polls`: after ending, this many retrieves still show no results file
- `cancel_keeps`: on cancel, the first N items keep their scripted outcome; the rest are
  cancelled; `cancelling_polls`: retrieves that still see it cancelling
- `usage`: the token counts every succeeded answer reports
Results are always returned in reverse submission order (never the order sent).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from tests.fakes.loopback import LoopbackHTTP

ANSWER = '{"workflow_name": "db-memory", "trigger": "ON_WORKFLOW_START", "rules": []}'


@dataclass
class Item:
    custom_id: str
    params: dict[str, Any]


@dataclass
class FakeBatch:
    id: str
    created_at: float
    items: list[Item]
    metadata: dict[str, str] = field(default_factory=dict)
    polls: int = 0
    not_found_left: int = 0
    polls_to_end: int = 1
    no_results_polls: int = 0
    polls_since_end: int = 0
    cancelled: bool = False
    cancel_keeps: int = 0
    cancelling_left: int = 0
    ended_at: float | None = None

    @property
    def ended(self) -> bool:
        return self.ended_at is not None

    def kind_of(self, index: int, scripted: dict[str, str]) -> str:
        if self.cancelled and index >= self.cancel_keeps:
            return "cancelled"
        return scripted.get(self.items[index].custom_id, "succeeded")


@dataclass(frozen=True)
class Response:
    status: int
    body: Any  # dict → JSON; bytes/str → sent as is
    content_type: str = "application/json"


class BatchesServer:
    """Base: subclasses implement `route`."""

    prefix = "batch"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()
        self._ids = itertools.count(1)
        self._http = LoopbackHTTP(self._handler_class())

    def reset(self) -> None:
        """Back to the defaults, with no batches (to reuse one server across tests)."""
        self.outcomes: dict[str, str] = {}
        self.ends_after_polls = 1
        self.not_found_polls = 0
        self.no_results_polls = 0
        self.cancel_keeps = 0
        self.cancelling_polls = 0
        self.usage: dict[str, int] = {"input_tokens": 100, "output_tokens": 40}
        self.batches: dict[str, FakeBatch] = {}
        self.paths: list[tuple[str, str]] = []  # (method, path) of every request

    # --- the store ------------------------------------------------------------------------------

    def new_id(self, prefix: str | None = None) -> str:
        return f"{prefix or self.prefix}_{next(self._ids):04d}"

    def add_batch(self, items: list[Item], metadata: dict[str, str] | None = None) -> FakeBatch:
        batch = FakeBatch(
            id=self.new_id(),
            created_at=time.time(),
            items=items,
            metadata=metadata or {},
            not_found_left=self.not_found_polls,
            polls_to_end=self.ends_after_polls,
            no_results_polls=self.no_results_polls,
        )
        if batch.polls_to_end <= 0:
            batch.ended_at = batch.created_at
        self.batches[batch.id] = batch
        return batch

    def poll(self, batch: FakeBatch) -> None:
        """One retrieve: the batch moves on (ends on its N-th, or once cancelled)."""
        batch.polls += 1
        if batch.cancelled and batch.cancelling_left > 0:
            batch.cancelling_left -= 1
            return
        if not batch.ended and (batch.polls >= batch.polls_to_end or batch.cancelled):
            batch.ended_at = time.time()
        if batch.ended:
            batch.polls_since_end += 1

    def cancel(self, batch: FakeBatch) -> None:
        if not batch.ended:
            batch.cancelled = True
            batch.cancel_keeps = self.cancel_keeps
            batch.cancelling_left = self.cancelling_polls

    def hides_results(self, batch: FakeBatch) -> bool:
        """Not ended, or ended but "no results file yet" (the first `no_results_polls`)."""
        return not batch.ended or batch.polls_since_end <= batch.no_results_polls

    def early_404(self, batch: FakeBatch | None) -> bool:
        if batch is not None and batch.not_found_left > 0:
            batch.not_found_left -= 1
            return True
        return False

    def newest_first(self) -> list[FakeBatch]:
        return sorted(self.batches.values(), key=lambda b: (b.created_at, b.id), reverse=True)

    def page(self, after: str | None, limit: int) -> tuple[list[FakeBatch], bool]:
        ordered = self.newest_first()
        start = 0
        if after is not None:
            ids = [b.id for b in ordered]
            start = ids.index(after) + 1 if after in ids else len(ids)
        chunk = ordered[start : start + limit]
        return chunk, start + limit < len(ordered)

    # --- HTTP -------------------------------------------------------------------------------------

    def route(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> Response:
        raise NotImplementedError

    @property
    def url(self) -> str:
        return self._http.url

    def __enter__(self) -> Self:
        self._http.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._http.stop()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def do_DELETE(self) -> None:
                self._serve()

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                headers = {k.lower(): v for k, v in self.headers.items()}
                with server.lock:
                    server.paths.append((self.command, parts.path))
                    reply = server.route(self.command, parts.path, query, headers, raw)
                payload = reply.body
                if isinstance(payload, dict | list):
                    data = json.dumps(payload).encode()
                else:
                    data = payload if isinstance(payload, bytes) else str(payload).encode()
                self.send_response(reply.status)
                self.send_header("content-type", reply.content_type)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
