"""/health answers from Redis without waiting: workers online from a cached ping refreshed in the
background by one caller at a time, and a fast `unhealthy` when the broker cannot be reached."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from fastapi.testclient import TestClient

from tests.api_gateway.health_helpers import (
    FakePing,
    connect,
    forget,
    gateway_app,
    make_settings,
    wait_for,
)

# Generous: the point is that /health does not block (its Redis calls are bounded by 0.1 s and
# no call waits for ping replies: a blocked call would wait for the hung ping, i.e. for ever, or
# for a socket timeout of many seconds), not a benchmark — 80 calls at once on two cores of a
# loaded machine took 1.15 s once.
FAST = 3.0


@pytest.fixture
def rdb() -> Iterator[redis.Redis]:
    client = connect()
    forget(client, [])
    yield client
    forget(client, [])
    client.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_workers_online_and_offline_come_from_the_cached_ping(rdb: redis.Redis) -> None:
    ping = FakePing(("interactive@host-a", "batch@host-b"))
    with TestClient(gateway_app(make_settings(), ping, max_age=0.3)) as http:
        first = http.get("/health").json()
        # Nothing cached yet: not known (not "0 online"), and a ping is on its way.
        assert first["workers"]["online"] is None
        assert first["workers"]["ping_age_seconds"] is None
        assert first["status"] == "healthy"

        body = wait_for(http, lambda b: b["workers"]["online"] == 2)
        assert body["workers"]["names"] == ["batch@host-b", "interactive@host-a"]
        assert 0 <= body["workers"]["ping_age_seconds"] < 0.3
        assert body["status"] == "healthy"
        assert ping.calls == 1

        # The workers go away: /health keeps answering from the cache while it is fresh...
        ping.names = []
        assert http.get("/health").json()["workers"]["online"] == 2
        # ...and once it is older than the max age, a refresh in the background tells.
        time.sleep(0.35)
        stale = http.get("/health").json()
        assert stale["workers"]["online"] == 2
        assert stale["workers"]["ping_age_seconds"] > 0.3
        body = wait_for(http, lambda b: b["workers"]["online"] == 0)
        assert body["status"] == "degraded"
        assert "no worker online" in body["reasons"]
    assert ping.calls == 2


def test_many_concurrent_health_calls_on_two_gateways_make_one_ping(rdb: redis.Redis) -> None:
    ping = FakePing()
    ping.gate.clear()  # the ping hangs until the calls are over, like a slow broadcast
    settings = make_settings()

    def call(http: TestClient) -> tuple[float, int, bool]:
        started = time.monotonic()
        response = http.get("/health")
        return (
            time.monotonic() - started,
            response.status_code,
            response.json()["workers"]["refreshing"],
        )

    with (
        TestClient(gateway_app(settings, ping)) as one,
        TestClient(gateway_app(settings, ping)) as two,
        ThreadPoolExecutor(max_workers=32) as pool,
    ):
        answers = list(pool.map(call, [one, two] * 40))
        assert ping.calls <= 1  # one process pings; the other finds the Redis lock taken
        assert {code for _, code, _ in answers} == {200}
        assert max(elapsed for elapsed, _, _ in answers) < FAST
        ping.gate.set()
        wait_for(one, lambda b: b["workers"]["online"] == 1)
        wait_for(two, lambda b: b["workers"]["online"] == 1)
    assert ping.calls == 1


def test_the_real_celery_ping_sees_no_worker_without_blocking(rdb: redis.Redis) -> None:
    settings = make_settings(health_worker_ping_timeout_seconds=0.3)
    with TestClient(gateway_app(settings)) as http:
        started = time.monotonic()
        first = http.get("/health")
        assert time.monotonic() - started < FAST
        assert first.json()["workers"]["refreshing"] is True
        body = wait_for(http, lambda b: b["workers"]["online"] is not None)
    assert body["workers"]["online"] == 0
    assert body["status"] == "degraded"
    assert body["reasons"] == ["no worker online"]


@pytest.mark.parametrize("broker", ["refused", "silent"])
def test_health_answers_unhealthy_fast_when_the_broker_cannot_be_reached(broker: str) -> None:
    # "refused": nothing listens. "silent": a socket that accepts and never answers (a hung or
    # partitioned Redis), which only a short read timeout can bound.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        port = silent.getsockname()[1] if broker == "silent" else _free_port()
        ping = FakePing()
        app = gateway_app(make_settings(redis_url=f"redis://127.0.0.1:{port}/0"), ping)
        with TestClient(app) as http:
            for _ in range(3):
                started = time.monotonic()
                response = http.get("/health")
                elapsed = time.monotonic() - started
                assert elapsed < FAST, f"took {elapsed:.2f}s"
                assert response.status_code == 503
                body = response.json()
                assert body["status"] == "unhealthy"
                assert body["broker"]["reachable"] is False
                assert body["reasons"] == ["broker unreachable"]
    assert ping.calls == 0  # nobody pings a broker known to be unreachable


def test_a_separate_broker_that_is_down_is_reported_without_reading_the_rest(
    rdb: redis.Redis,
) -> None:
    settings = make_settings(broker_url=f"redis://127.0.0.1:{_free_port()}/0")
    with TestClient(gateway_app(settings, FakePing())) as http:
        started = time.monotonic()
        response = http.get("/health")
        assert time.monotonic() - started < FAST
    assert response.status_code == 503
    assert response.json()["broker"] == {"reachable": False, "error": "ConnectionError"}
