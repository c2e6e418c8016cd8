"""Which broker the fleet runs on, and the one thing the gateway and the operator scripts read
of it directly: how many messages wait on each queue.

Two brokers are supported: Redis (the default — `BROKER_URL` unset means REDIS_URL's Redis) and
RabbitMQ (`BROKER_URL=amqp://…`, quorum queues). Job records, caches and results stay in Redis
either way. Code that must know which one it talks to asks `broker_kind`; nothing else parses a
broker URL.

Queue depth means messages waiting to be delivered: on Redis the length of kombu's lists (one
per queue and priority step), on RabbitMQ the `message_count` a passive `queue.declare` answers
(ready messages; those delivered and not yet acked are not counted on either broker). A queue
nobody declared yet reads 0.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any, Literal, Protocol

import redis
from kombu.connection import Connection
from kombu.exceptions import OperationalError

from eyeflow_worker.core.settings import Settings

BrokerKind = Literal["redis", "amqp", "other"]

# `redis_client.get_redis` parses these (Sentinel in the fleet's own spelling,
# `core.redis_urls`); kombu's other Redis flavours (sentinel://, redis+socket://) work as
# brokers but are not read here ("other").
_REDIS_SCHEMES = frozenset({"redis", "rediss", "unix", "redis+sentinel"})
_AMQP_SCHEMES = frozenset({"amqp", "amqps", "pyamqp"})
# kombu's Redis transport keeps one list per queue and priority step; step 0 is the bare name.
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
_NOT_FOUND = 404  # AMQP reply code of a passive declare of a queue that does not exist


def broker_scheme(url: str) -> str:
    """The URL's scheme, lower-cased ('' without one)."""
    return url.split("://", 1)[0].lower() if "://" in url else ""


def broker_kind(url: str) -> BrokerKind:
    """`redis`, `amqp` (RabbitMQ) or `other`, from the URL's scheme."""
    scheme = broker_scheme(url)
    if scheme in _REDIS_SCHEMES:
        return "redis"
    if scheme in _AMQP_SCHEMES:
        return "amqp"
    return "other"


def fleet_broker_kind(settings: Settings) -> BrokerKind:
    return broker_kind(settings.effective_broker_url)


class QueueDepths(Protocol):
    """Messages waiting on each of `queues`. Raises `redis.RedisError` (Redis) or kombu's
    `OperationalError` (RabbitMQ) when the broker cannot be read — both answered 503 by the
    gateway."""

    def __call__(self, queues: tuple[str, ...]) -> dict[str, int]: ...


def redis_queue_depths(client: redis.Redis) -> QueueDepths:
    """Depths read with one pipelined round trip of LLENs."""

    def depths(queues: tuple[str, ...]) -> dict[str, int]:
        pipe = client.pipeline(transaction=False)
        for queue in queues:
            for suffix in _PRIORITY_SUFFIXES:
                pipe.llen(queue + suffix)
        lengths = pipe.execute()
        step = len(_PRIORITY_SUFFIXES)
        return {q: sum(lengths[i * step : (i + 1) * step]) for i, q in enumerate(queues)}

    return depths


class AmqpQueueDepths:
    """Depths read from RabbitMQ with passive `queue.declare`s (they create nothing) on one
    connection, opened on first use and again after any failure. Calls are serialised: an AMQP
    connection is not shared between threads. Get one with `amqp_queue_depths`: one per process
    and URL, like the Redis clients (`redis_client.get_redis`), so every gateway built in a
    process shares it and no connection is left for the garbage collector."""

    def __init__(self, url: str, timeout_seconds: float) -> None:
        self._url = url
        self._timeout = timeout_seconds
        self._lock = threading.Lock()
        self._connection: Connection | None = None
        # The transport's own error classes (py-amqp's), known without connecting.
        probe = Connection(url)  # type: ignore[no-untyped-call]  # kombu is partly typed
        self._channel_errors: tuple[type[BaseException], ...] = tuple(probe.channel_errors)
        self._errors: tuple[type[BaseException], ...] = (
            OSError,
            OperationalError,
            *probe.connection_errors,
            *self._channel_errors,
        )

    def __call__(self, queues: tuple[str, ...]) -> dict[str, int]:
        with self._lock:
            try:
                return self._read(queues)
            except self._errors as exc:
                self._drop()
                raise OperationalError(f"RabbitMQ unreadable: {type(exc).__name__}") from exc

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _read(self, queues: tuple[str, ...]) -> dict[str, int]:
        connection = self._connect()
        depths: dict[str, int] = {}
        channel = connection.channel()  # type: ignore[no-untyped-call]
        try:
            for queue in queues:
                try:
                    depths[queue] = channel.queue_declare(queue=queue, passive=True).message_count
                except self._channel_errors as exc:
                    if getattr(exc, "reply_code", None) != _NOT_FOUND:
                        raise
                    # Not declared yet (no worker or sender touched it): nothing waits there.
                    # The broker closed the channel with the 404; carry on on a new one.
                    depths[queue] = 0
                    channel = connection.channel()  # type: ignore[no-untyped-call]
        finally:
            _close_quietly(channel.close)
        return depths

    def _connect(self) -> Connection:
        if self._connection is None:
            connection = Connection(  # type: ignore[no-untyped-call]
                self._url,
                connect_timeout=self._timeout,
                # No heartbeats on a connection that is idle between scrapes: a dead one is
                # found by the next read (bounded by the timeouts) and reopened.
                heartbeat=0,
                transport_options={
                    "read_timeout": self._timeout,
                    "write_timeout": self._timeout,
                },
            )
            # No retry: a broker that does not answer is reported at once, never waited for.
            connection.ensure_connection(max_retries=0)  # type: ignore[no-untyped-call]
            self._connection = connection
        return self._connection

    def _drop(self) -> None:
        if self._connection is not None:
            _close_quietly(self._connection.release)
            self._connection = None


_amqp_readers: dict[tuple[str, float], AmqpQueueDepths] = {}
_amqp_readers_lock = threading.Lock()


def amqp_queue_depths(url: str, timeout_seconds: float) -> AmqpQueueDepths:
    """The process's depth reader for `url` (reads give up after `timeout_seconds`)."""
    with _amqp_readers_lock:
        reader = _amqp_readers.get((url, timeout_seconds))
        if reader is None:
            reader = _amqp_readers[(url, timeout_seconds)] = AmqpQueueDepths(url, timeout_seconds)
        return reader


def _close_quietly(close: Callable[[], Any]) -> None:
    # Closing what already failed: there is nothing left to report.
    with contextlib.suppress(Exception):
        close()


def _no_queues(queues: tuple[str, ...]) -> dict[str, int]:
    del queues
    return {}


def queue_depths_reader(
    settings: Settings, redis_client: Callable[[str], redis.Redis]
) -> QueueDepths:
    """The depth reader for the fleet's broker; `redis_client(url)` gives the Redis client when
    the broker is Redis. A broker of another kind reads as no queues at all."""
    url = settings.effective_broker_url
    kind = broker_kind(url)
    if kind == "redis":
        return redis_queue_depths(redis_client(url))
    if kind == "amqp":
        # The broker's connect timeout (celeryconfig's `broker_connection_timeout`).
        return amqp_queue_depths(url, settings.redis_connect_timeout_seconds)
    return _no_queues
