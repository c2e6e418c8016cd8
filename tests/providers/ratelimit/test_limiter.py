"""The limiter against a real Redis: budget, sharing, cooldown, wait bound, key hygiene, races."""

from __future__ import annotations

import threading

import pytest
import redis
from pydantic import SecretStr
from redis.backoff import NoBackoff
from redis.retry import Retry

from eyeflow_worker.core.errors import ProviderRateLimited
from eyeflow_worker.providers.ratelimit import LimitKey, Rate, RateLimiter
from tests.providers.ratelimit.conftest import REDIS_URL, FakeClock

SECRET = "sk-live-RAWKEY-never-in-redis-0123456789"
URL = "https://api.example.test/v1"
KEY = LimitKey.of("openai", SecretStr(SECRET), URL)


def limiter(
    client: redis.Redis,
    clock: FakeClock | None,
    rate: Rate | None,
    *,
    key: LimitKey = KEY,
    max_wait: float = 300.0,
) -> RateLimiter:
    if clock is None:
        return RateLimiter(client, key, rate, max_wait_seconds=max_wait, sleep=_no_sleep)
    return RateLimiter(client, key, rate, max_wait_seconds=max_wait, clock=clock, sleep=clock.sleep)


def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"unexpected wait of {seconds}s")


def test_admits_the_burst_then_paces_at_the_computed_interval(
    rdb: redis.Redis, clock: FakeClock
) -> None:
    limit = limiter(rdb, clock, Rate(5, per_seconds=10.0))  # burst 5, then one per 2 s

    assert [limit.acquire() for _ in range(5)] == [0.0] * 5
    assert clock.sleeps == []

    assert limit.acquire() == pytest.approx(2.0)  # the 6th waits exactly one interval
    assert limit.acquire() == pytest.approx(2.0)
    assert clock.sleeps == [pytest.approx(2.0), pytest.approx(2.0)]

    clock.now += 10.0  # a quiet window refills the bucket
    assert [limit.acquire() for _ in range(5)] == [0.0] * 5


def test_two_limiters_share_one_budget(rdb: redis.Redis, clock: FakeClock) -> None:
    other_process = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    first = limiter(rdb, clock, Rate(5, per_seconds=10.0))
    second = limiter(other_process, clock, Rate(5, per_seconds=10.0))

    for _ in range(3):
        assert first.acquire() == 0.0
    for _ in range(2):
        assert second.acquire() == 0.0
    assert second.acquire() == pytest.approx(2.0)
    assert first.acquire() == pytest.approx(2.0)
    other_process.close()


def test_other_accounts_have_their_own_budget(rdb: redis.Redis, clock: FakeClock) -> None:
    rate = Rate(1, per_seconds=60.0)
    assert limiter(rdb, clock, rate).acquire() == 0.0
    other_key = LimitKey.of("openai", SecretStr("sk-other"), URL)
    other_url = LimitKey.of("openai", SecretStr(SECRET), "https://eu.example.test/v1")
    keyless = LimitKey.of("ollama", None, "http://127.0.0.1:11434")
    for key in (other_key, other_url, keyless):
        assert limiter(rdb, clock, rate, key=key).acquire() == 0.0
    assert clock.sleeps == []


def test_a_cooldown_recorded_by_one_delays_every_other(rdb: redis.Redis, clock: FakeClock) -> None:
    hit_the_429 = limiter(rdb, clock, None)
    elsewhere = limiter(redis.Redis.from_url(REDIS_URL), clock, None)

    hit_the_429.cool_down(7.5)
    assert elsewhere.acquire() == pytest.approx(7.5)
    assert elsewhere.acquire() == 0.0  # the cooldown is over; no budget is configured
    assert clock.sleeps == [pytest.approx(7.5)]


def test_after_a_cooldown_the_fleet_resumes_at_the_sustained_rate(
    rdb: redis.Redis, clock: FakeClock
) -> None:
    limit = limiter(rdb, clock, Rate(5, per_seconds=10.0))
    limit.cool_down(4.0)

    waits = [limit.acquire() for _ in range(3)]
    assert waits == [pytest.approx(4.0), pytest.approx(2.0), pytest.approx(2.0)]


