"""What every task is declared with: the base class that hands it the process's `Runtime`, and
the retry options for infrastructure blips."""

from __future__ import annotations

from typing import Any

from celery import Task

from eyeflow_worker.celery_app import settings
from eyeflow_worker.core.celery_factory import TRANSIENT_INFRA_RETRY
from eyeflow_worker.runtime import Runtime, runtime_of


class RuntimeTask(Task):  # type: ignore[misc]  # Celery's Task is untyped
    @property
    def rt(self) -> Runtime:
        """The runtime installed on the app (built at worker start-up)."""
        return runtime_of(self.app, settings)


# `@app.task(name=..., **TASK_OPTIONS)`: bound (the body gets `self.rt`), retried on Redis and
# broker blips.
TASK_OPTIONS: dict[str, Any] = {"bind": True, "base": RuntimeTask, **TRANSIENT_INFRA_RETRY}
