"""Redis URLs the fleet accepts: a plain `redis://`, `rediss://` or `unix://` URL, or Redis
Sentinel — `redis+sentinel://[:password@]host1:26379,host2:26379/<service>/<db>` — for a
Redis that fails over (the sentinels name the current master; a client asks them again after
a failover).

One spelling for every process: the records and caches client (`client_for`, through redis-py's
`Sentinel.master_for`; `async_client_for` on the gateway's event loop), and Celery's broker and
result backend, which want kombu's own spelling
(`celery_url`: `sentinel://host1:26379;sentinel://host2:26379/<db>` plus the `master_name`
transport option, `celery_transport_options`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.sentinel import Sentinel

SENTINEL_SCHEME = "redis+sentinel"


class InvalidRedisURL(ValueError):
    """A `redis+sentinel://` URL without hosts or service name."""


@dataclass(frozen=True)
class SentinelURL:
    hosts: tuple[tuple[str, int], ...]
    service: str
    db: int
    password: str | None


def is_sentinel(url: str) -> bool:
    return url.startswith(f"{SENTINEL_SCHEME}://")


def parse_sentinel(url: str) -> SentinelURL:
    """The parts of a `redis+sentinel://` URL (see the module docstring)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    credentials, hosts_part = (netloc[0], netloc[1]) if len(netloc) == 2 else ("", netloc[0])
    password = unquote(credentials.split(":", 1)[-1]) if credentials else None
    hosts = []
    for entry in filter(None, hosts_part.split(",")):
        host, _, port = entry.rpartition(":") if ":" in entry else (entry, "", "26379")
        hosts.append((host or entry, int(port or 26379)))
    path = [p for p in parts.path.split("/") if p]
    if not hosts or not path:
        raise InvalidRedisURL(
            "a Sentinel URL names its sentinels and the service: "
            "redis+sentinel://host1:26379,host2:26379/mymaster/0"
        )
    db = int(path[1]) if len(path) > 1 else 0
    return SentinelURL(tuple(hosts), path[0], db, password or None)


def client_for(url: str, **options: Any) -> redis.Redis:
    """A client for `url` with redis-py's `options` (timeouts, decode_responses…): for a
    Sentinel URL, one that follows the current master."""
    if not is_sentinel(url):
        client: redis.Redis = redis.Redis.from_url(url, **options)
        return client
    found = parse_sentinel(url)
    timeouts = {k: v for k, v in options.items() if k.startswith("socket_")}
    # redis-py's sentinel module is untyped; what it returns is a `redis.Redis`.
    sentinel = Sentinel(list(found.hosts), sentinel_kwargs=timeouts, **timeouts)  # type: ignore[no-untyped-call]
    master: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
        found.service, db=found.db, password=found.password, **options
    )
    return master


@dataclass(frozen=True)
class AsyncClient:
    """An asyncio client and, for a Sentinel URL, the clients that ask the sentinels: closing
    the master's client leaves those open (redis-py's `Sentinel` has no close of its own)."""

    client: redis.asyncio.Redis
    sentinels: tuple[redis.asyncio.Redis, ...] = ()

    async def aclose(self) -> None:
        for client in (self.client, *self.sentinels):
            await client.aclose()


def async_client_for(url: str, **options: Any) -> AsyncClient:
    """`client_for`'s asyncio twin (the gateway's event loop): same URLs, same options."""
    if not is_sentinel(url):
        return AsyncClient(redis.asyncio.Redis.from_url(url, **options))
    found = parse_sentinel(url)
    timeouts = {k: v for k, v in options.items() if k.startswith("socket_")}
    sentinel = AsyncSentinel(list(found.hosts), sentinel_kwargs=timeouts, **timeouts)  # type: ignore[no-untyped-call]
    master: redis.asyncio.Redis = sentinel.master_for(
        found.service, db=found.db, password=found.password, **options
    )
    return AsyncClient(master, tuple(sentinel.sentinels))


def celery_url(url: str) -> str:
    """`url` as Celery's broker / result backend wants it (kombu's `sentinel://` list)."""
    if not is_sentinel(url):
        return url
    found = parse_sentinel(url)
    auth = f":{found.password}@" if found.password else ""
    return ";".join(f"sentinel://{auth}{host}:{port}/{found.db}" for host, port in found.hosts)


def celery_transport_options(url: str) -> dict[str, Any]:
    """The transport options a Sentinel URL needs in Celery (`master_name`); none otherwise."""
    return {"master_name": parse_sentinel(url).service} if is_sentinel(url) else {}