def test_a_cooldown_recorded_while_a_caller_sleeps_holds_it_back(
    rdb: redis.Redis, clock: FakeClock
) -> None:
    rate = Rate(1, per_seconds=10.0)
    elsewhere = limiter(rdb, clock, rate)
    elsewhere.acquire()  # the one slot of this window is gone

    def sleep_while_a_429_arrives(seconds: float) -> None:
        if not clock.sleeps:
            clock.now += 1.0
            elsewhere.cool_down(25.0)  # 1 s into our 10 s wait, another worker got a 429
            seconds -= 1.0
        clock.sleep(seconds)

    waiting = RateLimiter(
        rdb, KEY, rate, max_wait_seconds=300.0, clock=clock, sleep=sleep_while_a_429_arrives
    )
    started = clock.now
    assert waiting.acquire() == pytest.approx(26.0)  # 10 reserved, then what is left of 25
    assert clock.now - started == pytest.approx(26.0)


def test_a_shorter_cooldown_never_shortens_a_longer_one(rdb: redis.Redis, clock: FakeClock) -> None:
    limit = limiter(rdb, clock, None)
    limit.cool_down(20.0)
    limit.cool_down(3.0)
    assert limit.acquire() == pytest.approx(20.0)


def test_a_wait_past_the_bound_raises_a_retryable_error_and_reserves_nothing(
    rdb: redis.Redis, clock: FakeClock
) -> None:
    limit = limiter(rdb, clock, Rate(1, per_seconds=60.0), max_wait=10.0)
    limit.acquire()

    with pytest.raises(ProviderRateLimited) as raised:
        limit.acquire()
    error = raised.value
    assert error.retryable
    assert error.code == "rate_limited"
    assert error.retry_after == pytest.approx(60.0)
    assert error.message.startswith("local rate limit: openai budget of 1 per 60s;")
    assert "would wait 60.0s" in error.message
    assert error.details == {"provider": "openai", "local": True}

    with pytest.raises(ProviderRateLimited):
        limit.acquire()
    assert limit.acquire(max_wait=60.0) == pytest.approx(60.0)  # not 120: nothing was reserved


def test_a_cooldown_past_the_bound_says_so(rdb: redis.Redis, clock: FakeClock) -> None:
    limit = limiter(rdb, clock, Rate(100, per_seconds=60.0), max_wait=5.0)
    limit.cool_down(30.0)
    with pytest.raises(ProviderRateLimited, match="asked the fleet to back off") as raised:
        limit.acquire()
    assert raised.value.retry_after == pytest.approx(30.0)


def test_redis_keys_and_values_never_hold_the_raw_key(rdb: redis.Redis, clock: FakeClock) -> None:
    limit = limiter(rdb, clock, Rate(5, per_seconds=10.0))
    limit.acquire()
    limit.cool_down(5.0)

    keys = sorted(rdb.scan_iter("*"))
    assert keys == [KEY.redis_key("cooldown"), KEY.redis_key("tat")]
    for key in keys:
        assert SECRET not in key
        assert "example.test" not in key
        assert KEY.key_digest in key
        assert SECRET not in str(rdb.get(key))
        assert 0 < rdb.pttl(key) <= 60_000  # nothing is kept past its use


def test_twenty_threads_against_ten_slots_admit_exactly_ten_at_once(rdb: redis.Redis) -> None:
    # Redis's own clock here, as in production; the window is long so nothing frees up meanwhile.
    limit = limiter(rdb, None, Rate(10, per_seconds=3600.0), max_wait=1.0)
    admitted: list[float] = []
    refused: list[ProviderRateLimited] = []
    start = threading.Barrier(20)
    lock = threading.Lock()

    def worker() -> None:
        start.wait()
        try:
            waited = limit.acquire()
        except ProviderRateLimited as error:
            with lock:
                refused.append(error)
        else:
            with lock:
                admitted.append(waited)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert admitted == [0.0] * 10
    assert len(refused) == 10
    assert all(error.retry_after is not None and error.retry_after > 300 for error in refused)


def test_redis_time_computes_the_wait(rdb: redis.Redis) -> None:
    limit = limiter(rdb, None, Rate(10, per_seconds=60.0), max_wait=1.0)
    for _ in range(10):
        assert limit.acquire() == 0.0
    with pytest.raises(ProviderRateLimited) as raised:
        limit.acquire()
    assert raised.value.retry_after is not None
    assert 5.0 < raised.value.retry_after <= 6.0


def test_an_unreachable_redis_lets_calls_through() -> None:
    dead = redis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))
    limit = limiter(dead, None, Rate(1, per_seconds=60.0))
    assert limit.acquire() == 0.0
    assert limit.acquire() == 0.0
    limit.cool_down(5.0)  # logged, not raised
