"""The retry policy as pure functions, and the loop's budget, against a scripted stub provider."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from eyeflow_worker.core.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
    ProviderRequestError,
    ProviderTimeout,
    ProviderUnavailable,
)
from eyeflow_worker.core.llm import LLMRequest, LLMResponse, Usage
from eyeflow_worker.providers.retry import RetryingProvider, RetryPolicy
from tests.providers.conftest import make_request, make_settings

POLICY = RetryPolicy(
    max_attempts=4,
    max_total_seconds=100.0,
    base_delay_seconds=1.0,
    max_delay_seconds=8.0,
    jitter=lambda: 1.0,
)


@pytest.mark.parametrize(
    ("error", "retry"),
    [
        (ProviderUnavailable("503"), True),
        (ProviderTimeout("slow"), True),
        (ProviderRateLimited("429"), True),
        (ProviderAuthError("401"), False),
        (ProviderRequestError("400"), False),
        (ProviderError("odd"), False),
        (ValueError("bug"), False),
    ],
)
def test_only_retryable_errors_are_retried(error: Exception, retry: bool) -> None:
    assert POLICY.should_retry(error, attempt=1, elapsed=0.0) is retry


def test_attempts_and_budget_bound_retries() -> None:
    error = ProviderUnavailable("503")
    assert POLICY.should_retry(error, attempt=3, elapsed=0.0)
    assert not POLICY.should_retry(error, attempt=4, elapsed=0.0)
    assert not POLICY.should_retry(error, attempt=1, elapsed=100.0)


def test_a_server_wait_past_the_budget_stops_retrying() -> None:
    assert POLICY.should_retry(ProviderRateLimited("429", retry_after=90), 1, elapsed=10.0)
    assert not POLICY.should_retry(ProviderRateLimited("429", retry_after=91), 1, elapsed=10.0)


def test_delay_honours_retry_after_even_above_the_backoff_cap() -> None:
    assert POLICY.retry_delay(ProviderRateLimited("429", retry_after=30.0), 1) == 30.0


@pytest.mark.parametrize("retry_after", [0.0, 0.2])
def test_a_server_wait_is_never_shorter_than_the_base_delay(retry_after: float) -> None:
    error = ProviderUnavailable("503", retry_after=retry_after)
    assert POLICY.retry_delay(error, 1) == POLICY.base_delay_seconds


def test_a_retry_after_longer_than_the_budget_gives_up_so_a_fallback_can_serve() -> None:
    for seconds in (86_400.0, 3600.0, 95.0):
        assert not POLICY.should_retry(ProviderRateLimited("429", retry_after=seconds), 1, 10.0)
    assert POLICY.should_retry(ProviderRateLimited("429", retry_after=5.0), 1, 10.0)
    # Were it taken anyway (the fleet cooldown), an absurd value is the longest backoff.
    assert POLICY.retry_delay(ProviderRateLimited("429", retry_after=86_400.0), 1) == 8.0


def test_backoff_is_exponential_capped_and_fully_jittered() -> None:
    error = ProviderUnavailable("503")
    assert [POLICY.retry_delay(error, n) for n in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    half = RetryPolicy(base_delay_seconds=1.0, max_delay_seconds=8.0, jitter=lambda: 0.5)
    assert half.retry_delay(error, 3) == 2.0
    zero = RetryPolicy(jitter=lambda: 0.0)
    assert zero.retry_delay(error, 2) == 0.0


def test_policy_from_settings() -> None:
    settings = make_settings(
        llm_max_attempts=5,
        llm_retry_max_total_seconds=42.0,
        llm_retry_base_delay_seconds=0.5,
        llm_retry_max_delay_seconds=7.0,
    )
    policy = RetryPolicy.from_settings(settings)
    assert (policy.max_attempts, policy.max_total_seconds) == (5, 42.0)
    assert (policy.base_delay_seconds, policy.max_delay_seconds) == (0.5, 7.0)


class Scripted:
    """A provider that raises the scripted errors in turn, then answers."""

    name = "scripted"

    def __init__(self, *errors: Exception, clock: FakeClock | None = None, cost: float = 0) -> None:
        self.errors: Iterator[Exception] = iter(errors)
        self.calls = 0
        self.clock = clock
        self.cost = cost

    def complete(self, request: LLMRequest) -> LLMResponse:
        self.calls += 1
        if self.clock is not None:
            self.clock.now += self.cost
        error = next(self.errors, None)
        if error is not None:
            raise error
        return LLMResponse("{}", self.name, "m", Usage(), latency_ms=1)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.events: list[str] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.events.append(f"sleep {seconds:g}")
        self.now += seconds


def test_loop_notifies_before_each_wait_and_succeeds() -> None:
    clock = FakeClock()
    inner = Scripted(ProviderUnavailable("503"), ProviderRateLimited("429", retry_after=3.0))
    loop = RetryingProvider(
        inner,
        POLICY,
        on_retry=lambda delay, error: clock.events.append(f"retry {delay:g} {error}"),
        sleep=clock.sleep,
        clock=clock,
    )

    assert loop.complete(make_request()).text == "{}"
    assert inner.calls == 3
    assert clock.events == ["retry 1 503", "sleep 1", "retry 3 429", "sleep 3"]


def test_loop_never_sleeps_past_the_budget() -> None:
    clock = FakeClock()
    policy = RetryPolicy(
        max_attempts=10,
        max_total_seconds=10.0,
        base_delay_seconds=4.0,
        max_delay_seconds=100.0,
        jitter=lambda: 1.0,
    )
    inner = Scripted(*(ProviderTimeout("slow") for _ in range(10)), clock=clock, cost=1.0)
    loop = RetryingProvider(inner, policy, sleep=clock.sleep, clock=clock)

    with pytest.raises(ProviderTimeout):
        loop.complete(make_request())

    # 1 s call, wait 4; 1 s call, wait min(8, 10-6)=4; 1 s call at t=11 → budget spent.
    assert clock.events == ["sleep 4", "sleep 4"]
    assert inner.calls == 3


def test_loop_raises_non_retryable_errors_at_once() -> None:
    clock = FakeClock()
    inner = Scripted(ProviderAuthError("401"))
    loop = RetryingProvider(inner, POLICY, sleep=clock.sleep, clock=clock)

    with pytest.raises(ProviderAuthError):
        loop.complete(make_request())
    assert inner.calls == 1
    assert clock.events == []


def test_loop_gives_up_after_max_attempts() -> None:
    clock = FakeClock()
    inner = Scripted(*(ProviderUnavailable("503") for _ in range(10)))
    loop = RetryingProvider(inner, POLICY, sleep=clock.sleep, clock=clock)

    with pytest.raises(ProviderUnavailable):
        loop.complete(make_request())
    assert inner.calls == 4
    assert clock.events == ["sleep 1", "sleep 2", "sleep 4"]
