"""Flower in `make up` is behind basic auth: `scripts/fleet.sh` takes FLOWER_BASIC_AUTH from the
environment or `.env`, else generates a password once and keeps it in the run directory; Flower
reads it from its environment, and refuses a request without it."""

from __future__ import annotations

import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.fleet.worker_process import ROOT, fleet_environment
from tests.ops.observed_fleet import REDIS_URL


def _script_in(tree: Path) -> Path:
    """fleet.sh in a scratch tree of its own, so its run directory is not the real fleet's."""
    (tree / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "fleet.sh", tree / "scripts" / "fleet.sh")
    return tree / "scripts" / "fleet.sh"


def _flower_auth(script: Path, **env: str) -> str:
    base = {k: v for k, v in os.environ.items() if k not in ("FLOWER_BASIC_AUTH", "FLEET_RUN_DIR")}
    done = subprocess.run(
        ["bash", str(script), "flower-auth"],
        capture_output=True,
        text=True,
        env={**base, **env},
        check=True,
    )
    return done.stdout.strip()


def test_a_password_is_generated_once_kept_private_and_reused(tmp_path: Path) -> None:
    script = _script_in(tmp_path)
    first = _flower_auth(script)
    assert re.fullmatch(r"admin:[A-Za-z0-9_-]{24}", first)
    assert _flower_auth(script) == first  # a re-run (or `make status`) shows the same one
    kept = tmp_path / ".run" / "flower-auth"
    assert kept.read_text().strip() == first
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    other = _script_in(tmp_path / "elsewhere")
    assert _flower_auth(other) != first  # generated, not a constant


def test_flower_basic_auth_from_the_environment_or_env_file_wins(tmp_path: Path) -> None:
    script = _script_in(tmp_path)
    assert _flower_auth(script, FLOWER_BASIC_AUTH="ops:from-env") == "ops:from-env"
    (tmp_path / ".env").write_text("LOG_LEVEL=INFO\nFLOWER_BASIC_AUTH=ops:from-dotenv\n")
    assert _flower_auth(script) == "ops:from-dotenv"
    assert not (tmp_path / ".run" / "flower-auth").exists()  # nothing generated then


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_flower_started_as_fleet_sh_starts_it_refuses_requests_without_the_password(
    tmp_path: Path,
) -> None:
    credentials = _flower_auth(_script_in(tmp_path))
    user, password = credentials.split(":", 1)
    port = _free_port()
    env = fleet_environment(REDIS_URL, {"FLOWER_BASIC_AUTH": credentials})
    log = tmp_path / "flower.log"
    with log.open("wb") as out:
        flower = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "eyeflow_worker.celery_app", "flower",
             "--address=127.0.0.1", f"--port={port}"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 30
        while True:
            assert flower.poll() is None, log.read_text()[-2000:]
            try:
                anonymous = httpx.get(url, timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "Flower did not answer within 30 s"
                time.sleep(0.2)
        assert anonymous.status_code == 401
        assert httpx.get(url, auth=(user, "wrong"), timeout=5).status_code == 401
        assert httpx.get(url, auth=(user, password), timeout=5).status_code == 200
        assert password not in log.read_text()
    finally:
        flower.terminate()
        flower.wait(timeout=20)
