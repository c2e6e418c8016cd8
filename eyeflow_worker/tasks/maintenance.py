"""Beat's tasks: keep every known tenant's configuration and context fresh, queue the webhooks a
dead worker left in the outbox, tick the batch admission scheduler, and re-send the economy
polls and submits whose message was lost, and send again the jobs whose worker died (leases)."""

from __future__ import annotations

from typing import Any

from eyeflow_worker.celery_app import app
from eyeflow_worker.core.routing import Tasks
from eyeflow_worker.core.webhook_outbox import OUTBOX_GRACE_SECONDS
from eyeflow_worker.tasks.base import TASK_OPTIONS, RuntimeTask
from eyeflow_worker.tasks.batch import admission_tick
from eyeflow_worker.tasks.economy_sweep import sweep_overdue_polls
from eyeflow_worker.tasks.leasing import reap


@app.task(name=Tasks.CONFIG_REFRESH_DUE, **TASK_OPTIONS)
def refresh_due_configs(self: RuntimeTask, horizon_seconds: float | None = None) -> dict[str, Any]:
    """Refresh tenants whose cached configuration or context expires before the next beat, or
    within `horizon_seconds` (an operator's refresh of every tenant passes years: all are due)."""
    return self.rt.configs.refresh_due(horizon_seconds)


@app.task(name=Tasks.WEBHOOK_SWEEP, **TASK_OPTIONS)
def sweep_webhook_outbox(
    self: RuntimeTask, older_than_seconds: float = OUTBOX_GRACE_SECONDS
) -> int:
    """Queue the deliveries of jobs that ended but whose worker died before queueing them."""
    return self.rt.webhooks.sweep(older_than_seconds)


@app.task(name=Tasks.BATCH_ADMIT, **TASK_OPTIONS)
def admit_batch_items(self: RuntimeTask) -> dict[str, int]:
    """Admission's safety net (workers admit on every start and release): prune ended batches,
    re-send items a dead claimer left unsent, admit what the caps allow."""
    return admission_tick(self.rt)


@app.task(name=Tasks.ECONOMY_SWEEP, **TASK_OPTIONS)
def sweep_economy_polls(self: RuntimeTask) -> int:
    """Send the polls and submits of economy batches still running whose chain broke (a lost
    message: the poll or submit is overdue); how many were sent."""
    return sweep_overdue_polls(self.rt, self.app)


@app.task(name=Tasks.LEASE_REAP, **TASK_OPTIONS)
def reap_leases(self: RuntimeTask) -> int:
    """Send again the jobs whose lease expired with their worker gone (`tasks.leasing`)."""
    return reap(self.rt, self.app)
