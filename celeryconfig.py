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
  longest countdown anywhere (webhook retries, batch re-tries, economy polls, Celery's
  infrastructure retry: `tests/core/test_countdowns.py` holds every one of them below it), so an
  un-acked message is only redelivered when its worker really died, never while it is still
  working or holding a countdown's message until due. It is a backstop: leases and the reaper
  bring a dead worker's jobs back within a minute. Only the Redis transport reads it (Celery's
  Redis result backend does not, checked in Celery 5.7), so it is set in one place.
- Redis unacked restore (kombu's sweep that puts back messages older than the visibility
  timeout), set on purpose rather than left to kombu: see `_redis_transport_options`.
- RabbitMQ (`BROKER_URL=amqp://…`): quorum queues, native delayed delivery, per-consumer QoS,
  publisher confirms, heartbeats: see `_rabbitmq_options`. A killed worker's messages come back
  the moment its connection drops; the visibility timeout plays no part there.
- Graceful stop = Celery's soft shutdown (`_shutdown_options`): running jobs get
  WORKER_SOFT_SHUTDOWN_SECONDS to finish, then their messages go back to the broker at once.
- Worker pool `threads` (set on the command line): jobs are I/O-bound (an HTTPS call to a provider
  that takes seconds to minutes); threads give high concurrency at the memory cost of one process.
  Celery's hard time limits need prefork, so jobs also bound themselves: every provider call has a
  timeout and the retry loop a total budget, both below the time limit.
