"""A real Redis (database 13 only, flushed around each test) and a fake clock for the limiter."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

RATELIMIT_DB = 13
REDIS_URL = os.environ.get("EYEFLOW_TEST_REDIS", "redis://127.0.0.1:6379") + f"/{RATELIMIT_DB}"


class FakeClock:
    """Shared time for several limiters (as Redis's clock is for the fleet); `sleep` records the
    wait and moves time on by exactly that much."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def rdb() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
