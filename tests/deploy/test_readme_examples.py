"""The README's "Examples, one per job kind" run as written: each marked block is run with bash
(or, the receiver, with Python) against a real gateway (uvicorn, a subprocess) and real Celery
workers on the offline provider with no token — the fleet `make up` starts — with only the
gateway's base URL (and the receiver's port) rewritten, and its output is held against the
output the README shows (`readme_blocks.py` says how `…` reads)."""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from eyeflow_worker.webhook_delivery import sign_delivery
from tests.deploy.readme_blocks import Examples, parse_stream, read_examples, stream_mismatches
from tests.deploy.readme_fleet import readme_environment, running_fleet
from tests.fleet.worker_process import ROOT

README = ROOT / "README.md"
BASE_URL = "http://127.0.0.1:8000"
RECEIVER_ADDRESS = "127.0.0.1:9000"
JOB_KINDS = ("generate", "batch", "evaluate", "refine", "cancel")
# Counts that depend on how far the batch got in the example's `sleep 1`: their type is compared.
VARYING = {"cancel": frozenset({"progress.succeeded", "progress.cancelled"})}


@pytest.fixture(scope="module")
def examples() -> Examples:
    return read_examples(README)


@pytest.fixture(scope="module")
def fleet_env() -> dict[str, str]:
    return readme_environment()


@pytest.fixture(scope="module")
def gateway(fleet_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_fleet(fleet_env, tmp_path_factory.mktemp("readme-fleet")) as url:
        yield url


def run_bash(block: str, cwd: Path, **addresses: str) -> str:
    """The block as a script (`-euo pipefail`: a failing step fails it), the README's addresses
    replaced by the test's; its stdout."""
    for readme_address, test_address in addresses.items():
        block = block.replace(readme_address, test_address)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": f"/usr/bin:/bin:{os.environ.get('PATH', '')}"},
    )
    assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_readme_has_an_example_with_its_output_for_every_job_kind(examples: Examples) -> None:
    assert sorted(examples.code) == sorted(
        [*JOB_KINDS, "webhook-receiver", "webhook", "webhook-forged"]
    )
    assert sorted(examples.shown) == sorted(examples.code)
    assert examples.code["webhook-receiver"].lang == "python"
    assert {examples.code[name].lang for name in examples.code} - {"python"} == {"bash"}
    assert shutil.which("curl"), "the examples need curl"
    assert shutil.which("jq"), "the examples need jq"


@pytest.mark.parametrize("kind", JOB_KINDS)
def test_the_example_runs_and_prints_what_the_readme_shows(
    kind: str, examples: Examples, gateway: str, tmp_path: Path
) -> None:
    printed = run_bash(examples.code[kind].body, tmp_path, **{BASE_URL: gateway})

    problems = stream_mismatches(examples.shown[kind].body, printed, VARYING.get(kind, frozenset()))
    assert problems == [], "\n".join(problems)


class Receiver:
    """The README's receiver.py, run as the README says, on a free loopback port."""

    def __init__(self, code: str, secret: str, directory: Path) -> None:
        script = directory / "receiver.py"
        script.write_text(code)
        with socket.socket() as probe:  # a free port; the receiver binds it a moment later
            probe.bind(("127.0.0.1", 0))
            self.address = f"127.0.0.1:{probe.getsockname()[1]}"
        env = {**os.environ, "WEBHOOK_SECRET": secret, "PYTHONUNBUFFERED": "1"}
        self._process = subprocess.Popen(
            [sys.executable, str(script), self.address.split(":")[1]],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        assert self._process.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self._process.stdout,))
        self._reader.start()
        self._wait_listening()

    def _read(self, stdout: IO[str]) -> None:
        for line in stdout:
            self._lines.put(line)

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self._process.poll() is None, f"receiver exited: {self.next_line(0.5)}"
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            time.sleep(0.05)
        raise AssertionError("the README's receiver did not listen within 10 s")

    @property
    def port(self) -> int:
        return int(self.address.split(":")[1])

    def next_line(self, timeout: float = 20) -> str:
        return self._lines.get(timeout=timeout)

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)
        self._reader.join(timeout=10)  # it ends at the pipe's end of file
        assert self._process.stdout is not None
        self._process.stdout.close()


