"""The rig the egress tests run in: traffic to loopback only, DNS stubbed, every dial watched.

- `Listener`: an HTTP server on one loopback address (127.0.0.2, 127.0.0.3, ::1 …) that counts
  every TCP connection it accepts — a trap when hostile URLs point at it, the allowed fake
  otherwise (it answers like each provider and, on `/r/<name>…`, redirects).
- `StubDNS`: stands in for `socket.getaddrinfo`. Names it knows answer what the test says (a
  sequence of answers, for rebinding); numeric hosts are read by the C library with
  `AI_NUMERICHOST` (`2130706433` → 127.0.0.1); any other name fails — no real DNS query is made.
- `DialGuard`: stands in for `socket.create_connection` (what httpcore dials with). A loopback
  address is dialled for real; any other is recorded in `refused` and never dialled. So
  private, link-local and public addresses are tested at the guard's decision only.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fakes.llm_servers import anthropic_message, ollama_chat, openai_completion

RULES_JSON = '{"workflow_name": "egress", "trigger": "ON_WORKFLOW_START", "rules": []}'
_ANSWERS: dict[str, Any] = {
    "/v1/messages": anthropic_message(RULES_JSON).body,
    "/chat/completions": openai_completion(RULES_JSON).body,
    "/api/chat": ollama_chat(RULES_JSON).body,
}


class Listener:
    """A counting HTTP server on `host` (a free port). `redirects`: `/r/<name>` → status and
    Location; anything else gets a provider-shaped 200 (by path) or a 204."""

    def __init__(self, host: str, redirects: Mapping[str, tuple[int, str]] | None = None) -> None:
        self.host = host
        self.connections = 0
        self.redirects = dict(redirects or {})
        self._lock = threading.Lock()
        listener = self

        class Server(ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
            daemon_threads = True
            block_on_close = False

            def verify_request(self, request: Any, client_address: Any) -> bool:
                with listener._lock:  # every accepted connection, whatever it then sends
                    listener.connections += 1
                return True

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                listener._serve(self)

            def do_POST(self) -> None:
                listener._serve(self)

        self._server = Server((host, 0), Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def url(self, path: str = "/", scheme: str = "http") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}{path}"

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        if length:
            handler.rfile.read(length)
        path = handler.path
        for name, (status, location) in self.redirects.items():
            if path.startswith(f"/r/{name}"):
                self._send(handler, status, b"", {"location": location})
                return
        for suffix, answer in _ANSWERS.items():
            if path.endswith(suffix):
                self._send(handler, 200, json.dumps(answer).encode(), {})
                return
        self._send(handler, 204, b"", {})

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: Mapping[str, str]
    ) -> None:
        handler.send_response(status)
        for name, value in {"content-type": "application/json", **headers}.items():
            handler.send_header(name, value)
        handler.send_header("content-length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


_real_getaddrinfo = socket.getaddrinfo
_real_create_connection = socket.create_connection


class StubDNS:
    """`socket.getaddrinfo` with the names a test gives (each a list of answers, used in turn,
    the last one repeating); counts the queries per name."""

    def __init__(self) -> None:
        self.names: dict[str, list[list[str]]] = {}
        self.queries: dict[str, int] = {}

    def add(self, name: str, *answers: Sequence[str]) -> None:
        self.names[name] = [list(answer) for answer in answers]

    def __call__(
        self, host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else str(host)
        name = name.lower().rstrip(".")
        if name in self.names and not flags & socket.AI_NUMERICHOST:
            count = self.queries.get(name, 0)
            self.queries[name] = count + 1
            answers = self.names[name]
            return [_info(address, port) for address in answers[min(count, len(answers) - 1)]]
        # Numeric hosts only, read the way the C library reads them; never a DNS query.
        return _real_getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)


def _info(address: str, port: Any) -> Any:
    if ":" in address:
        return (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, int(port or 0), 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 0)))


def is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    mapped = getattr(ip, "ipv4_mapped", None)
    # 0.0.0.0 is dialled as the local host by Linux: it lands on the 127.0.0.1 trap.
    return ip.is_loopback or ip.is_unspecified or (mapped is not None and mapped.is_loopback)


class DialGuard:
    """`socket.create_connection` that dials loopback for real and records (never dials) any
    other address."""

    def __init__(self, dns: StubDNS) -> None:
        self.dns = dns
        self.refused: list[str] = []
        self.dialled: list[str] = []

    def __call__(self, address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        host, port = address
        last: OSError = ConnectionRefusedError("nothing to dial")
        for info in self.dns(host, port, type=socket.SOCK_STREAM):
            ip = str(info[4][0])
            if not is_loopback(ip):
                self.refused.append(ip)
                last = ConnectionRefusedError(f"the test rig never dials {ip}")
                continue
            self.dialled.append(ip)
            try:
                return _real_create_connection((ip, port), *args, **kwargs)
            except OSError as exc:
                last = exc
        raise last
