"""What `GET /health` answers, read cheaply and bounded.

One pipelined Redis round trip (two when the broker is another Redis than REDIS_URL), on
connections of /health's own with short timeouts and no retries, reads the broker's queue
depths, NestJS reachability as the fleet last observed it (`core.fleet_health`), the cached
worker ping (`worker_liveness`) and Redis's clock; then the default tenant's config cache is
reported as before. Nothing here waits for a worker or for NestJS, so /health cannot be used
to tie up the gateway's threads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis
from celery import Celery
from fastapi import status
from kombu.exceptions import OperationalError
from redis.backoff import NoBackoff
from redis.client import Pipeline
from redis.retry import Retry

from api_gateway.worker_liveness import PING_KEY, WorkerLiveness, celery_ping
from eyeflow_worker.core.broker import QueueDepths, amqp_queue_depths, broker_kind
from eyeflow_worker.core.errors import EyeflowError
from eyeflow_worker.core.fleet_health import NESTJS_KEY, digest_key, nestjs_report, scrub
from eyeflow_worker.core.redis_urls import client_for
from eyeflow_worker.core.routing import all_queues
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.tenant_config.source import ConfigSource

# kombu's Redis transport keeps one list per queue and priority step; step 0 is the bare name.
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
# The tenant whose config cache /health has always shown (the seed's default user).
_DEFAULT_TENANT = "system"


def queue_depth_commands(pipe: Pipeline, queues: Iterable[str]) -> None:
    for queue in queues:
        for suffix in _PRIORITY_SUFFIXES:
            pipe.llen(queue + suffix)


def queue_depths(lengths: list[Any], queues: tuple[str, ...]) -> dict[str, int]:
    """The depths from the replies `queue_depth_commands` queued (in that order)."""
    step = len(_PRIORITY_SUFFIXES)
    return {queue: sum(lengths[i * step : (i + 1) * step]) for i, queue in enumerate(queues)}


def probe_client(settings: Settings, url: str) -> redis.Redis:
    """A client of /health's own: every call gives up after HEALTH_REDIS_TIMEOUT_SECONDS (to
    connect, to read) and is never retried, unlike the shared clients' (seconds, with retries)."""
    timeout = settings.health_redis_timeout_seconds
    return client_for(
        url,
        decode_responses=True,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


@dataclass(frozen=True)
class HealthProbe:
    records: redis.Redis  # REDIS_URL's Redis
    broker: redis.Redis | None  # None: the broker is REDIS_URL's Redis, read in the same trip
    liveness: WorkerLiveness
    digest_key: bytes
    # A broker that is not Redis (RabbitMQ): its queue depths, read on a connection of its own
    # (`core.broker`); `broker` is then None and REDIS_URL's trip reads no queue.
    other_broker: QueueDepths | None = None


def build_health_probe(settings: Settings, shared: redis.Redis, celery: Celery) -> HealthProbe:
    """The probe; the background ping records through `shared` (no request waits on it)."""
    broker_url = settings.effective_broker_url
    on_redis = broker_kind(broker_url) == "redis"
    return HealthProbe(
        records=probe_client(settings, settings.redis_url),
        broker=probe_client(settings, broker_url)
        if on_redis and broker_url != settings.redis_url
        else None,
        liveness=WorkerLiveness(
            shared,
            celery_ping(celery),
            max_age_seconds=settings.health_worker_ping_max_age_seconds,
            timeout_seconds=settings.health_worker_ping_timeout_seconds,
        ),
        digest_key=digest_key(settings),
        other_broker=amqp_queue_depths(broker_url, settings.health_redis_timeout_seconds)
        if broker_kind(broker_url) == "amqp"
        else None,
    )


@dataclass(frozen=True)
class _Readings:
    depths: dict[str, int]
    nestjs: dict[str, str]
    ping: dict[str, str]
    now_us: int


class _Unreachable(Exception):
    def __init__(self, part: str, exc: Exception) -> None:
        super().__init__(part)
        self.part = part  # "broker" | "redis"
        self.error = type(exc).__name__


def _read(probe: HealthProbe, queues: tuple[str, ...]) -> _Readings:
    depths: dict[str, int] = {}
    if probe.other_broker is not None:
        try:
            depths = probe.other_broker(queues)
        except OperationalError as exc:
            raise _Unreachable("broker", exc) from None
    same_redis = probe.broker is None and probe.other_broker is None
    if probe.broker is not None:
        pipe = probe.broker.pipeline(transaction=False)
        queue_depth_commands(pipe, queues)
        try:
            depths = queue_depths(pipe.execute(), queues)
        except redis.exceptions.RedisError as exc:
            raise _Unreachable("broker", exc) from None
    pipe = probe.records.pipeline(transaction=False)
    pipe.hgetall(NESTJS_KEY)
    pipe.hgetall(PING_KEY)
    pipe.time()
    if same_redis:
        queue_depth_commands(pipe, queues)
    try:
        replies = pipe.execute()
    except redis.exceptions.RedisError as exc:
        raise _Unreachable("broker" if same_redis else "redis", exc) from None
    if same_redis:
        depths = queue_depths(replies[3:], queues)
    seconds, micros = replies[2]
    return _Readings(depths, replies[0], replies[1], int(seconds) * 1_000_000 + int(micros))


def _unhealthy(exc: _Unreachable) -> dict[str, Any]:
    if exc.part == "broker":
        return {
            "status": "unhealthy",
            "reasons": ["broker unreachable"],
            "broker": {"reachable": False, "error": exc.error},
        }
    return {
        "status": "unhealthy",
        "reasons": ["Redis (job records and caches) unreachable"],
        "broker": {"reachable": True},
        "redis": {"reachable": False, "error": exc.error},
    }


def _config_cache(configs: ConfigSource) -> dict[str, Any]:
    """The default tenant's cache status, its error texts scrubbed for an open endpoint."""
    try:
        cache = configs.status(_DEFAULT_TENANT)
    except EyeflowError as exc:  # e.g. the cache cannot decrypt: report it, don't 500
        return {"degraded": True, "reason": scrub(exc.message), "config": {}, "context": {}}
    except redis.exceptions.RedisError as exc:
        reason = f"configuration cache unreadable ({type(exc).__name__})"
        return {"degraded": True, "reason": reason, "config": {}, "context": {}}
    if isinstance(cache.get("reason"), str):
        cache = {**cache, "reason": scrub(cache["reason"])}
    for kind in ("config", "context"):
        part = cache.get(kind)
        error = part.get("last_error") if isinstance(part, dict) else None
        if isinstance(part, dict) and isinstance(error, dict):
            error = {**error, "message": scrub(str(error.get("message", "")))}
            cache = {**cache, kind: {**part, "last_error": error}}
    return cache


def fleet_health(
    probe: HealthProbe, settings: Settings, configs: ConfigSource
) -> tuple[dict[str, Any], int]:
    """The /health body and its HTTP status (503 when `unhealthy`)."""
    queues = all_queues(settings)
    try:
        readings = _read(probe, queues)
    except _Unreachable as exc:
        return _unhealthy(exc), status.HTTP_503_SERVICE_UNAVAILABLE
    workers = probe.liveness.seen(readings.ping, readings.now_us)
    reasons = [reason for reason in (workers.reason(),) if reason]
    nestjs: dict[str, Any] = {"configured": False}
    if settings.nestjs_server_url:
        nestjs, unreachable = nestjs_report(readings.nestjs, readings.now_us, probe.digest_key)
        reasons += unreachable
    cache = _config_cache(configs)
    if cache.get("degraded"):
        reasons.append(cache.get("reason") or "configuration cache degraded")
    config = cache.get("config", {})
    report = {
        "status": "degraded" if reasons else "healthy",
        "reasons": reasons,
        "broker": {"reachable": True},
        "queues": readings.depths,
        "workers": workers.to_json(),
        "nestjs": nestjs,
        "provider": config.get("provider"),
        "model": config.get("model"),
        "context_cache_age_minutes": cache.get("context", {}).get("age_minutes"),
        "config_cache": cache,
    }
    return report, status.HTTP_200_OK
