"""docker-compose.yml cannot run here (no Docker engine), so check what can be checked: every
service runs one exec-form command that refers to a module/app that exists in this repo."""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from eyeflow_worker.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
FLEET_SERVICES = ["gateway", "worker-interactive", "worker-batch", "beat", "flower"]


def test_the_fleet_has_every_service_with_health_checks() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"redis", *FLEET_SERVICES}
    for name in ("redis", "gateway", "worker-interactive", "worker-batch", "flower"):
        assert "healthcheck" in services[name], name
    assert "--appendonly" in services["redis"]["command"]
    assert "FLOWER_BASIC_AUTH" in services["flower"]["environment"]


@pytest.mark.parametrize("name", FLEET_SERVICES)
def test_each_command_is_exec_form_and_points_at_real_code(name: str) -> None:
    command = COMPOSE["services"][name]["command"]
    assert isinstance(command, list), "exec form, not a shell string"
    assert command[0] not in ("sh", "bash"), "one plain command, no shell chains"
    executable = command[0]
    assert shutil.which(executable, path=str(Path(sys.executable).parent)), executable
    if executable == "uvicorn":
        assert "--factory" in command
        target = next(arg for arg in command if ":" in arg and not arg.startswith("-"))
        module_name, attribute = target.split(":")
        assert callable(getattr(importlib.import_module(module_name), attribute))
    elif executable == "python":
        assert command[1] == "-m"
        module = importlib.import_module(command[2])
        assert callable(module.main)
        if command[2] == "eyeflow_worker.worker":
            from eyeflow_worker.worker import worker_argv

            argv = worker_argv(command[3], Settings(_env_file=None))  # type: ignore[call-arg]
            assert argv[0] == "worker"
            assert "--pool" in argv
    elif executable == "celery":
        app_module = command[command.index("-A") + 1]
        assert importlib.import_module(app_module).app.main == "eyeflow"
        subcommand = command[command.index("-A") + 2]
        assert subcommand in ("beat", "flower", "inspect")
        if subcommand == "flower":
            importlib.import_module("flower")
    else:
        pytest.fail(f"unexpected executable {executable}")


def test_the_image_copies_everything_the_commands_import() -> None:
    dockerfile = COMPOSE["x-fleet-image"]["build"]["dockerfile_inline"]
    for path in ("requirements.txt", "celeryconfig.py", "eyeflow_worker", "api_gateway"):
        assert f"COPY {path}" in dockerfile, path


def test_worker_health_checks_expand_the_hostname_and_shutdowns_are_graceful() -> None:
    for name in ("worker-interactive", "worker-batch"):
        service = COMPOSE["services"][name]
        test = service["healthcheck"]["test"]
        # `$$HOSTNAME` only becomes the container's name through a shell.
        assert test[0] == "CMD-SHELL"
        assert "$$HOSTNAME" in test[1]
        assert service["stop_grace_period"] == "30m"


def test_a_misconfigured_fleet_refuses_to_start() -> None:
    import os
    import subprocess

    from api_gateway.main import create_app
    from eyeflow_worker.core.errors import ConfigInvalid

    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "NESTJS_SERVER_URL": "http://127.0.0.1:1",
        "CACHE_ENCRYPTION_KEY": "",
        "REDIS_URL": "redis://127.0.0.1:6379/15",
        "PYTHONPATH": str(ROOT),
    }
    worker = subprocess.run(
        [sys.executable, "-m", "eyeflow_worker.worker", "interactive"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert worker.returncode != 0
    assert "CACHE_ENCRYPTION_KEY must be set" in worker.stderr
    # The same through Celery's own command line (what the fleet tests and Flower users run).
    celery_worker = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "eyeflow_worker.celery_app", "worker",
         "--pool", "threads", "--concurrency", "1", "--queues", "eyeflow.never-consumed"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )  # fmt: skip
    assert celery_worker.returncode != 0
    assert "eyeflow worker not started: CACHE_ENCRYPTION_KEY must be set" in (
        celery_worker.stdout + celery_worker.stderr
    )

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, environment="test", nestjs_server_url="http://127.0.0.1:1"
    )
    with pytest.raises(ConfigInvalid, match="CACHE_ENCRYPTION_KEY"):
        create_app(settings)
