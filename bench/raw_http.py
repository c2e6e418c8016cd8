"""A minimal HTTP/1.1 client over one keep-alive connection, blocking and asyncio, for timing
servers on a 2-core machine: httpx costs the timing process a few hundred microseconds of CPU per
request, which would be charged to the server under test (and shared by the load generator's
own clients). It speaks only what uvicorn answers here: `Content-Length` bodies, no chunking.

Scripts in bench/ run as `python bench/<name>.py`, so this module is imported as `raw_http`.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any


def request_bytes(port: int, path: str, body: dict[str, Any], headers: dict[str, str]) -> bytes:
    payload = json.dumps(body).encode()
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    raise ValueError(f"no Content-Length in {head[:200]!r}")


class Connection:
    """One blocking keep-alive connection; `post` returns (status, body)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._connect()

    def _connect(self) -> None:
        self._sock = socket.create_connection(("127.0.0.1", self.port))
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = b""

    def post(self, raw: bytes) -> tuple[int, bytes]:
        try:
            return self._post(raw)
        except (ConnectionError, BrokenPipeError):
            # uvicorn closes a keep-alive connection idle for 5 s: open a new one, once.
            self._sock.close()
            self._connect()
            return self._post(raw)

    def _post(self, raw: bytes) -> tuple[int, bytes]:
        self._sock.sendall(raw)
        while b"\r\n\r\n" not in self._buffer:
            self._recv()
        head, _, rest = self._buffer.partition(b"\r\n\r\n")
        length = _content_length(head)
        while len(rest) < length:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            rest += chunk
        self._buffer = rest[length:]
        return int(head.split(b" ", 2)[1]), rest[:length]

    def _recv(self) -> None:
        chunk = self._sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self._buffer += chunk

    def close(self) -> None:
        self._sock.close()


async def post_loop(port: int, raw: bytes, until: float, counts: dict[int, int]) -> None:
    """POST `raw` again and again on one keep-alive connection until the loop time `until`,
    counting answers by status code."""
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while loop.time() < until:
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(_content_length(head))
            code = int(head.split(b" ", 2)[1])
            counts[code] = counts.get(code, 0) + 1
    finally:
        writer.close()
