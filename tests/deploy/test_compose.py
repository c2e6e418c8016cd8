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
    assert set(services) == {"redis", "rabbitmq", *FLEET_SERVICES}
    for name in ("redis", "rabbitmq", "gateway", "worker-interactive", "worker-batch", "flower"):
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


def _seconds(duration: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return float(duration[:-1]) * units[duration[-1]]


def test_worker_health_checks_expand_the_hostname_and_shutdowns_are_soft() -> None:
    soft = Settings(_env_file=None).worker_soft_shutdown_seconds  # type: ignore[call-arg]
    for name in ("worker-interactive", "worker-batch"):
        service = COMPOSE["services"][name]
        test = service["healthcheck"]["test"]
        # `$$HOSTNAME` only becomes the container's name through a shell.
        assert test[0] == "CMD-SHELL"
        assert "$$HOSTNAME" in test[1]
        # SIGTERM is Celery's soft shutdown; compose's SIGKILL comes only after it handed the
        # jobs still running back to the broker.
        environment = service["environment"]
        assert environment["REMAP_SIGTERM"] == "SIGQUIT"
        assert environment["REDIS_URL"] == COMPOSE["x-fleet-env"]["REDIS_URL"]
        assert _seconds(service["stop_grace_period"]) >= soft + 15


def test_a_misconfigured_fleet_refuses_to_start() -> None:
    import os
    import subprocess

    from pydantic import ValidationError

    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "WEBHOOK_SECRET": "whsec_ZXllZmxvdy10ZXN0LXdlYmhvb2stc2VjcmV0",
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
    assert "CACHE_ENCRYPTION_KEY must be set" in celery_worker.stdout + celery_worker.stderr

    # Outside dev, the settings themselves refuse to load without it, naming every secret
    # missing at once; in dev, the gateway refuses NestJS mode without it.
    with pytest.raises(ValidationError, match="WEBHOOK_SECRET, CACHE_ENCRYPTION_KEY must be set"):
        Settings(_env_file=None, environment="test", nestjs_server_url="http://127.0.0.1:1")  # type: ignore[call-arg]
    with pytest.raises(
        ValidationError, match="WEBHOOK_SECRET, CACHE_ENCRYPTION_KEY, GATEWAY_API_TOKEN must be"
    ):
        Settings(_env_file=None, environment="production")  # type: ignore[call-arg]


def test_rabbitmq_is_a_profile_the_fleet_can_be_pointed_at() -> None:
    services = COMPOSE["services"]
    rabbitmq = services["rabbitmq"]
    # Off by default: `docker compose up` is the Redis fleet; `--profile rabbitmq` adds it.
    assert rabbitmq["profiles"] == ["rabbitmq"]
    assert rabbitmq["image"].startswith("rabbitmq:")
    assert rabbitmq["hostname"] == "rabbitmq"  # its data lives under the node name
    assert "ports" not in rabbitmq  # reached inside the compose network only
    assert any(volume.endswith(":/var/lib/rabbitmq") for volume in rabbitmq["volumes"])
    assert "rabbitmq-data" in COMPOSE["volumes"]
    assert rabbitmq["healthcheck"]["test"][:2] == ["CMD", "rabbitmq-diagnostics"]
    # A job holds its message unacked up to the time limit: RabbitMQ must not time it out.
    erl_args = rabbitmq["environment"]["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"].split()
    timeout_ms = int(erl_args[erl_args.index("consumer_timeout") + 1])
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert timeout_ms >= defaults.visibility_timeout_seconds * 1000 > 0
    assert timeout_ms > defaults.task_time_limit_seconds * 1000
    # Every fleet process takes BROKER_URL from the environment, and waits for RabbitMQ only
    # when the profile runs it.
    assert COMPOSE["x-fleet-env"]["BROKER_URL"] == "${BROKER_URL:-}"
    dependency = COMPOSE["x-fleet-image"]["depends_on"]["rabbitmq"]
    assert dependency == {"condition": "service_healthy", "required": False}
    for name in FLEET_SERVICES:
        assert services[name]["environment"]["BROKER_URL"] == "${BROKER_URL:-}", name


def test_the_readme_says_how_to_run_the_rabbitmq_profile() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## RabbitMQ as the broker") :]
    assert "--profile rabbitmq" in section
    rabbitmq = COMPOSE["services"]["rabbitmq"]["environment"]
    user, vhost = rabbitmq["RABBITMQ_DEFAULT_USER"], rabbitmq["RABBITMQ_DEFAULT_VHOST"]
    # The URL the README gives names the service's own user, host and vhost.
    assert f"BROKER_URL=amqp://{user}:" in section
    assert f"@rabbitmq:5672/{vhost}" in section


def test_compose_is_safe_by_default() -> None:
    """Production unless told otherwise; no start without the three secrets (compose's own
    `:?` refusal names each); the gateway and Flower on the host's loopback unless opted in."""
    text = (ROOT / "docker-compose.yml").read_text()
    env = COMPOSE["x-fleet-env"]
    assert env["ENVIRONMENT"] == "${ENVIRONMENT:-production}"
    for name in ("GATEWAY_API_TOKEN", "WEBHOOK_SECRET", "CACHE_ENCRYPTION_KEY"):
        assert env[name].startswith("${" + name + ":?set " + name), name
    assert env["WEBHOOK_ALLOWED_HOSTS"] == "${WEBHOOK_ALLOWED_HOSTS:-}"  # no internal receivers
    assert env["LOG_FORMAT"] == "${LOG_FORMAT:-json}"  # what a log shipper reads
    services = COMPOSE["services"]
    assert services["gateway"]["ports"] == ["${GATEWAY_BIND:-127.0.0.1}:${GATEWAY_PORT:-8000}:8000"]
    assert services["flower"]["ports"] == ["${FLOWER_BIND:-127.0.0.1}:${FLOWER_PORT:-5555}:5555"]
    assert "FLOWER_BASIC_AUTH:?" in text
    assert "ports" not in services["redis"]  # Redis is never published on the host


def test_make_secrets_writes_what_compose_requires_and_never_rotates(tmp_path: Path) -> None:
    import subprocess

    target = tmp_path / ".env.compose"
    first = subprocess.run(
        ["bash", str(ROOT / "scripts/secrets.sh"), str(target)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    values = dict(line.split("=", 1) for line in target.read_text().splitlines())
    assert set(values) == {"GATEWAY_API_TOKEN", "OPERATOR_API_TOKEN", "WEBHOOK_SECRET",
                           "CACHE_ENCRYPTION_KEY", "FLOWER_BASIC_AUTH"}  # fmt: skip
    for value in values.values():
        assert value not in first.stdout  # names printed, never values
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        environment="production",
        **{name.lower(): value for name, value in values.items() if name != "FLOWER_BASIC_AUTH"},
    )
    assert settings.webhook_signing_secret.startswith("whsec_")
    subprocess.run(["bash", str(ROOT / "scripts/secrets.sh"), str(target)], check=True,
                   capture_output=True)  # fmt: skip
    assert dict(line.split("=", 1) for line in target.read_text().splitlines()) == values
    assert oct(target.stat().st_mode & 0o777) == "0o600"
