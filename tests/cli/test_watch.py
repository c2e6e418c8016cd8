"""`eyeflow batch submit` against a scripted gateway: results files, resume, exit codes,
Ctrl-C, `--mode`, the token, plain output when stdout is no terminal."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from typer.testing import CliRunner

from eyeflow_worker.cli import app
from tests.cli.fake_gateway import FakeGateway


def _file(tmp_path: Path, intents: list[str], name: str = "intents.txt") -> Path:
    path = tmp_path / name
    path.write_text("".join(f"{intent}\n" for intent in intents))
    return path


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _submit(runner: CliRunner, source: Path, tmp_path: Path, *extra: str):  # type: ignore[no-untyped-def]
    args = ["batch", "submit", str(source), "--out", str(tmp_path / "out.jsonl")]
    return runner.invoke(app, [*args, "--errors", str(tmp_path / "err.jsonl"), *extra])


def test_all_succeeded_writes_every_line_and_exits_0(
    runner: CliRunner, fake_gateway: FakeGateway, tmp_path: Path
) -> None:
    source = _file(tmp_path, [f"Alert when CPU > {50 + i}%" for i in range(10)])

    result = _submit(runner, source, tmp_path)

    assert result.exit_code == 0, result.output
    lines = _lines(tmp_path / "out.jsonl")
    assert [line["index"] for line in lines] == list(range(10))
    assert {line["status"] for line in lines} == {"succeeded"}
    assert len({line["batch_id"] for line in lines}) == 1
    assert not (tmp_path / "err.jsonl").exists()
    # Not a terminal: plain progress lines, no escape codes, and the cost summed from the items.
    assert "\x1b[" not in result.stdout
    assert "10/10 done · 0 failed" in result.stdout
    assert "$0.1000" in result.stdout
    assert "succeeded in" in result.stdout


def test_some_failed_go_to_the_errors_file_and_exit_1(
    runner: CliRunner, fake_gateway: FakeGateway, tmp_path: Path
) -> None:
    source = _file(tmp_path, ["ok 0", "FAIL 1", "ok 2", "FAIL 3", "ok 4"])

    result = _submit(runner, source, tmp_path)

    assert result.exit_code == 1, result.output
    assert [line["index"] for line in _lines(tmp_path / "out.jsonl")] == [0, 2, 4]
    errors = _lines(tmp_path / "err.jsonl")
    assert [line["index"] for line in errors] == [1, 3]
    assert errors[0]["error"]["code"] == "invalid_llm_output"
    assert "eyeflow batch retry" in result.stdout


def test_a_batch_whose_every_item_failed_exits_2(
    runner: CliRunner, fake_gateway: FakeGateway, tmp_path: Path
) -> None:
    result = _submit(runner, _file(tmp_path, ["FAIL a", "FAIL b"]), tmp_path)

    assert result.exit_code == 2
    assert "failed in" in result.stdout
    assert len(_lines(tmp_path / "err.jsonl")) == 2


def test_errors_default_beside_out(
    runner: CliRunner, fake_gateway: FakeGateway, tmp_path: Path
) -> None:
    source = _file(tmp_path, ["ok", "FAIL"])
    out = tmp_path / "results.jsonl"

    result = runner.invoke(app, ["batch", "submit", str(source), "--out", str(out)])

    assert result.exit_code == 1
    assert [line["index"] for line in _lines(tmp_path / "results.errors.jsonl")] == [1]


def test_a_rerun_resumes_the_same_batch_and_writes_only_missing_lines(
    runner: CliRunner, fake_gateway: FakeGateway, tmp_path: Path
) -> None:
    source = _file(tmp_path, [f"intent {i}" for i in range(12)])
    assert _submit(runner, source, tmp_path).exit_code == 0
    out = tmp_path / "out.jsonl"
    kept = out.read_text().splitlines()[:5]
    out.write_text("\n".join(kept) + "\n")

    result = _submit(runner, source, tmp_path)

    assert result.exit_code == 0, result.output
    assert "resuming batch" in result.stdout
    assert "(7 new)" in result.stdout
    assert sorted(line["index"] for line in _lines(out)) == list(range(12))
    submissions = fake_gateway.submissions()
    assert len(fake_gateway.batches) == 1
    key = submissions[0].headers["idempotency-key"]
    assert key == f"eyeflow-cli-{hashlib.sha256(source.read_bytes()).hexdigest()}"
    assert submissions[1].headers["idempotency-key"] == key


def test_a_line_cut_short_by_a_kill_is_written_again(
    runner: CliRunner, fake_gateway: FakeGateway, tmp_path: Path
) -> None:
    source = _file(tmp_path, [f"intent {i}" for i in range(4)])
    assert _submit(runner, source, tmp_path).exit_code == 0
    out = tmp_path / "out.jsonl"
    text = out.read_text().splitlines()
    out.write_text("\n".join(text[:2]) + "\n" + text[2][:15])  # no newline: a torn last line

    assert _submit(runner, source, tmp_path).exit_code == 0

    lines = out.read_text().splitlines()
    assert lines[2] == text[2][:15]  # the torn line is left as it was, on a line of its own
    assert sorted(json.loads(line)["index"] for line in lines[:2] + lines[3:]) == [0, 1, 2, 3]


def test_ctrl_c_stops_watching_and_says_how_to_resume(
    runner: CliRunner, fake_gateway: FakeGateway, tmp_path: Path
) -> None:
    fake_gateway.step = 2
    fake_gateway.interrupt_on_poll = 3
    source = _file(tmp_path, [f"intent {i}" for i in range(10)])

    interrupted = _submit(runner, source, tmp_path)

    assert interrupted.exit_code == 130
    assert "keeps running" in interrupted.stderr
    assert f"resume with: eyeflow batch submit {source} --out" in interrupted.stderr
    written = len(_lines(tmp_path / "out.jsonl"))
    assert 0 < written < 10

    fake_gateway.interrupt_on_poll = None
    resumed = _submit(runner, source, tmp_path)

    assert resumed.exit_code == 0, resumed.output
    assert f"({10 - written} new)" in resumed.stdout
    assert sorted(line["index"] for line in _lines(tmp_path / "out.jsonl")) == list(range(10))


def test_an_output_file_of_another_batch_is_refused(
    runner: CliRunner, fake_gateway: FakeGateway, tmp_path: Path
) -> None:
    assert _submit(runner, _file(tmp_path, ["a", "b"], "one.txt"), tmp_path).exit_code == 0

    result = _submit(runner, _file(tmp_path, ["c", "d"], "two.txt"), tmp_path)

    assert result.exit_code == 2
    assert "holds a result of batch" in result.stderr


def test_mode_is_sent_only_when_given_and_a_422_on_it_is_explained(
    runner: CliRunner, fake_gateway: FakeGateway, tmp_path: Path
) -> None:
    source = _file(tmp_path, ["a"])
    assert _submit(runner, source, tmp_path).exit_code == 0
    fake_gateway.accepts_mode = False

    result = _submit(runner, source, tmp_path, "--mode", "economy")

    assert result.exit_code == 2
    assert "does not accept --mode yet" in result.stderr
    assert "mode: Extra inputs are not permitted" in result.stderr
    bodies = [json.loads(r.content) for r in fake_gateway.submissions()]
    assert bodies == [{"intents": ["a"]}, {"intents": ["a"], "mode": "economy"}]
    keys = [r.headers["idempotency-key"] for r in fake_gateway.submissions()]
    assert keys[1] == keys[0] + "-economy"


def test_token_and_tenant_are_sent_and_a_refused_token_is_never_printed(
    runner: CliRunner, fake_gateway: FakeGateway, tmp_path: Path
) -> None:
    fake_gateway.token = "right-token"
    source = _file(tmp_path, ["a"])

    refused = runner.invoke(
        app, ["--token", "wrong-SECRET", "batch", "submit", str(source), "--out", "o.jsonl"]
    )
    accepted = runner.invoke(
        app,
        ["batch", "submit", str(source), "--out", str(tmp_path / "o.jsonl")],
        env={"EYEFLOW_TOKEN": "right-token", "EYEFLOW_TENANT": "acme"},
    )

    assert refused.exit_code == 2
    assert "token refused — set EYEFLOW_TOKEN" in refused.stderr
    assert "wrong-SECRET" not in refused.output
    assert accepted.exit_code == 0, accepted.output
    assert "right-token" not in accepted.output
    last = fake_gateway.requests[-1]
    assert last.headers["authorization"] == "Bearer right-token"
    assert last.headers["x-user-id"] == "acme"


def test_retry_prints_how_many_were_requeued(
    runner: CliRunner, fake_gateway: FakeGateway, tmp_path: Path
) -> None:
    assert _submit(runner, _file(tmp_path, ["ok", "FAIL"]), tmp_path).exit_code == 1
    (batch_id,) = fake_gateway.batches

    result = runner.invoke(app, ["batch", "retry", batch_id])

    assert result.exit_code == 0, result.output
    assert "requeued 1 failed items" in result.stdout
    assert "running" in result.stdout


def test_results_status_failed_writes_only_failed_items(
    runner: CliRunner, fake_gateway: FakeGateway, tmp_path: Path
) -> None:
    assert _submit(runner, _file(tmp_path, ["ok", "FAIL", "ok"]), tmp_path).exit_code == 1
    (batch_id,) = fake_gateway.batches
    failed = tmp_path / "failed.jsonl"

    result = runner.invoke(
        app, ["batch", "results", batch_id, "--status", "failed", "--out", str(failed)]
    )

    assert result.exit_code == 0, result.output
    assert [line["index"] for line in _lines(failed)] == [1]
    assert fake_gateway.requests[-1].url.params["status"] == "failed"
