"""The fleet's Redis broker transport (`core/kombu_redis.py`), on real Redis (database 15; only
the queue made here is deleted): one client object per channel for its short commands, a new
one when kombu replaced the pool, and messages that still go through."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from celery import Celery
from kombu import Connection

from eyeflow_worker.core.celery_factory import create_celery_app
from eyeflow_worker.core.kombu_redis import TRANSPORT_PATH, Channel
from eyeflow_worker.core.settings import Settings

REDIS_URL = os.environ.get("EYEFLOW_TEST_REDIS", "redis://127.0.0.1:6379") + "/15"
QUEUE = "kombu-redis-test.queue"


@pytest.fixture
def connection() -> Iterator[Connection]:
    with Connection(REDIS_URL, transport=TRANSPORT_PATH) as opened:
        yield opened
        opened.default_channel.client.delete(QUEUE)


def test_the_fleet_uses_it_on_a_redis_broker_only() -> None:
    redis_app: Celery = create_celery_app(
        Settings(_env_file=None, redis_url=REDIS_URL), include_tasks=False
    )
    amqp_app: Celery = create_celery_app(
        Settings(_env_file=None, redis_url=REDIS_URL, broker_url="amqp://guest:guest@127.0.0.1//"),
        include_tasks=False,
    )
    with redis_app.connection_for_write() as redis_connection:
        assert isinstance(redis_connection.default_channel, Channel)
    assert amqp_app.conf.broker_transport != TRANSPORT_PATH


def test_one_client_per_pool_and_messages_still_go_through(connection: Connection) -> None:
    channel = connection.default_channel
    assert isinstance(channel, Channel)
    with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
        assert first is second
    queue = connection.SimpleQueue(QUEUE)
    for n in range(3):
        queue.put({"n": n})
    received = [queue.get(timeout=5) for _ in range(3)]
    for message in received:
        message.ack()
    assert [m.payload["n"] for m in received] == [0, 1, 2]
    with channel.conn_or_acquire() as after:
        assert after is first  # the publishes and acks used it too
    channel._disconnect_pools()  # what kombu does after a connection error or a fork
    with channel.conn_or_acquire() as rebuilt:
        assert rebuilt is not first
        assert rebuilt.connection_pool is channel.pool
        assert rebuilt.ping()
    queue.close()
