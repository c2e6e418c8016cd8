"""The RabbitMQ the tests run on: vhosts of their own on the machine's RabbitMQ (never its
default vhost, never stopping it), made and removed with `rabbitmqctl` — or, where that cannot
be run, the management API on 127.0.0.1:15672 — plus the one broker-side reading the tests
assert on (ready messages, from a passive `queue.declare`: live, unlike the broker's statistics,
which lag by up to five seconds).

`scripts/test.sh` makes sure a RabbitMQ answers (`scripts/ensure-rabbitmq.sh`); without one the
RabbitMQ tests fail, saying why — they are never skipped.

Vhosts are named `eyeflow-test-{pid}-{purpose}-{n}`: two suite runs at once never share one, and
vhosts a killed run left behind (its pid gone) are removed by the next run.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from functools import lru_cache
from typing import Protocol

import pytest
from kombu import Connection

RABBITMQ = os.environ.get("EYEFLOW_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672")
MANAGEMENT = os.environ.get("EYEFLOW_TEST_RABBITMQ_MANAGEMENT", "http://127.0.0.1:15672")
_PREFIX = "eyeflow-test-"
_OURS = re.compile(rf"^{_PREFIX}(\d+)-")
_counter = itertools.count(1)


class Admin(Protocol):
    def add_vhost(self, name: str) -> None: ...
    def delete_vhost(self, name: str) -> None: ...
    def vhosts(self) -> list[str]: ...
    def unacked(self, vhost: str) -> int: ...
    def queue_types(self, vhost: str) -> dict[str, str]: ...


class CtlAdmin:
    """`rabbitmqctl` on the node this machine runs (its own env file names the node)."""

    def _run(self, *args: str) -> str:
        done = subprocess.run(
            ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def add_vhost(self, name: str) -> None:
        self._run("add_vhost", name)
        user = urllib.parse.urlsplit(RABBITMQ).username or "guest"
        self._run("set_permissions", "-p", name, user, ".*", ".*", ".*")

    def delete_vhost(self, name: str) -> None:
        self._run("delete_vhost", name)

    def vhosts(self) -> list[str]:
        lines = self._run("list_vhosts", "--no-table-headers").splitlines()
        return [line.strip() for line in lines if line.strip()]

    def unacked(self, vhost: str) -> int:
        # Channels answer for themselves, at once (queue statistics lag by seconds).
        rows = self._run(
            "list_channels", "--no-table-headers", "vhost", "messages_unacknowledged"
        ).splitlines()
        return sum(
            int(count) for name, _, count in (row.rpartition("\t") for row in rows) if name == vhost
        )

    def queue_types(self, vhost: str) -> dict[str, str]:
        rows = self._run("list_queues", "-p", vhost, "--no-table-headers", "name", "type")
        return dict(row.rsplit("\t", 1) for row in rows.splitlines() if "\t" in row)


class HttpAdmin:
    """The management plugin's HTTP API, with the AMQP URL's credentials."""

    def __init__(self) -> None:
        parts = urllib.parse.urlsplit(RABBITMQ)
        user = urllib.parse.unquote(parts.username or "guest")
        password = urllib.parse.unquote(parts.password or "guest")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._auth = f"Basic {token}"
        self._user = user

    def _call(self, method: str, path: str, body: object = None) -> object:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - a fixed loopback http URL
            MANAGEMENT + path, data=data, method=method
        )
        request.add_header("Authorization", self._auth)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            raw = response.read()
        return json.loads(raw) if raw else None

    def add_vhost(self, name: str) -> None:
        quoted = urllib.parse.quote(name, safe="")
        self._call("PUT", f"/api/vhosts/{quoted}", {})
        grant = {"configure": ".*", "write": ".*", "read": ".*"}
        self._call("PUT", f"/api/permissions/{quoted}/{urllib.parse.quote(self._user)}", grant)

    def delete_vhost(self, name: str) -> None:
        self._call("DELETE", f"/api/vhosts/{urllib.parse.quote(name, safe='')}")

    def vhosts(self) -> list[str]:
        listed = self._call("GET", "/api/vhosts?columns=name")
        return [entry["name"] for entry in listed] if isinstance(listed, list) else []

    def unacked(self, vhost: str) -> int:
        # The management API's figures are its statistics: up to a few seconds old.
        path = f"/api/vhosts/{urllib.parse.quote(vhost, safe='')}/channels"
        listed = self._call("GET", f"{path}?columns=messages_unacknowledged")
        entries = listed if isinstance(listed, list) else []
        return sum(int(entry.get("messages_unacknowledged", 0)) for entry in entries)

    def queue_types(self, vhost: str) -> dict[str, str]:
        path = f"/api/queues/{urllib.parse.quote(vhost, safe='')}?columns=name,type"
        listed = self._call("GET", path)
        entries = listed if isinstance(listed, list) else []
        return {str(entry["name"]): str(entry["type"]) for entry in entries}


def _amqp_answers() -> bool:
    parts = urllib.parse.urlsplit(RABBITMQ)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), 2):
            return True
    except OSError:
        return False


@lru_cache(maxsize=1)
def _admin() -> tuple[Admin | None, str]:
    """The first admin tool that works, or None and why none does."""
    if not _amqp_answers():
        return None, f"no RabbitMQ answers at {RABBITMQ} (scripts/ensure-rabbitmq.sh starts one)"
    problems = []
    if shutil.which("rabbitmqctl"):
        try:
            ctl = CtlAdmin()
            ctl.vhosts()
            return ctl, ""
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            problems.append(f"rabbitmqctl: {exc}")
    else:
        problems.append("rabbitmqctl: not installed")
    try:
        http = HttpAdmin()
        http.vhosts()
        return http, ""
    except (OSError, urllib.error.URLError, ValueError) as exc:
        problems.append(f"management API at {MANAGEMENT}: {exc}")
    return None, "cannot manage RabbitMQ vhosts: " + "; ".join(problems)


def admin() -> Admin:
    """The admin tool; without one the calling test fails, saying why (the RabbitMQ tests are
    part of the suite, like the Redis ones: `scripts/test.sh` starts a broker when none answers)."""
    tool, why = _admin()
    if tool is None:
        pytest.fail(why)
    if not _swept:
        _swept.append(True)
        _sweep_stale(tool)
    return tool


_swept: list[bool] = []


def _sweep_stale(tool: Admin) -> None:
    """Remove the vhosts of test runs that are gone (killed before they could clean up)."""
    for name in tool.vhosts():
        match = _OURS.match(name)
        if match and not _pid_alive(int(match.group(1))):
            with contextlib.suppress(RuntimeError, OSError):
                tool.delete_vhost(name)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def vhost_url(name: str) -> str:
    return f"{RABBITMQ.rstrip('/')}/{urllib.parse.quote(name, safe='')}"


@contextlib.contextmanager
def fresh_vhost(purpose: str) -> Iterator[str]:
    """A fresh vhost for the duration: yields its AMQP URL; removed (queues and all) after."""
    tool = admin()
    name = f"{_PREFIX}{os.getpid()}-{purpose}-{next(_counter)}"
    tool.add_vhost(name)
    try:
        yield vhost_url(name)
    finally:
        with contextlib.suppress(RuntimeError, OSError):
            tool.delete_vhost(name)


def ready_messages(url: str, queue: str) -> int:
    """Messages waiting on `queue` (delivered-but-unacked ones not counted); 0 if it does not
    exist yet."""
    with Connection(url, connect_timeout=5) as connection:
        try:
            return int(connection.channel().queue_declare(queue=queue, passive=True).message_count)
        except connection.channel_errors as exc:
            if getattr(exc, "reply_code", None) == 404:
                return 0
            raise


def vhost_of(url: str) -> str:
    return urllib.parse.unquote(urllib.parse.urlsplit(url).path.lstrip("/"))


def unacked_messages(url: str) -> int:
    """Messages delivered to a consumer of `url`'s vhost and not yet acked."""
    return admin().unacked(vhost_of(url))
