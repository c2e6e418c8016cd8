"""One Redis connection pool per process and Redis URL, shared by the store, caches and metrics."""

from __future__ import annotations

import threading
from typing import Any

import redis
import redis.asyncio
from redis.maint_notifications import MaintNotificationsConfig

from eyeflow_worker.core.redis_urls import AsyncClient, async_client_for, client_for
from eyeflow_worker.core.settings import Settings

_clients: dict[str, redis.Redis] = {}
_lock = threading.Lock()


def get_redis(settings: Settings, url: str | None = None) -> redis.Redis:
    """A client for `url` (default `settings.redis_url`), str responses, one per process and URL.

    Timeouts are short on purpose: a dead Redis must turn into a fast, clear error (503 at the
    gateway), never a hang. A `redis+sentinel://` URL gives a client that follows the master
    (`core.redis_urls`).
    """
    url = url or settings.redis_url
    client = _clients.get(url)
    if client is None:
        with _lock:
            client = _clients.get(url)
            if client is None:
                client = client_for(url, **_options(settings))
                _clients[url] = client
    return client


def new_async_redis(settings: Settings) -> AsyncClient:
    """An asyncio client for `settings.redis_url`, with `get_redis`'s options. Not shared: its
    connections belong to the event loop that uses it first, so its owner (the gateway's
    lifespan) makes one per loop and closes it."""
    # Maintenance notifications off (a Redis Cloud push feature; we speak RESP2): redis-py 8.1
    # reads their "auto" default as on, and then skips the check that replaces a pooled
    # connection the server closed — after a Redis restart the first command would fail.
    options = {
        **_options(settings),
        "maint_notifications_config": MaintNotificationsConfig(enabled=False),
    }
    return async_client_for(settings.redis_url, **options)


def _options(settings: Settings) -> dict[str, Any]:
    return {
        "decode_responses": True,
        "socket_timeout": settings.redis_socket_timeout_seconds,
        "socket_connect_timeout": settings.redis_connect_timeout_seconds,
        "health_check_interval": 30,
    }
