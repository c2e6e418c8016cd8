"""What the limiter learns from answers (a real Redis, a fake clock): learned request limits and
the sync to the server's bucket, token buckets and their settling, the first-contact probe,
adaptive back-off and probe-up, the configured cap, expiry, key hygiene."""

from __future__ import annotations

import pytest
import redis
from pydantic import SecretStr

from eyeflow_worker.core.llm import RateLimitObservation, RateLimitWindow
from eyeflow_worker.providers.ratelimit import LimitKey, Rate, RateLimiter, Ticket, TokenCost
from eyeflow_worker.providers.ratelimit_scripts import HEADROOM, LEARN_TTL_SECONDS
from tests.providers.ratelimit.conftest import FakeClock

SECRET = "sk-live-RAWKEY-never-in-redis-0123456789"
KEY = LimitKey.of("anthropic", SecretStr(SECRET), "https://api.example.test")
NO_TICKET = Ticket(0.0)


def learner(rdb: redis.Redis, clock: FakeClock, rate: Rate | None = None) -> RateLimiter:
    return RateLimiter(
        rdb, KEY, rate, max_wait_seconds=300.0, learning=True, clock=clock, sleep=clock.sleep
    )


def requests(limit: int, remaining: int, reset: float = 1.0) -> RateLimitObservation:
    return RateLimitObservation(requests=RateLimitWindow(limit, remaining, reset))


def learned(rdb: redis.Redis) -> dict[str, str]:
    return rdb.hgetall(KEY.redis_key("learn"))  # type: ignore[return-value]


def test_a_learned_request_limit_paces_after_the_servers_remaining_burst(
    rdb: redis.Redis, clock: FakeClock
) -> None:
    limit = learner(rdb, clock)
    first = limit.reserve()  # the probe
    limit.feedback(first, "ok", observed=requests(600, 9))
    assert learned(rdb)["lim:requests"] == "600"

    waits = [limit.acquire() for _ in range(12)]
    # 9 left on the server, one kept in reserve: 8 × 0.95 (our headroom) at once, then paced.
    assert waits[:7] == [0.0] * 7
    assert all(w > 0 for w in waits[8:])
    assert waits[-1] == pytest.approx(60.0 / (600 * HEADROOM), rel=1e-3)


def test_the_server_view_never_loosens_ours(rdb: redis.Redis, clock: FakeClock) -> None:
    limit = learner(rdb, clock)
    limit.feedback(limit.reserve(), "ok", observed=requests(60, 1))
    assert limit.acquire() == pytest.approx(60 / (60 * HEADROOM), rel=1e-3)
    limit.feedback(NO_TICKET, "ok", observed=requests(60, 60))  # a stale, rosier view
    assert limit.acquire() == pytest.approx(60 / (60 * HEADROOM), rel=1e-3)


def test_an_exhausted_server_bucket_cools_the_fleet_until_a_request_is_back(
    rdb: redis.Redis, clock: FakeClock
) -> None:
    limit = learner(rdb, clock)
    limit.feedback(limit.reserve(), "limited", observed=requests(120, 0, reset=30.0))
    # The reset says when all 120 are back; one is back after 0.5 s.
    assert int(rdb.get(KEY.redis_key("cooldown")) or 0) == pytest.approx(
        (clock.now + 0.5) * 1e6, abs=10
    )
    # Our bucket, synced to the empty one, sends one of our intervals later (past the cooldown).
    assert limit.acquire() == pytest.approx(60 / (120 * HEADROOM), rel=1e-3)


def test_the_configured_cap_stays_an_upper_bound(rdb: redis.Redis, clock: FakeClock) -> None:
    limit = learner(rdb, clock, Rate(60, 60.0))
    limit.feedback(limit.reserve(), "ok", observed=requests(6000, 5999))
    waits = [limit.acquire() for _ in range(70)]
    assert waits[-1] == pytest.approx(1.0)  # the cap's 1/s, not the learned 100/s


