"""One Redis connection pool per process and Redis URL, shared by the store, caches and metrics."""

from __future__ import annotations

import threading

import redis

from eyeflow_worker.core.redis_urls import client_for
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
                client = client_for(
                    url,
                    decode_responses=True,
                    socket_timeout=settings.redis_socket_timeout_seconds,
                    socket_connect_timeout=settings.redis_connect_timeout_seconds,
                    health_check_interval=30,
                )
                _clients[url] = client
    return client
