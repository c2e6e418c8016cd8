"""The serving part every loopback fake shares: a `ThreadingHTTPServer` on 127.0.0.1 (a free
port), answering from a daemon thread, one thread per connection, closed without waiting for
connections still open."""

from __future__ import annotations

import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def private_loopback_address() -> str:
    """An address of 127.0.0.0/8 of its own (127.66.x.y): a fake that must count every call it
    gets binds there, so a worker another test left behind, still calling the port its own fake
    had, cannot reach it should the port be reused."""
    return f"127.66.{secrets.randbelow(254) + 1}.{secrets.randbelow(254) + 1}"


class LoopbackHTTP:
    def __init__(self, handler: type[BaseHTTPRequestHandler], host: str = "127.0.0.1") -> None:
        self.httpd = ThreadingHTTPServer((host, 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)
