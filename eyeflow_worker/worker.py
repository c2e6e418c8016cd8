"""`python -m eyeflow_worker.worker interactive|batch`: a worker for one role, its queues (from
the routing table) and concurrency taken from Settings, so the command line is the same
everywhere (local, compose)."""

from __future__ import annotations

import os
import sys

from eyeflow_worker.celery_app import app, settings
from eyeflow_worker.core.errors import EyeflowError
from eyeflow_worker.core.routing import WorkerRole, worker_queues
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.runtime import Runtime, install_runtime


def worker_argv(role: str, settings: Settings) -> list[str]:
    roles: dict[str, tuple[WorkerRole, int]] = {
        "interactive": ("interactive", settings.worker_concurrency_interactive),
        "batch": ("batch", settings.worker_concurrency_batch),
    }
    if role not in roles:
        raise SystemExit(f"usage: python -m eyeflow_worker.worker {{{'|'.join(roles)}}}")
    worker_role, concurrency = roles[role]
    # LOG_FORMAT=json: no start-up banner (Celery prints it as text, bypassing logging), so
    # every line of the output is a JSON object; the "ready" line is still logged.
    quiet = ["--quiet"] if settings.log_format == "json" else []
    return [
        *quiet,
        "worker",
        "--queues",
        ",".join(worker_queues(worker_role, settings)),
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
    argv = worker_argv(role, settings)
    if role == "batch" and settings.worker_nice_batch:
        # Before the pool's threads start, so every one of them inherits the lower priority.
        os.nice(settings.worker_nice_batch)
    try:
        # Refuse to start misconfigured rather than fail every job: e.g. NestJS mode outside
        # dev without CACHE_ENCRYPTION_KEY to encrypt the API keys it caches.
        install_runtime(app, Runtime.build(settings, app))
    except EyeflowError as exc:
        raise SystemExit(f"eyeflow worker not started: {exc.message}") from None
    app.worker_main(argv)


if __name__ == "__main__":
    main()
