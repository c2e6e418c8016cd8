"""The workers' Celery application: `celery -A eyeflow_worker.celery_app worker|beat|flower`.

Celery's command line needs a module-level app, so this module builds one from the environment;
code that has its own Settings uses `core.celery_factory.create_celery_app` instead. A worker
builds its `Runtime` once, at start-up (`worker_init`), and every task is handed it.
"""

from __future__ import annotations

from typing import Any

from celery.exceptions import WorkerShutdown
from celery.signals import after_setup_logger, setup_logging, worker_init

from eyeflow_worker.core import celery_log_context
from eyeflow_worker.core.celery_factory import create_celery_app
from eyeflow_worker.core.errors import EyeflowError
from eyeflow_worker.core.logging_setup import configure_logging, quiet_chatty_loggers
from eyeflow_worker.core.settings import load_settings
from eyeflow_worker.runtime import runtime_of

settings = load_settings()
app = create_celery_app(settings)
# Every line a task logs names its job (task_id, tenant, kind, attempt): see LOG_FORMAT=json.
celery_log_context.connect()


@worker_init.connect
def _build_runtime(**_: Any) -> None:
    # At start-up rather than on the first job: a misconfiguration stops the worker at once.
    # (Celery logs and swallows an Exception from a signal handler; a WorkerShutdown — a
    # SystemExit — does stop it.)
    try:
        runtime_of(app, settings)
    except EyeflowError as exc:
        raise WorkerShutdown(f"eyeflow worker not started: {exc.message}") from None


@after_setup_logger.connect
def _quiet_sdk_loggers(**_: Any) -> None:
    # Celery configures the root logger itself; the SDK loggers still must never reach DEBUG.
    quiet_chatty_loggers()


def _json_logging(loglevel: int | str | None = None, **_: Any) -> None:
    # A `setup_logging` receiver replaces Celery's own set-up (worker, beat): one JSON handler
    # on the root, at the level of the command line's `-l`.
    configure_logging(
        settings, level=loglevel, context_filter=celery_log_context.WorkerLogContextFilter()
    )


if settings.log_format == "json":
    setup_logging.connect(_json_logging, weak=False)
    celery_log_context.say_in_json()
    # Now too, not only once Celery sets logging up: what it warns about before that (a worker
    # run as root) is a JSON line as well.
    _json_logging()
