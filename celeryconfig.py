"""Celery configuration: the one `Settings` object mapped onto Celery's keys, nothing else.

Reliability choices, on purpose:
- `task_acks_late` + `task_reject_on_worker_lost`: a message is acknowledged only after the job
  ran, so a worker killed mid-job (OOM, deploy) gets its job redelivered instead of lost. Our
  jobs are written to be safe to run twice (records are keyed by task id; batch items skip work
  that already finished).
- `worker_prefetch_multiplier = 1`: with late acks, prefetching would park jobs on a busy worker
  while others idle; provider calls take seconds to minutes, so fair dispatch matters more than
  the few milliseconds a prefetch saves.
- Redis `visibility_timeout` (1 h) is longer than the hard `task_time_limit` (30 min) and than the
  longest webhook retry countdown, so an un-acked message is only redelivered when its worker
  really died, never while it is still working or waiting on an ETA.
- Worker pool `threads` (set on the command line): jobs are I/O-bound (an HTTPS call to a provider
  that takes seconds to minutes); threads give high concurrency at the memory cost of one process.
  Celery's hard time limits need prefork, so jobs also bound themselves: every provider call has a
  timeout and the retry loop a total budget, both below the time limit.
- `task_send_sent_event` + `worker_send_task_events`: Flower shows queued tasks, not only running.
- Results expire with the task records (`task_record_ttl_seconds`); Celery's own result backend is
  only a secondary copy — the gateway reads our task records.
"""

from __future__ import annotations

from typing import Any

from eyeflow_worker.core.routing import Tasks, celery_task_routes
from eyeflow_worker.core.settings import Settings

# Beat's admission tick: frequent enough that a lost admission costs seconds, cheap enough
# (a few Redis round trips) not to matter.
ADMISSION_TICK_SECONDS = 5.0
# Economy poll sweep: a lost poll is found within its overdue grace plus one sweep.
ECONOMY_SWEEP_SECONDS = 60.0


def celery_config(settings: Settings) -> dict[str, Any]:
    """The Celery keys for `settings`."""
    return {
        "broker_url": settings.effective_broker_url,
        "result_backend": settings.effective_result_backend_url,
        "broker_connection_timeout": settings.redis_connect_timeout_seconds,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            "visibility_timeout": settings.visibility_timeout_seconds,
            "socket_timeout": settings.redis_socket_timeout_seconds,
            "socket_connect_timeout": settings.redis_connect_timeout_seconds,
            "retry_on_timeout": False,
        },
        "result_backend_transport_options": {
            "socket_timeout": settings.redis_socket_timeout_seconds,
            "socket_connect_timeout": settings.redis_connect_timeout_seconds,
        },
        "result_expires": settings.task_record_ttl_seconds,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "timezone": "UTC",
        "enable_utc": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_time_limit": settings.task_time_limit_seconds,
        "task_soft_time_limit": settings.task_soft_time_limit_seconds,
        "task_track_started": True,
        "task_send_sent_event": True,
        "worker_send_task_events": True,
        "worker_hijack_root_logger": False,
        "task_default_queue": settings.queue_interactive,
        "task_routes": celery_task_routes(settings),
        "beat_schedule": {
            "refresh-tenant-configs": {
                "task": Tasks.CONFIG_REFRESH_DUE,
                "schedule": settings.config_refresh_interval_seconds,
            },
            "sweep-webhook-outbox": {"task": Tasks.WEBHOOK_SWEEP, "schedule": 60.0},
            # Workers admit batch items on every start and release; this tick is the safety
            # net (items a dead claimer left unsent, slots of batches that ended otherwise).
            "admit-batch-items": {
                "task": Tasks.BATCH_ADMIT,
                "schedule": ADMISSION_TICK_SECONDS,
                # A tick missed while beat was down is worth nothing later: the next one redoes it.
                "options": {"expires": ADMISSION_TICK_SECONDS * 2},
            },
            # Economy polling's safety net: polls whose countdown message was lost. A sweep
            # missed is redone by the next, so a late one is worth nothing.
            "sweep-economy-polls": {
                "task": Tasks.ECONOMY_SWEEP,
                "schedule": ECONOMY_SWEEP_SECONDS,
                "options": {"expires": ECONOMY_SWEEP_SECONDS},
            },
        },
    }
