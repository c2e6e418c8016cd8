"""The Celery application. `celery -A eyeflow_worker.celery_app worker|beat|flower` starts here."""

from __future__ import annotations

from celery import Celery

from celeryconfig import celery_config
from eyeflow_worker.settings import Settings, get_settings

TASK_MODULES = ["eyeflow_worker.tasks"]


def create_celery_app(settings: Settings, *, include_tasks: bool = True) -> Celery:
    """A Celery app configured from `settings`.

    The gateway builds one with `include_tasks=False`: it only sends tasks by name, so it never
    imports provider code and never calls an LLM.
    """
    celery = Celery("eyeflow", include=TASK_MODULES if include_tasks else [])
    celery.conf.update(celery_config(settings))
    return celery


app = create_celery_app(get_settings())
