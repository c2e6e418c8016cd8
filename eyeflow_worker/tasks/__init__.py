"""Celery tasks. Importing this package registers every task with the app."""

from eyeflow_worker.tasks import batch, economy, interactive, maintenance, webhook

__all__ = ["batch", "economy", "interactive", "maintenance", "webhook"]
