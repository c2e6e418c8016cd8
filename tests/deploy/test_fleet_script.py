"""`make status` and `make down` answer the way an operator scripts them: status exits 0 (with
"not running" when nothing runs), down returns only once its processes are gone."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _copy_of_the_script(tmp_path: Path) -> Path:
    """fleet.sh in a scratch tree of its own, so its `.run/` is not the real fleet's."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "fleet.sh", tmp_path / "scripts" / "fleet.sh")
    return tmp_path / "scripts" / "fleet.sh"


def test_status_with_nothing_running_says_so_and_exits_0(tmp_path: Path) -> None:
    script = _copy_of_the_script(tmp_path)
    done = subprocess.run(["bash", str(script), "status"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "fleet not running" in done.stdout


def test_down_waits_until_its_processes_have_exited(tmp_path: Path) -> None:
    script = _copy_of_the_script(tmp_path)
    run = tmp_path / ".run"
    run.mkdir()
    # A process that takes a moment to stop on SIGTERM, as a worker's soft shutdown does;
    # started detached (as `make up` starts the fleet), so no zombie outlives it here.
    spawn = subprocess.run(
        ["bash", "-c", "nohup bash -c \"trap 'sleep 1; exit 0' TERM; "
         "while true; do sleep 0.1; done\" >/dev/null 2>&1 & echo $!"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    pid = int(spawn.stdout.strip())
    (run / "worker.pid").write_text(str(pid))
    time.sleep(0.3)
    started = time.monotonic()
    done = subprocess.run(["bash", str(script), "down"], capture_output=True, text=True,
                          env={**os.environ})  # fmt: skip
    assert done.returncode == 0, done.stderr
    took = time.monotonic() - started
    assert 0.9 <= took < 10  # it waited for the trap to finish, not for the SIGKILL deadline
    gone = subprocess.run(["kill", "-0", str(pid)], capture_output=True)
    assert gone.returncode != 0  # gone when `down` returned
    assert "all stopped" in done.stdout
