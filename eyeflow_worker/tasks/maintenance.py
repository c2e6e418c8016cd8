"""Beat's tasks: keep every known tenant's configuration and context fresh, and queue the
webhooks a dead worker left in the outbox."""

from __future__ import annotations

from typing import Any

from eyeflow_worker.celery_app import app
from eyeflow_worker.core.routing import Tasks
from eyeflow_worker.core.webhook_outbox import OUTBOX_GRACE_SECONDS
from eyeflow_worker.tasks.base import TASK_OPTIONS, RuntimeTask


@app.task(name=Tasks.CONFIG_REFRESH_DUE, **TASK_OPTIONS)
def refresh_due_configs(self: RuntimeTask) -> dict[str, Any]:
    """Refresh tenants whose cached configuration or context expires before the next beat."""
    return self.rt.configs.refresh_due()


@app.task(name=Tasks.WEBHOOK_SWEEP, **TASK_OPTIONS)
def sweep_webhook_outbox(
    self: RuntimeTask, older_than_seconds: float = OUTBOX_GRACE_SECONDS
) -> int:
    """Queue the deliveries of jobs that ended but whose worker died before queueing them."""
    return self.rt.webhooks.sweep(older_than_seconds)
