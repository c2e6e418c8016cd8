"""The limiter inside `build_llm`, with the real OpenAI SDK talking to a loopback fake."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import redis
from pydantic import ValidationError

from eyeflow_worker.core.deadline import Deadline
from eyeflow_worker.core.errors import ProviderRateLimited, ProviderUnavailable
from eyeflow_worker.core.llm import Provider
from eyeflow_worker.core.llm_config import ProviderConfig
from eyeflow_worker.providers.chain import FallbackChain
from eyeflow_worker.providers.offline import OfflineProvider
from eyeflow_worker.providers.ratelimit import Rate
from eyeflow_worker.providers.ratelimited import RateLimitedProvider, rate_for
from eyeflow_worker.providers.registry import build_llm
from eyeflow_worker.providers.retry import RetryingProvider
from eyeflow_worker.tasks.execution import JobContext
from tests.fakes.llm_servers import FakeLLMServer, openai_completion, openai_error
from tests.providers.conftest import RULES_JSON, WIRES, make_request, make_settings

WIRE = WIRES["openai"]


class CallRecorder:
    """A `sleep` that records each wait and how many requests the server had seen by then."""

    def __init__(self, server: FakeLLMServer) -> None:
        self.server = server
        self.delays: list[float] = []
        self.calls_seen: list[int] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.calls_seen.append(self.server.calls)


@pytest.fixture(scope="module")
def _module_server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as fake:
        yield fake


@pytest.fixture
def server(_module_server: FakeLLMServer) -> FakeLLMServer:
    _module_server.reset(openai_completion(RULES_JSON))
    return _module_server


def _chain_links(llm: Provider) -> list[Provider]:
    links = llm.links if isinstance(llm, FallbackChain) else [llm]
    inner = []
    for link in links:
        assert isinstance(link, RetryingProvider)
        inner.append(link.inner)
    return inner


def test_a_429_retry_after_makes_a_separately_built_provider_wait(
    server: FakeLLMServer, rdb: redis.Redis
) -> None:
    settings = make_settings(llm_max_attempts=1, llm_retry_max_total_seconds=60.0)
    server.script(openai_error(429, "slow down", headers={"retry-after": "30"}))

    first = CallRecorder(server)
    with pytest.raises(ProviderRateLimited) as raised:
        build_llm(WIRE.config(server), settings, sleep=first, limiter_redis=rdb).complete(
            make_request()
        )
    assert raised.value.retry_after == 30.0
    assert "local" not in str(raised.value.details)  # the server's 429, not ours

    cooldown = [key for key in rdb.scan_iter("*") if key.endswith(":cooldown")]
    assert len(cooldown) == 1
    assert cooldown[0].startswith("eyeflow:ratelimit:{openai:")
    assert 29_000 < rdb.pttl(cooldown[0]) <= 31_000

    second = CallRecorder(server)  # another worker, its own provider, same account
    response = build_llm(WIRE.config(server), settings, sleep=second, limiter_redis=rdb).complete(
        make_request()
    )
    assert response.text == RULES_JSON
    assert len(second.delays) == 1
    assert 29.0 < second.delays[0] <= 30.0
    assert second.calls_seen == [1]  # it waited before sending, not after
    assert server.calls == 2


def test_an_absurd_retry_after_cools_the_fleet_down_for_the_longest_backoff_only(
    server: FakeLLMServer, rdb: redis.Redis
) -> None:
    settings = make_settings(llm_max_attempts=1, llm_retry_max_delay_seconds=20.0)
    server.script(openai_error(429, "slow down", headers={"retry-after": "86400"}))

    with pytest.raises(ProviderRateLimited):
        build_llm(
            WIRE.config(server), settings, sleep=CallRecorder(server), limiter_redis=rdb
        ).complete(make_request())

    (cooldown,) = [key for key in rdb.scan_iter("*") if key.endswith(":cooldown")]
    assert 19_000 < rdb.pttl(cooldown) <= 21_000  # not an hour


def test_a_529_with_rate_limit_reset_headers_cools_nobody_down(
    server: FakeLLMServer, rdb: redis.Redis
) -> None:
    settings = make_settings(llm_max_attempts=1)
    server.script(
        openai_error(
            503,
            "overloaded",
            error_type="server_error",
            headers={"x-ratelimit-reset-tokens": "45s", "x-ratelimit-remaining-tokens": "0"},
        )
    )

    with pytest.raises(ProviderUnavailable) as raised:
        build_llm(
            WIRE.config(server), settings, sleep=CallRecorder(server), limiter_redis=rdb
        ).complete(make_request())

    assert raised.value.retry_after is None
    assert [key for key in rdb.scan_iter("*") if key.endswith(":cooldown")] == []


def test_every_retry_attempt_takes_a_slot_of_its_own(
    server: FakeLLMServer, rdb: redis.Redis
) -> None:
    settings = make_settings(
        llm_max_attempts=3, llm_retry_max_total_seconds=100.0, llm_rate_limits='{"openai": 1}'
    )
    server.script(openai_error(503, "overloaded", error_type="server_error"))
    sleeps = CallRecorder(server)

    llm = build_llm(WIRE.config(server), settings, sleep=sleeps, limiter_redis=rdb)
    assert llm.complete(make_request()).text == RULES_JSON

    backoff, slot = sleeps.delays
    assert backoff <= 0.05  # the retry loop's own jittered backoff
    assert 59.0 < slot <= 60.0  # 1 request/minute: the second attempt waits for its slot
    assert sleeps.calls_seen == [1, 1]
    assert server.calls == 2


def test_a_wait_past_the_retry_budget_fails_fast_for_the_fallback(
    server: FakeLLMServer, rdb: redis.Redis
) -> None:
    settings = make_settings(llm_retry_max_total_seconds=10.0, llm_rate_limit_rpm=1)
    llm = build_llm(WIRE.config(server), settings, sleep=CallRecorder(server), limiter_redis=rdb)
    llm.complete(make_request())

    with pytest.raises(ProviderRateLimited, match="local rate limit: openai budget of 1 per 60s"):
        llm.complete(make_request())
    assert server.calls == 1


def test_a_slot_wait_longer_than_the_job_has_left_is_refused_at_once(
    server: FakeLLMServer, rdb: redis.Redis
) -> None:
    settings = make_settings(llm_retry_max_total_seconds=100.0, llm_rate_limit_rpm=1)
    build_llm(WIRE.config(server), settings, limiter_redis=rdb).complete(make_request())

    sleeps = CallRecorder(server)
    llm = build_llm(
        WIRE.config(server),
        settings,
        sleep=sleeps,
        limiter_redis=rdb,
        deadline=Deadline(20.0),  # the next slot is ~60 s away
    )
    with pytest.raises(ProviderRateLimited, match="local rate limit") as raised:
        llm.complete(make_request())
    assert raised.value.retry_after is not None
    assert raised.value.retry_after > 20.0
    assert sleeps.delays == []  # neither the limiter nor the retry loop waited
    assert server.calls == 1


def test_a_slot_wait_within_the_jobs_time_is_taken(server: FakeLLMServer, rdb: redis.Redis) -> None:
    settings = make_settings(llm_retry_max_total_seconds=100.0, llm_rate_limit_rpm=1)
    build_llm(WIRE.config(server), settings, limiter_redis=rdb).complete(make_request())

    sleeps = CallRecorder(server)
    llm = build_llm(
        WIRE.config(server),
        settings,
        sleep=sleeps,
        limiter_redis=rdb,
        deadline=Deadline(90.0),
    )
    assert llm.complete(make_request()).text == RULES_JSON
    assert len(sleeps.delays) == 1
    assert 59.0 < sleeps.delays[0] <= 60.0


def test_each_link_is_limited_except_the_offline_drafter(
    server: FakeLLMServer, rdb: redis.Redis
) -> None:
    settings = make_settings(llm_fallback_providers=["ollama", "offline"])
    links = _chain_links(build_llm(WIRE.config(server), settings, limiter_redis=rdb))
    assert [type(link) for link in links] == [
        RateLimitedProvider,
        RateLimitedProvider,
        OfflineProvider,
    ]
    offline = ProviderConfig(provider="offline", model="eyeflow-offline-drafter-1")
    assert isinstance(
        _chain_links(build_llm(offline, settings, limiter_redis=rdb))[0], OfflineProvider
    )


def test_without_a_redis_client_nothing_is_limited(server: FakeLLMServer) -> None:
    links = _chain_links(build_llm(WIRE.config(server), make_settings()))
    assert not isinstance(links[0], RateLimitedProvider)


def test_jobs_build_their_provider_with_the_runtime_redis(
    server: FakeLLMServer, rdb: redis.Redis
) -> None:
    config = WIRE.config(server)
    rt = SimpleNamespace(
        settings=make_settings(),
        redis=rdb,
        configs=SimpleNamespace(llm_config=lambda tenant: config),
    )
    llm = JobContext(rt, "tenant-a", "job-1").llm()  # type: ignore[arg-type]
    assert isinstance(_chain_links(llm)[0], RateLimitedProvider)


def test_budgets_come_from_settings() -> None:
    settings = make_settings(
        llm_rate_limit_rpm=100, llm_rate_limits='{"Anthropic": 50, "ollama": 0}'
    )
    assert rate_for("anthropic", settings) == Rate(50, 60.0)
    assert rate_for("openai", settings) == Rate(100, 60.0)
    assert rate_for("ollama", settings) is None  # an explicit 0 turns the budget off
    assert rate_for("openai", make_settings()) is None

    for raw in ("{not json", '["openai"]', '{"openai": "fast"}', '{"openai": true}', '{"a": -1}'):
        with pytest.raises(ValidationError, match="llm_rate_limits"):
            make_settings(llm_rate_limits=raw)
