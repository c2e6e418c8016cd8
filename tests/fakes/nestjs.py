"""A fake NestJS server on loopback, speaking the seed's `/api/llm-config` routes for real.

In memory, per `X-User-ID`:

    GET  /api/llm-config                  list the user's configs (API keys masked)
    POST /api/llm-config                  create one (isDefault: true demotes the others)
    GET  /api/llm-config/default          the default config, with its key (404 when none)
    GET  /api/llm-config/:id              one config (key masked)
    PUT  /api/llm-config/:id              update fields (deep-merges apiConfig)
    POST /api/llm-config/:id/health-check {"healthy": true, ...}
    GET  <context_path>                   the user's aggregated context (404 when none set)

Counts calls per (method, route); can inject latency, forced statuses and raw bodies; can be
stopped and restarted on the same port to simulate NestJS going down mid-run.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_ROUTE = "GET /api/llm-config/default"
CONTEXT_PATH = "/api/capabilities/aggregated"

#: (route label, status, JSON body): what `FakeNestJS.handle` answers.
Answer = tuple[str, int, Any]
#: One user's configs: id → config.
Configs = dict[str, dict[str, Any]]


class FakeNestJS:
    def __init__(self, context_path: str = CONTEXT_PATH) -> None:
        self.context_path = context_path
        self.configs: dict[str, Configs] = {}  # user → id → config
        self.contexts: dict[str, Any] = {}
        self.calls: Counter[str] = Counter()
        self.calls_by_user: Counter[tuple[str, str]] = Counter()
        self.seen_headers: list[dict[str, str]] = []
        self.latency = 0.0
        # route → (status, raw body) served instead of the real answer
        self.overrides: dict[str, tuple[int, bytes]] = {}
        self.wrap = False  # answer {"data": ...} like a NestJS response interceptor
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeNestJS:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # --- test helpers --------------------------------------------------------------------------

    def add_config(self, user: str, **config: Any) -> str:
        config.setdefault("isDefault", True)
        with self._lock:
            return self._create(user, config)

    def count(self, route: str = DEFAULT_ROUTE, user: str | None = None) -> int:
        if user is None:
            return self.calls[route]
        return self.calls_by_user[(route, user)]

    def reset_counts(self) -> None:
        self.calls.clear()
        self.calls_by_user.clear()

    # --- the routes ----------------------------------------------------------------------------

    def _create(self, user: str, body: dict[str, Any]) -> str:
        config_id = str(next(self._ids))
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        record = {**body, "id": config_id, "createdAt": now, "updatedAt": now}
        configs = self.configs.setdefault(user, {})
        if record.get("isDefault"):
            for other in configs.values():
                other["isDefault"] = False
        configs[config_id] = record
        return config_id

    def handle(self, method: str, path: str, user: str, body: Any) -> Answer:
        """(route label, status, JSON body or None)."""
        parts = [p for p in path.split("?")[0].split("/") if p]
        configs = self.configs.setdefault(user, {})
        if "/" + "/".join(parts) == self.context_path and method == "GET":
            return self._context(user)
        if parts[:2] != ["api", "llm-config"]:
            return _not_found(f"{method} {path}")
        answer = self._llm_config(method, parts[2:], configs, user, body)
        # Anything the routes do not answer is a 404 labelled with what was asked for.
        return answer if answer is not None else _not_found(f"{method} {path}")

    def _context(self, user: str) -> Answer:
        route = f"GET {self.context_path}"
        if user not in self.contexts:
            return _not_found(route)
        return route, 200, self.contexts[user]

    def _llm_config(
        self, method: str, rest: list[str], configs: Configs, user: str, body: Any
    ) -> Answer | None:
        """The routes under /api/llm-config (`rest` is the path after it); None for no route."""
        if not rest:
            return self._collection(method, configs, user, body)
        if rest == ["default"] and method == "GET":
            return _default(configs)
        if len(rest) == 1:  # PUT /api/llm-config/default too: "default" is then an id
            return _one(method, configs, rest[0], body)
        if len(rest) == 2 and rest[1] == "health-check" and method == "POST":
            return _health_check(configs, rest[0])
        return None

    def _collection(self, method: str, configs: Configs, user: str, body: Any) -> Answer | None:
        if method == "GET":
            return "GET /api/llm-config", 200, [_masked(c) for c in configs.values()]
        if method == "POST":
            config_id = self._create(user, dict(body or {}))
            return "POST /api/llm-config", 201, _masked(configs[config_id])
        return None


def _not_found(route: str) -> Answer:
    return route, 404, {"message": "Not Found"}


def _default(configs: Configs) -> Answer:
    default = next((c for c in configs.values() if c.get("isDefault")), None)
    if default is None:
        return DEFAULT_ROUTE, 404, {"message": "No default LLM configuration"}
    return DEFAULT_ROUTE, 200, default


def _one(method: str, configs: Configs, config_id: str, body: Any) -> Answer | None:
    """GET or PUT /api/llm-config/:id (PUT deep-merges apiConfig)."""
    record = configs.get(config_id)
    route = f"{method} /api/llm-config/:id"
    if record is None:
        return _not_found(route)
    if method == "GET":
        return route, 200, _masked(record)
    if method != "PUT":
        return None
    update = dict(body or {})
    if update.get("isDefault"):
        for other in configs.values():
            other["isDefault"] = False
    api = {**record.get("apiConfig", {}), **update.pop("apiConfig", {})}
    record.update(update, apiConfig=api)
    record["updatedAt"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return route, 200, _masked(record)


def _health_check(configs: Configs, config_id: str) -> Answer:
    route = "POST /api/llm-config/:id/health-check"
    if config_id not in configs:
        return _not_found(route)
    return route, 200, {"healthy": True, "provider": configs[config_id].get("provider")}


def _masked(config: dict[str, Any]) -> dict[str, Any]:
    api = dict(config.get("apiConfig") or {})
    if api.get("apiKey"):
        api["apiKey"] = "***"
    return {**config, "apiConfig": api}


def _handler(fake: FakeNestJS) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: stop() really stops

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            user = self.headers.get("X-User-ID") or "system"
            fake.seen_headers.append(dict(self.headers.items()))
            if fake.latency:
                time.sleep(fake.latency)
            with fake._lock:
                route, status, payload = fake.handle(method, self.path, user, body)
                fake.calls[route] += 1
                fake.calls_by_user[(route, user)] += 1
                override = fake.overrides.get(route)
            if override is not None:
                status, data = override
            else:
                if fake.wrap and status < 400:
                    payload = {"success": True, "data": payload}
                data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PUT(self) -> None:
            self._serve("PUT")

    return Handler