def test_tokens_are_reserved_by_estimate_and_settled_by_usage(
    rdb: redis.Redis, clock: FakeClock
) -> None:
    limit = learner(rdb, clock)
    tokens = RateLimitObservation(
        requests=RateLimitWindow(1000, 1000), tokens=RateLimitWindow(6000, 6000)
    )
    limit.feedback(limit.reserve(), "ok", observed=tokens)  # 6000/min: 10 ms a token

    ticket = limit.reserve(TokenCost(tokens=5000))
    assert ticket.reserved == TokenCost(tokens=5000)
    tat_key = KEY.redis_key("tok:tokens")
    assert int(rdb.get(tat_key) or 0) == pytest.approx((clock.now + 50.0) * 1e6, abs=10)

    limit.feedback(ticket, "ok", usage=TokenCost(tokens=1000))  # it used 4000 fewer
    assert int(rdb.get(tat_key) or 0) == pytest.approx((clock.now + 10.0) * 1e6, abs=10)
    assert limit.reserve(TokenCost(tokens=5000)).waited == 0.0  # 5000 left of 6000
    assert limit.reserve(TokenCost(tokens=1000)).waited == pytest.approx(10.0)  # 1000 × 10 ms


def test_fewer_tokens_left_than_the_next_call_needs_waits_for_them(
    rdb: redis.Redis, clock: FakeClock
) -> None:
    limit = learner(rdb, clock)
    observed = RateLimitObservation(
        input_tokens=RateLimitWindow(6000, 100, 59.0), output_tokens=RateLimitWindow(600, 600)
    )
    limit.feedback(limit.reserve(), "ok", observed=observed)
    ticket = limit.reserve(TokenCost(tokens=9999, input_tokens=600, output_tokens=60))
    assert ticket.waited == pytest.approx(5.0)  # 500 input tokens short, 100 a second
    assert ticket.reserved == TokenCost(input_tokens=600, output_tokens=60)  # learned ones only


def test_first_contact_sends_one_probe_and_the_others_wait_for_its_answer(
    rdb: redis.Redis, clock: FakeClock
) -> None:
    probe = learner(rdb, clock)
    ticket = probe.reserve()

    def answer_arrives(seconds: float) -> None:
        clock.sleep(seconds)
        if len(clock.sleeps) == 3:  # 150 ms later the probe's answer lands
            probe.feedback(ticket, "ok", observed=requests(60, 59))

    other = RateLimiter(
        rdb, KEY, None, max_wait_seconds=300.0, learning=True, clock=clock, sleep=answer_arrives
    )
    waited = other.acquire()
    assert clock.sleeps == [pytest.approx(0.05)] * 3
    assert waited == pytest.approx(0.15)  # then under the learned limit (58 of 60 left)
    assert rdb.exists(KEY.redis_key("probe")) == 0


def test_a_probe_that_never_answers_holds_the_others_five_seconds_at_most(
    rdb: redis.Redis, clock: FakeClock
) -> None:
    learner(rdb, clock).reserve()
    assert learner(rdb, clock).acquire() == pytest.approx(5.0)
    assert learner(rdb, clock).acquire() == 0.0  # no limit known: nothing to wait for


def test_a_probe_without_an_answer_lets_the_next_caller_probe(
    rdb: redis.Redis, clock: FakeClock
) -> None:
    limit = learner(rdb, clock)
    limit.feedback(limit.reserve(), "none")  # a timeout: nothing learned
    assert limit.acquire() == 0.0  # the next probe, at once
    assert learner(rdb, clock).acquire() == pytest.approx(5.0)


def test_a_short_bound_skips_the_wait_for_the_probe(rdb: redis.Redis, clock: FakeClock) -> None:
    learner(rdb, clock).reserve()
    assert learner(rdb, clock).acquire(max_wait=0.01) == 0.0


def _send(limit: RateLimiter, count: int) -> None:
    for _ in range(count):
        limit.feedback(limit.reserve(), "ok")


def test_an_account_without_headers_is_unlimited_until_a_429_then_halved(
    rdb: redis.Redis, clock: FakeClock
) -> None:
    limit = learner(rdb, clock)
    _send(limit, 20)  # 20 within a second: 1200/min
    assert clock.sleeps == []

    limit.feedback(NO_TICKET, "limited")
    assert float(learned(rdb)["arpm"]) == pytest.approx(600.0)  # half the measured send rate
    limit.feedback(NO_TICKET, "limited")  # the same storm's other 429s: no second halving
    assert float(learned(rdb)["arpm"]) == pytest.approx(600.0)

    clock.now += 2.0
    limit.feedback(NO_TICKET, "limited")
    assert float(learned(rdb)["arpm"]) == pytest.approx(300.0)  # 20 in 2 s, halved
    clock.sleeps.clear()
    _send(limit, 5)
    assert clock.sleeps == [pytest.approx(0.2, rel=1e-3)] * 4  # no burst left: one per 0.2 s


