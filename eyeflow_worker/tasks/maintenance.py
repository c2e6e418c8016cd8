"""The beat task that keeps every known tenant's configuration and context fresh."""

from __future__ import annotations

from typing import Any

from eyeflow_worker.celery_app import app
from eyeflow_worker.core.celery_factory import TRANSIENT_INFRA_RETRY
from eyeflow_worker.runtime import runtime


@app.task(name="eyeflow.config.refresh_due", **TRANSIENT_INFRA_RETRY)
def refresh_due_configs() -> dict[str, Any]:
    """Refresh tenants whose cached configuration or context expires before the next beat."""
    return runtime().configs.refresh_due()
