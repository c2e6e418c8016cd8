"""The `eyeflow` command against a real fleet: the gateway under uvicorn on a loopback port,
real Redis (database 8) and real Celery workers serving the embedded offline provider."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eyeflow_worker.cli import app
from eyeflow_worker.client import EyeflowClient

pytestmark = pytest.mark.fleet

METRICS = ["CPU", "memory", "disk usage", "error rate", "latency"]


def _intents(count: int, tag: str) -> list[str]:
    return [
        f"Alert the team when {METRICS[i % len(METRICS)]} exceeds {50 + i % 40}% ({tag} {i})"
        for i in range(count)
    ]


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _submit(runner: CliRunner, url: str, source: Path, out: Path):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["--url", url, "batch", "submit", str(source), "--out", str(out)])


def test_submit_writes_a_line_per_intent_and_a_rerun_writes_only_missing_lines(
    runner: CliRunner, gateway_url: str, tmp_path: Path
) -> None:
    intents = _intents(50, "e2e")
    source = tmp_path / "intents.txt"
    source.write_text("\n".join(intents) + "\n")
    out = tmp_path / "results.jsonl"

    first = _submit(runner, gateway_url, source, out)

    assert first.exit_code == 0, first.output
    assert "submitted batch" in first.stdout
    assert "50/50 done · 0 failed" in first.stdout
    assert "\x1b[" not in first.stdout  # not a terminal: plain lines
    lines = _lines(out)
    assert sorted(line["index"] for line in lines) == list(range(50))
    by_index = {line["index"]: line for line in lines}
    assert [by_index[i]["intent"] for i in range(50)] == intents
    assert all(line["workflow_rules"]["rules"] for line in lines)
    assert all(line["provider"] == "offline" and line["cost_usd"] == 0.0 for line in lines)
    assert not (tmp_path / "results.errors.jsonl").exists()

    out.write_text("".join(json.dumps(line) + "\n" for line in lines[:20]))
    again = _submit(runner, gateway_url, source, out)

    assert again.exit_code == 0, again.output
    assert f"resuming batch {lines[0]['batch_id']}" in again.stdout
    assert "(30 new)" in again.stdout
    assert sorted(line["index"] for line in _lines(out)) == list(range(50))


def test_jsonl_submit_then_status_and_results(
    runner: CliRunner, gateway_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "intents.jsonl"
    source.write_text("".join(json.dumps({"intent": i}) + "\n" for i in _intents(7, "jsonl")))
    out = tmp_path / "out.jsonl"
    assert _submit(runner, gateway_url, source, out).exit_code == 0
    batch_id = _lines(out)[0]["batch_id"]

    status = runner.invoke(app, ["--url", gateway_url, "batch", "status", batch_id])
    as_json = runner.invoke(app, ["--url", gateway_url, "batch", "status", batch_id, "--json"])
    results = runner.invoke(app, ["--url", gateway_url, "batch", "results", batch_id])
    failed = runner.invoke(
        app, ["--url", gateway_url, "batch", "results", batch_id, "--status", "failed"]
    )

    assert status.exit_code == 0
    assert f"batch {batch_id}: succeeded — 7/7 done" in status.stdout
    assert json.loads(as_json.stdout)["progress"]["succeeded"] == 7
    assert [json.loads(line)["index"] for line in results.stdout.splitlines()] == list(range(7))
    assert failed.exit_code == 0
    assert failed.stdout == ""


def test_cancel_a_running_batch_then_cancel_again_is_a_conflict(
    runner: CliRunner, gateway_url: str
) -> None:
    with EyeflowClient(gateway_url) as client:
        batch_id = client.submit_batch(_intents(1500, "cancel")).task_id

    cancelled = runner.invoke(app, ["--url", gateway_url, "batch", "cancel", batch_id])
    again = runner.invoke(app, ["--url", gateway_url, "batch", "cancel", batch_id])

    assert cancelled.exit_code == 0, cancelled.output
    assert f"batch {batch_id}: cancelled" in cancelled.stdout
    assert again.exit_code == 2
    assert "conflict" in again.stderr
    assert "cancelled" in again.stderr


def test_unknown_task_is_a_404_message(runner: CliRunner, gateway_url: str) -> None:
    missing = "00000000-0000-4000-8000-000000000000"

    result = runner.invoke(app, ["--url", gateway_url, "batch", "status", missing])

    assert result.exit_code == 2
    assert f"task {missing} not found for tenant 'system'" in result.stderr


def test_generate_prints_the_rules_json(runner: CliRunner, gateway_url: str) -> None:
    result = runner.invoke(
        app,
        ["--url", gateway_url, "generate", "Alert team when database memory exceeds 85%"],
    )

    assert result.exit_code == 0, result.output
    rules = json.loads(result.stdout)
    assert rules["rules"][0]["condition"] == "$metrics.db_memory_percent > 85"


def test_a_422_from_the_gateway_names_the_field(runner: CliRunner, gateway_url: str) -> None:
    result = runner.invoke(app, ["--url", gateway_url, "generate", "x" * 4001])

    assert result.exit_code == 2
    assert "(422): user_intent:" in result.stderr