@pytest.fixture
def receiver(examples: Examples, fleet_env: dict[str, str], tmp_path: Path) -> Iterator[Receiver]:
    r = Receiver(examples.code["webhook-receiver"].body, fleet_env["WEBHOOK_SECRET"], tmp_path)
    yield r
    r.stop()


def test_the_receiver_verifies_the_fleets_webhook_and_refuses_a_forged_one(
    examples: Examples, gateway: str, receiver: Receiver, tmp_path: Path
) -> None:
    addresses = {BASE_URL: gateway, RECEIVER_ADDRESS: receiver.address}
    submitted = run_bash(examples.code["webhook"].body, tmp_path, **addresses)
    verified = receiver.next_line()
    forged = run_bash(examples.code["webhook-forged"].body, tmp_path, **addresses)
    refused = receiver.next_line()

    assert stream_mismatches(examples.shown["webhook"].body, submitted, frozenset()) == []
    assert stream_mismatches(examples.shown["webhook-forged"].body, forged, frozenset()) == []
    problems = stream_mismatches(
        examples.shown["webhook-receiver"].body, verified + refused, frozenset()
    )
    assert problems == [], "\n".join(problems)
    # The delivery it verified is the job the example submitted, and the fleet saw it taken.
    task_id = parse_stream(submitted)[0]["task_id"]
    assert parse_stream(verified)[0]["task_id"] == task_id
    task = httpx.get(f"{gateway}/api/tasks/{task_id}").json()
    assert task["webhook"]["status"] == "delivered"


def test_the_receiver_refuses_a_signed_delivery_whose_body_was_changed(
    receiver: Receiver, fleet_env: dict[str, str]
) -> None:
    payload: dict[str, Any] = {"task_id": "t-1", "kind": "generate", "status": "succeeded"}
    signed = sign_delivery(fleet_env["WEBHOOK_SECRET"], "msg_t-1_succeeded", payload)
    url = f"http://{receiver.address}/hooks/eyeflow"
    tampered = signed.body.replace('"succeeded"', '"failed"')

    refused = httpx.post(url, content=tampered, headers=signed.headers)
    refusal = receiver.next_line()
    accepted = httpx.post(url, content=signed.body, headers=signed.headers)
    acceptance = receiver.next_line()

    assert tampered != signed.body
    assert (refused.status_code, parse_stream(refusal)) == (
        401,
        [{"refused": "No matching signature found"}],
    )
    assert (accepted.status_code, parse_stream(acceptance)) == (
        204,
        [
            {
                "event": "msg_t-1_succeeded",
                "task_id": "t-1",
                "kind": "generate",
                "status": "succeeded",
            }
        ],
    )


def test_the_comparison_refuses_what_the_readme_does_not_show() -> None:
    shown = '{"task_id":"67a377e6-…","status":"queued","n":[1,"…"]}\n…\n{"status":"succeeded"}'
    task_id = "981a66de-941f-4614-9e76-a6c93bdae501"
    printed = f'{{"task_id":"{task_id}","status":"queued","n":[1,2,3]}}\n{{"status":"running"}}\n'

    assert stream_mismatches(shown, printed + '{"status":"succeeded"}', frozenset()) == []
    assert stream_mismatches(shown, printed + '{"status":"failed"}', frozenset()) != []
    assert stream_mismatches(shown, printed + '{"status":"succeeded","x":1}', frozenset()) != []
    assert stream_mismatches(shown, printed.replace("[1,", "[0,"), frozenset()) != []
    not_a_uuid = printed.replace("981a66de-941f-4614-9e76-a6c93bdae501", "981a66de-x")
    assert stream_mismatches(shown, not_a_uuid + '{"status":"succeeded"}', frozenset()) != []
    counted = '{"progress":{"succeeded":42}}'
    assert stream_mismatches(counted, '{"progress":{"succeeded":7}}', frozenset()) != []
    varying = frozenset({"progress.succeeded"})
    assert stream_mismatches(counted, '{"progress":{"succeeded":7}}', varying) == []
    assert stream_mismatches(counted, '{"progress":{"succeeded":"7"}}', varying) != []
