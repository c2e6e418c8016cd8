"""A client generated from our OpenAPI by a standard generator (openapi-python-client) builds
without a warning, passes mypy --strict, imports, and reads a real answer of the real gateway
(the fleet of `conftest.py`): NestJS, or anyone, can generate their client from us.

The schema is the one of a gateway with every credential configured (bearer security scheme,
the 401/403 of each route), the richest it gets. Offline: no metadata project (`--meta none`),
no post hooks (no formatter run), nothing fetched."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from api_gateway.main import create_app
from eyeflow_worker.core.settings import Settings

pytestmark = pytest.mark.fleet

PACKAGE = "eyeflow_api_client"
BIN = Path(sys.executable).parent


def _run(*command: str | Path, cwd: Path) -> str:
    done = subprocess.run(
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def _generate(env: dict[str, str], where: Path) -> Path:
    secured = Settings(
        _env_file=None,  # type: ignore[call-arg]
        **{k.lower(): v for k, v in env.items() if k.lower() in Settings.model_fields},
        gateway_api_token="s" * 40,
        operator_api_token="o" * 40,
        gateway_jwt_secret="j" * 40,
    )
    spec = where / "openapi.json"
    spec.write_text(json.dumps(create_app(secured).openapi()))
    config = where / "generator.yaml"
    config.write_text(f"post_hooks: []\npackage_name_override: {PACKAGE}\n")
    output = _run(
        BIN / "openapi-python-client",
        "generate",
        "--path",
        spec,
        "--meta",
        "none",
        "--output-path",
        where / PACKAGE,
        "--config",
        config,
        "--fail-on-warning",
        cwd=where,
    )
    assert "Warning" not in output, output
    return where / PACKAGE


def test_a_generated_client_type_checks_and_reads_the_real_gateway(
    gateway_url: str, cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = _generate(cli_env, tmp_path)
    assert (package / "api" / "jobs" / "submit_generate.py").exists()  # hand-named operation ids

    # No project config (`--config-file=`): the generated code is held to --strict alone.
    _run(
        BIN / "mypy",
        "--strict",
        "--config-file=",
        "--cache-dir",
        tmp_path / ".mypy",
        PACKAGE,
        cwd=tmp_path,
    )

    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        task = _evaluate_with_the_generated_client(gateway_url)
    finally:
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]

    assert task["status"] == "succeeded"
    assert task["result"] == {"result": True, "method": "deterministic", "cls": "EvaluateResult"}


def _evaluate_with_the_generated_client(url: str) -> dict[str, Any]:
    client_module = importlib.import_module(f"{PACKAGE}.client")
    submit = importlib.import_module(f"{PACKAGE}.api.jobs.submit_evaluate")
    models = importlib.import_module(f"{PACKAGE}.models")
    body = models.EvaluateRequest(
        condition="$metrics.cpu > 80",
        context=models.EvaluateRequestContext.from_dict({"metrics": {"cpu": 93}}),
    )
    # An open gateway (the fleet's) takes any bearer value; the secured schema asks for one.
    client = client_module.AuthenticatedClient(base_url=url, token="unused", timeout=30.0)
    with client:
        answer = submit.sync_detailed(client=client, body=body, wait=20.0)
    assert answer.status_code == 200, answer.content
    task = answer.parsed
    assert isinstance(task, models.TypedTaskView), type(task)
    result = task.result
    assert isinstance(result, models.EvaluateResult), type(result)
    return {
        "status": str(task.status.value),
        "result": {
            "result": result.result,
            "method": str(result.method.value),
            "cls": type(result).__name__,
        },
    }
