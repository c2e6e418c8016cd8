"""The workers' Celery application: `celery -A eyeflow_worker.celery_app worker|beat|flower`.

Celery's command line needs a module-level app, so this module builds one from the environment;
code that has its own Settings uses `celery_factory.create_celery_app` instead.
"""

from __future__ import annotations

from typing import Any

from celery.signals import after_setup_logger

from eyeflow_worker.core.celery_factory import create_celery_app
from eyeflow_worker.core.logging_setup import quiet_chatty_loggers
from eyeflow_worker.core.settings import get_settings

app = create_celery_app(get_settings())


@after_setup_logger.connect
def _quiet_sdk_loggers(**_: Any) -> None:
    # Celery configures the root logger itself; the SDK loggers still must never reach DEBUG.
    quiet_chatty_loggers()
