"""kombu's Redis transport with one client object per channel for its short commands — the
fleet's broker transport on `redis://` (`celery_factory.create_celery_app`; TLS and Sentinel
brokers keep kombu's own).

kombu 5.7's Redis channel builds a new `redis.Redis` for every publish, ack and unacked
bookkeeping step (`Channel.conn_or_acquire` → `_create_client`), and redis-py 8 fills some 200
response callbacks into each new client: about 160 µs a client, several per job, 18 % of an
interactive worker's CPU on trivial jobs (py-spy `--gil`, bench/README.md round 4). The client
is only a façade over the channel's connection pool, which does the locking and is shared by
threads already, so this channel keeps one and builds a new one only when kombu replaced the
pool (`_disconnect_pools`, after a connection error or a fork). The asynchronous client (the
consumer's BRPOP, with its own sticky connection) and everything else are kombu's own.
"""

from __future__ import annotations

import threading
from typing import Any

from kombu.transport import redis as kombu_redis

# The transport as kombu and Celery name it (`broker_transport`).
TRANSPORT_PATH = f"{__name__}:Transport"


class Channel(kombu_redis.Channel):
    _shared_client: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Before kombu's own set-up, which already creates clients.
        self._shared_client_lock = threading.Lock()
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:
            return super()._create_client(asynchronous=True)  # type: ignore[no-untyped-call]
        pool = self.pool
        client = self._shared_client
        if client is None or client.connection_pool is not pool:
            with self._shared_client_lock:
                client = self._shared_client
                if client is None or client.connection_pool is not pool:
                    client = super()._create_client()  # type: ignore[no-untyped-call]
                    self._shared_client = client
        return client


class Transport(kombu_redis.Transport):
    Channel = Channel
