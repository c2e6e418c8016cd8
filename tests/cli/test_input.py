"""Bad intents files are refused before anything is sent: each problem names its line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eyeflow_worker.cli import app
from tests.cli.fake_gateway import FakeGateway


def _submit(runner: CliRunner, source: Path, tmp_path: Path) -> tuple[int, str]:
    result = runner.invoke(app, ["batch", "submit", str(source), "--out", str(tmp_path / "o")])
    return result.exit_code, result.stderr


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.txt", "", "the file is empty"),
        ("blank.txt", "Alert on CPU > 90%\n\nPage when disk > 95%\n", "blank.txt:2: blank line"),
        ("spaces.txt", "Alert on CPU > 90%\n   \n", "spaces.txt:2: blank line"),
        ("long.txt", "ok\n" + "x" * 4001 + "\n", "long.txt:2: the intent is 4001 characters"),
        ("bad.jsonl", '{"intent": "ok"}\n{"intent": \n', "bad.jsonl:2: not JSON"),
        ("shape.jsonl", '{"intent": "ok"}\n["ok"]\n', "shape.jsonl:2: expected an object"),
        ("empty.jsonl", '{"intent": "  "}\n', "empty.jsonl:1: the intent is blank"),
    ],
)
def test_bad_input_names_the_line_and_submits_nothing(
    runner: CliRunner,
    fake_gateway: FakeGateway,
    tmp_path: Path,
    name: str,
    content: str,
    message: str,
) -> None:
    source = tmp_path / name
    source.write_text(content)

    code, stderr = _submit(runner, source, tmp_path)

    assert code == 2
    assert message in stderr
    assert "nothing was submitted" in stderr
    assert fake_gateway.requests == []
    assert not (tmp_path / "o").exists()


def test_more_intents_than_the_gateway_takes_is_refused(
    runner: CliRunner, fake_gateway: FakeGateway, tmp_path: Path
) -> None:
    source = tmp_path / "many.txt"
    source.write_text("".join(f"intent {i}\n" for i in range(5001)))

    code, stderr = _submit(runner, source, tmp_path)

    assert code == 2
    assert "5001 intents, over the gateway's limit of 5000" in stderr
    assert fake_gateway.requests == []


def test_every_problem_is_listed_up_to_a_bound(
    runner: CliRunner, fake_gateway: FakeGateway, tmp_path: Path
) -> None:
    source = tmp_path / "holes.txt"
    source.write_text("ok\n" + "\n" * 30 + "ok\n")

    code, stderr = _submit(runner, source, tmp_path)

    assert code == 2
    assert "holes.txt:2: blank line" in stderr
    assert "holes.txt:21: blank line" in stderr
    assert "… and 10 more" in stderr


def test_a_missing_file_is_a_clear_error(runner: CliRunner, tmp_path: Path) -> None:
    code, stderr = _submit(runner, tmp_path / "nope.txt", tmp_path)

    assert code == 2
    assert "cannot read" in stderr
    assert "nope.txt" in stderr


def test_jsonl_and_txt_of_the_same_intents_submit_the_same_intents(
    runner: CliRunner, fake_gateway: FakeGateway, tmp_path: Path
) -> None:
    intents = ["Alert on CPU > 90%", "Page when disk > 95%"]
    (tmp_path / "a.txt").write_text("\n".join(intents) + "\n")
    (tmp_path / "a.jsonl").write_text("".join(json.dumps({"intent": i}) + "\n" for i in intents))

    for name in ("a.txt", "a.jsonl"):
        result = runner.invoke(
            app, ["batch", "submit", str(tmp_path / name), "--out", str(tmp_path / f"{name}.out")]
        )
        assert result.exit_code == 0, result.output

    bodies = [json.loads(r.content) for r in fake_gateway.submissions()]
    assert bodies == [{"intents": intents}, {"intents": intents}]
