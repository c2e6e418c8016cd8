"""SDK/HTTP clients, created once per worker process and reused across jobs.

Clients are built lazily on first use (so after Celery forks its pool processes, never before)
and kept under a key that names the provider, the base URL, a SHA-256 digest of the API key and
the timeout: a rotated key or a changed URL gets a fresh client, and the raw key never becomes
part of anything that could be printed.

Every client connects through the egress guard (`core.egress_transport`) under the fleet's
`LLM_ALLOWED_API_HOSTS` policy (`egress.llm_policy`), which is part of the key too: the SDKs are
given a guarded httpx2 client (`http_client=`), Ollama is spoken to with a guarded httpx one — no
redirect followed, no proxy from the environment, every connection to an address the policy
allows.

The cache is a small LRU (`MAX_CLIENTS`): every rotated key or tenant URL would otherwise keep
a client and its connection pool for the life of the process. The least recently used client
is closed when it is evicted (a call still running on it at that moment fails as a connection
error, which the retry loop handles; with `MAX_CLIENTS` well above the accounts a worker uses at
once, that does not happen in practice).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple, TypeVar, cast

from pydantic import SecretStr

from eyeflow_worker.core.egress import EgressPolicy

T = TypeVar("T")

log = logging.getLogger(__name__)

MAX_CLIENTS = 64


class ClientKey(NamedTuple):
    provider: str
    base_url: str
    key_digest: str
    timeout_seconds: float
    egress: EgressPolicy | None = None


def client_key(
    provider: str,
    base_url: str,
    api_key: SecretStr | None,
    timeout_seconds: float,
    egress: EgressPolicy | None = None,
) -> ClientKey:
    digest = (
        hashlib.sha256(api_key.get_secret_value().encode()).hexdigest()
        if api_key is not None
        else "-"
    )
    return ClientKey(provider, base_url, digest, timeout_seconds, egress)


_clients: OrderedDict[ClientKey, object] = OrderedDict()
_lock = threading.Lock()


def cached_client(key: ClientKey, factory: Callable[[], T]) -> T:
    """The client stored under `key`, built by `factory` the first time it is asked for."""
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = factory()
            while len(_clients) > MAX_CLIENTS:
                # Not closed here: another thread may be mid-request on it. It closes when it is
                # garbage-collected, once the last request holding it is done.
                _clients.popitem(last=False)
        else:
            _clients.move_to_end(key)
    return cast(T, client)


def clear_clients() -> None:
    """Close and forget every cached client (tests, or a worker shutting down)."""
    with _lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        _close(client)


def _close(client: object) -> None:
    close = getattr(client, "close", None)
    if not callable(close):
        return
    try:
        close()
    except Exception as error:  # closing is best effort: never fail a call over it
        log.warning("could not close a %s client: %s", type(client).__name__, error)