- `task_send_sent_event` + `worker_send_task_events`: Flower shows queued tasks, not only running.
- `task_ignore_result`: the job record is the result (the gateway, webhooks and the CLI read it),
  so no task stores a Celery result or its STARTED state (`task_track_started` is then moot and
  off): per job that is two SETEX and two PUBLISH fewer on the worker, and no sender subscribes
  to a result channel it never reads (`core.celery_factory` sends every task with
  `ignore_result`). The result backend stays configured for code that asks for a result on
  purpose (a task declared `ignore_result=False`: the benchmarks' bare-Celery baselines);
  such results expire with the task records (`task_record_ttl_seconds`).
- Worker prefetch and pool, on purpose for the hot path too: a trivial `evaluate` spends well
  under a millisecond in the worker, so what it waits for is the pick-up (kombu's BRPOP wakes
  at once on a push) — a larger prefetch would not shorten that, and would park interactive
  jobs behind a worker busy with slow provider calls.
"""

from __future__ import annotations

from typing import Any

from eyeflow_worker.core.broker import fleet_broker_kind
from eyeflow_worker.core.redis_urls import celery_transport_options, celery_url
from eyeflow_worker.core.routing import Tasks, celery_task_queues, celery_task_routes
from eyeflow_worker.core.settings import Settings

# Beat's admission tick: frequent enough that a lost admission costs seconds, cheap enough
# (a few Redis round trips) not to matter.
ADMISSION_TICK_SECONDS = 5.0
# The lease reaper: a dead worker's jobs are sent again within a lease plus one round.
REAP_SECONDS = 10.0
# Economy poll sweep: a lost poll is found within its overdue grace plus one sweep.
ECONOMY_SWEEP_SECONDS = 60.0


def celery_config(settings: Settings) -> dict[str, Any]:
    """The Celery keys for `settings`."""
    return {
        # A `redis+sentinel://` URL is spelled the way kombu wants it (`core.redis_urls`).
        "broker_url": celery_url(settings.effective_broker_url),
        "result_backend": celery_url(settings.effective_result_backend_url),
        "broker_connection_timeout": settings.redis_connect_timeout_seconds,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": _broker_transport_options(settings),
        "result_backend_transport_options": {
            "socket_timeout": settings.redis_socket_timeout_seconds,
            "socket_connect_timeout": settings.redis_connect_timeout_seconds,
            **celery_transport_options(settings.effective_result_backend_url),
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
        "task_ignore_result": True,
        "task_track_started": False,
        "task_send_sent_event": True,
        "worker_send_task_events": True,
        "worker_hijack_root_logger": False,
        "task_default_queue": settings.queue_interactive,
        "task_queues": celery_task_queues(settings),
        "task_routes": celery_task_routes(settings),
        **_rabbitmq_options(settings),
        **_shutdown_options(settings),
        "beat_schedule": {
            "refresh-tenant-configs": {
                "task": Tasks.CONFIG_REFRESH_DUE,
                "schedule": settings.config_refresh_interval_seconds,
            },
            "sweep-webhook-outbox": {"task": Tasks.WEBHOOK_SWEEP, "schedule": 60.0},
            # Jobs whose worker died go back to their queue (workers also reap every 10 s).
            "reap-expired-leases": {"task": Tasks.LEASE_REAP, "schedule": REAP_SECONDS},
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


def _broker_transport_options(settings: Settings) -> dict[str, Any]:
    """kombu's transport options for the broker: the Redis transport's, or py-amqp's (which
    passes them to its connection as they are, so the two sets are never mixed)."""
    if fleet_broker_kind(settings) == "amqp":
        # Publisher confirms: a send returns once RabbitMQ has the message (on a quorum queue: a
        # majority of its replicas), so the gateway's 202 never names a message the broker
        # dropped, and a refusal (e.g. a message over the broker's size limit) raises.
        return {"confirm_publish": True}
    return {
        **_redis_transport_options(settings),
        **celery_transport_options(settings.effective_broker_url),  # Sentinel's master name
    }


def _redis_transport_options(settings: Settings) -> dict[str, Any]:
    """The Redis transport. A delivered message sits in the `unacked` hash until acked; kombu's
    restore sweep (`QoS.restore_visible`, kombu/transport/redis.py) puts back those older than
    the visibility timeout. Its knobs, each set on purpose:"""
    return {
        "visibility_timeout": settings.visibility_timeout_seconds,
        # Every worker runs the sweep every `interval × throttle` seconds (kombu's defaults,
        # 10 × 10, make it 100 s: a backstop that fires up to 100 s late). 10 × 1: one cheap
        # ZRANGE per worker every 10 s, so a message comes back within 10 s of its timeout.
        "unacked_restore_interval": 10,
        "unacked_restore_throttle": 1,
        # One sweep restores at most this many messages (kombu's default: all of them, each a
        # WATCH/MULTI transaction, in one go while the sweep's mutex is held). The next sweep,
        # 10 s later, takes the rest: a mass death is undone in steps, not one long stall.
        "unacked_restore_limit": 100,
        # The sweep's mutex lives this long if its holder dies mid-sweep (kombu: 300 s, during
        # which no worker sweeps). A sweep of 100 takes well under a second.
        "unacked_mutex_expire": 30,
        "socket_timeout": settings.redis_socket_timeout_seconds,
        "socket_connect_timeout": settings.redis_connect_timeout_seconds,
        "retry_on_timeout": False,
    }


def _rabbitmq_options(settings: Settings) -> dict[str, Any]:
    """Celery's RabbitMQ keys (none on Redis). The queues themselves are declared by
    `routing.celery_task_queues` (quorum, each on a topic exchange of its name)."""
    if fleet_broker_kind(settings) != "amqp":
        return {}
    queue_type = settings.broker_queue_type
    return {
        # Queues Celery declares beyond the routing table's (a queue name given to one send, as
        # the tests' parked gateways do) are the same kind as the table's.
        "task_default_queue_type": queue_type,
        "task_default_exchange_type": "topic",
        "task_create_missing_queue_type": queue_type,
        "task_create_missing_queue_exchange_type": "topic",
        # Countdowns and ETAs wait in RabbitMQ (Celery's native delayed delivery: 28 levels of
        # TTL queues, `celery_delayed_*`), not unacked in a worker: nothing is held in a worker
        # while it waits, so a worker's death or stop loses or delays no countdown. Celery
        # turns it on when it sees quorum queues; the delay queues are quorum too.
        "broker_native_delayed_delivery_queue_type": "quorum",
        # Quorum queues refuse global QoS: with it detected, the prefetch limit is per consumer
        # (one per queue a worker consumes) and static, instead of Celery's global one.
        "worker_detect_quorum_queues": True,
        "broker_heartbeat": settings.broker_heartbeat_seconds,
    }


def _shutdown_options(settings: Settings) -> dict[str, Any]:
    """Celery's soft shutdown (≥ 5.5), the cold shutdown a graceful stop becomes with
    REMAP_SIGTERM=SIGQUIT: running jobs get WORKER_SOFT_SHUTDOWN_SECONDS to finish; then the
    messages of those still running go back to the broker at once (`core.worker_consumer`: the
    threads pool cannot stop a thread, so its consumer hands the message back instead), where
    a warm shutdown would wait for them up to the 30-minute time limit."""
    return {
        "worker_soft_shutdown_timeout": settings.worker_soft_shutdown_seconds,
        # Wait even when idle: on Redis a countdown's message sits unacked in the worker, and
        # the wait lets the shutdown restore it to its queue (Celery's own advice for ETAs).
        "worker_enable_soft_shutdown_on_idle": settings.worker_soft_shutdown_seconds > 0,
        "worker_consumer": "eyeflow_worker.core.worker_consumer:Consumer",
    }
