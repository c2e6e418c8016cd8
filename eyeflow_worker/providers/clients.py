"""SDK/HTTP clients, created once per worker process and reused across jobs.

Clients are built lazily on first use (so after Celery forks its pool processes, never before)
and kept under a key that names the provider, the base URL, a SHA-256 digest of the API key and
the timeout: a rotated key or a changed URL gets a fresh client, and the raw key never becomes
part of anything that could be printed.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import NamedTuple, TypeVar, cast

from pydantic import SecretStr

T = TypeVar("T")


class ClientKey(NamedTuple):
    provider: str
    base_url: str
    key_digest: str
    timeout_seconds: float


def client_key(
    provider: str, base_url: str, api_key: SecretStr | None, timeout_seconds: float
) -> ClientKey:
    digest = (
        hashlib.sha256(api_key.get_secret_value().encode()).hexdigest()
        if api_key is not None
        else "-"
    )
    return ClientKey(provider, base_url, digest, timeout_seconds)


_clients: dict[ClientKey, object] = {}
_lock = threading.Lock()


def cached_client(key: ClientKey, factory: Callable[[], T]) -> T:
    """The client stored under `key`, built by `factory` the first time it is asked for."""
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = factory()
    return cast(T, client)


def clear_clients() -> None:
    """Close and forget every cached client (tests, or a worker shutting down)."""
    with _lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        close = getattr(client, "close", None)
        if callable(close):
            close()
