"""Celery tasks. Importing this package registers every task with the app."""

from eyeflow_worker.tasks import batch, interactive, maintenance, webhook

__all__ = ["batch", "interactive", "maintenance", "webhook"]
