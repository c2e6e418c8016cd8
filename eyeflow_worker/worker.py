"""`python -m eyeflow_worker.worker interactive|batch`: a worker for one role, its queues and
concurrency taken from Settings, so the command line is the same everywhere (local, compose)."""

from __future__ import annotations

import sys

from eyeflow_worker.celery_app import app
from eyeflow_worker.core.errors import EyeflowError
from eyeflow_worker.core.settings import Settings, get_settings
from eyeflow_worker.tenant_config.store import tenant_config_store


def worker_argv(role: str, settings: Settings) -> list[str]:
    roles = {
        # Webhook deliveries and the beat refresh are short; they ride with interactive work.
        "interactive": (
            f"{settings.queue_interactive},{settings.queue_webhooks},{settings.queue_maintenance}",
            settings.worker_concurrency_interactive,
        ),
        "batch": (settings.queue_batch, settings.worker_concurrency_batch),
    }
    if role not in roles:
        raise SystemExit(f"usage: python -m eyeflow_worker.worker {{{'|'.join(roles)}}}")
    queues, concurrency = roles[role]
    return [
        "worker",
        "--queues",
        queues,
        "--pool",
        "threads",
        "--concurrency",
        str(concurrency),
        "--hostname",
        f"{role}@%h",
        "--loglevel",
        settings.log_level,
    ]


def main() -> None:
    role = sys.argv[1] if len(sys.argv) > 1 else "interactive"
    settings = get_settings()
    try:
        # Refuse to start misconfigured rather than fail every job: e.g. NestJS mode outside
        # dev without CACHE_ENCRYPTION_KEY to encrypt the API keys it caches.
        tenant_config_store(settings)
    except EyeflowError as exc:
        raise SystemExit(f"eyeflow worker not started: {exc.message}") from None
    app.worker_main(worker_argv(role, settings))


if __name__ == "__main__":
    main()
