"""Starting, waiting on and stopping the fleet processes a benchmark runs (shared by benches).

Scripts in bench/ run as `python bench/<name>.py`, so this module is imported as `processes`.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def gateway_command(port: int) -> list[str]:
    """The gateway as the fleet runs it (uvicorn, app factory), quiet, on `port`."""
    return [
        sys.executable, "-m", "uvicorn", "--factory", "api_gateway.main:create_app",
        "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def stop(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def wait_until(
    check: Callable[[], object],
    processes: Sequence[subprocess.Popen[bytes]] = (),
    seconds: float = 60,
    logs: str = "/tmp/eyeflow-*bench-*.log",
) -> None:
    """Poll `check` until it is truthy; stop early, clearly, if a process died meanwhile."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        dead = [p for p in processes if p.poll() is not None]
        if dead:
            raise SystemExit(f"{dead[0].args} exited with {dead[0].returncode}; see {logs}")
        try:
            if check():
                return
        except (httpx.HTTPError, OSError, KeyError, ValueError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"a bench process did not become ready; see {logs}")