def test_successes_probe_the_adaptive_rate_up_slowly_but_never_past_the_cap(
    rdb: redis.Redis, clock: FakeClock
) -> None:
    limit = learner(rdb, clock, Rate(310, 60.0))
    _send(limit, 10)
    limit.feedback(NO_TICKET, "limited")
    assert float(learned(rdb)["arpm"]) == pytest.approx(300.0)  # 10 in 1 s, halved

    _send(limit, 55)  # about 11 s at the adaptive 300/min
    assert float(learned(rdb)["arpm"]) == pytest.approx(310.0, rel=1e-4)  # not 315: the cap
    _send(limit, 5)
    assert float(learned(rdb)["arpm"]) == pytest.approx(310.0, rel=1e-4)


def test_an_adaptive_rate_never_falls_below_one_a_minute(
    rdb: redis.Redis, clock: FakeClock
) -> None:
    limit = learner(rdb, clock)
    for _ in range(12):
        limit.feedback(NO_TICKET, "limited")
        clock.now += 2.0
    assert float(learned(rdb)["arpm"]) == 1.0


def test_a_low_adaptive_rate_still_rises_while_callers_are_held_back_by_it(
    rdb: redis.Redis, clock: FakeClock
) -> None:
    """At 1/min the send-rate window (10 s) sees no sends when an answer takes 25 s; callers
    waiting for slots are the demand that lets the rate rise again."""
    limit = learner(rdb, clock)
    for _ in range(12):
        limit.feedback(NO_TICKET, "limited")
        clock.now += 2.0
    assert float(learned(rdb)["arpm"]) == 1.0
    for _ in range(6):
        ticket = limit.reserve()  # waits for its slot: held back by the adaptive budget
        clock.now += 25.0  # a slow answer
        limit.feedback(ticket, "ok")
    assert float(learned(rdb)["arpm"]) > 1.2


def test_what_was_learned_expires_a_few_minutes_after_the_last_answer(
    rdb: redis.Redis, clock: FakeClock
) -> None:
    limit = learner(rdb, clock)
    limit.feedback(limit.reserve(), "ok", observed=requests(60, 1))
    ttl = rdb.pttl(KEY.redis_key("learn"))
    assert LEARN_TTL_SECONDS * 1000 - 5000 < ttl <= LEARN_TTL_SECONDS * 1000

    rdb.delete(KEY.redis_key("learn"), KEY.redis_key("tat"))  # as if the TTL had run out
    assert limit.acquire() == 0.0  # first contact again: a new probe goes at once
    assert rdb.exists(KEY.redis_key("probe")) == 1


def test_without_learning_answers_teach_nothing(rdb: redis.Redis, clock: FakeClock) -> None:
    limit = RateLimiter(rdb, KEY, None, max_wait_seconds=300.0, clock=clock, sleep=clock.sleep)
    limit.feedback(limit.reserve(), "limited", observed=requests(1, 0))
    assert [limit.acquire() for _ in range(5)] == [0.0] * 5
    assert rdb.keys("*") == []


def test_learning_keys_hold_digests_only_and_expire(rdb: redis.Redis, clock: FakeClock) -> None:
    limit = learner(rdb, clock)
    observed = RateLimitObservation(
        requests=RateLimitWindow(60, 50, 1.0), input_tokens=RateLimitWindow(1000, 900, 6.0)
    )
    limit.feedback(limit.reserve(), "ok", observed=observed)
    limit.feedback(limit.reserve(TokenCost(input_tokens=10)), "limited")
    keys = sorted(rdb.scan_iter("*"))
    assert {key.rsplit(":", 1)[-1] for key in keys} >= {"learn", "sends", "tat", "input_tokens"}
    for key in keys:
        assert SECRET not in key
        assert "example.test" not in key
        assert KEY.key_digest in key
        assert SECRET not in str(rdb.dump(key))
        assert 0 < rdb.pttl(key) <= LEARN_TTL_SECONDS * 1000
