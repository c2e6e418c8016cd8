"""`build_llm(..., deadline=...)`: the job's time limit bounds the whole fallback chain
(every link's retries and waits), not each link on its own. Real SDKs against a loopback fake;
time is simulated (the injected `sleep` moves the injected clock)."""

from __future__ import annotations

import pytest

from eyeflow_worker.core.deadline import Deadline
from eyeflow_worker.core.errors import JobTimeout, ProviderUnavailable
from eyeflow_worker.core.llm_config import ProviderConfig
from eyeflow_worker.providers.registry import build_llm
from tests.fakes.llm_servers import FakeLLMServer
from tests.providers.conftest import RULES_JSON, WIRES, make_request, make_settings

# Each link may retry for 60 s on its own; 10 attempts, the server asks for 7 s between them.
SETTINGS = make_settings(
    llm_max_attempts=10,
    llm_retry_max_total_seconds=60.0,
    llm_retry_base_delay_seconds=1.0,
    llm_retry_max_delay_seconds=30.0,
)
DOWN = {"retry-after": "7"}


class SimulatedTime:
    """A monotonic clock that only `sleep` moves, plus a fixed cost per request sent."""

    def __init__(self, server: FakeLLMServer, seconds_per_request: float = 0.0) -> None:
        self.server = server
        self.seconds_per_request = seconds_per_request
        self.slept: list[float] = []

    def now(self) -> float:
        return sum(self.slept) + self.seconds_per_request * self.server.calls

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def _three_links_down(server: FakeLLMServer) -> tuple[ProviderConfig, list[ProviderConfig]]:
    server.default = WIRES["openai"].error(503, "down", DOWN)
    primary = WIRES["openai"].config(server)
    fallbacks = [WIRES["ollama"].config(server), WIRES["llamacpp"].config(server)]
    return primary, fallbacks


def test_without_a_job_limit_each_link_spends_its_own_budget(server: FakeLLMServer) -> None:
    primary, fallbacks = _three_links_down(server)
    time = SimulatedTime(server)
    llm = build_llm(primary, SETTINGS, fallbacks=fallbacks, sleep=time.sleep, clock=time.now)

    with pytest.raises(ProviderUnavailable):
        llm.complete(make_request())
    assert sum(time.slept) == 3 * 56.0  # unchanged behaviour: 8 waits of 7 s per link


@pytest.mark.parametrize(("job_seconds", "primary_waits"), [(60.0, 8), (45.0, 6)])
def test_three_dead_links_share_the_jobs_time(
    server: FakeLLMServer, job_seconds: float, primary_waits: int
) -> None:
    primary, fallbacks = _three_links_down(server)
    time = SimulatedTime(server)
    llm = build_llm(
        primary,
        SETTINGS,
        fallbacks=fallbacks,
        sleep=time.sleep,
        clock=time.now,
        deadline=Deadline(job_seconds, clock=time.now),
    )

    with pytest.raises(ProviderUnavailable) as raised:
        llm.complete(make_request())

    # The primary waits while a wait fits in its own budget and in what is left of the job
    # (60 s: 8 x 7 s, its budget; 45 s: 6 x 7 s, then 3 s left); each fallback then makes one
    # attempt and gives up at once rather than sleep past the limit (without the limit: 3 x 56 s).
    # Every link having given up, the primary's error is raised, with what the fallbacks said.
    assert sum(time.slept) <= job_seconds
    assert time.slept == [7.0] * primary_waits
    assert [r.path for r in server.requests][-2:] == ["/api/chat", "/v1/chat/completions"]
    assert raised.value.message.startswith("openai is unavailable (503)")
    assert [f["provider"] for f in raised.value.details["fallbacks"]] == ["ollama", "llamacpp"]


def test_time_spent_mid_chain_is_a_job_timeout(server: FakeLLMServer) -> None:
    primary, fallbacks = _three_links_down(server)
    time = SimulatedTime(server, seconds_per_request=25.0)  # a slow, failing upstream
    llm = build_llm(
        primary,
        SETTINGS,
        fallbacks=fallbacks,
        sleep=time.sleep,
        clock=time.now,
        deadline=Deadline(60.0, clock=time.now),
    )

    with pytest.raises(JobTimeout, match="The job ran past its time limit"):
        llm.complete(make_request())
    # openai: 25 s, wait 7 s, 25 s (57 s; 3 s left, too little for a wait); ollama starts with
    # 3 s left and its request runs past the limit; llamacpp is never started.
    assert time.slept == [7.0]
    assert [r.path for r in server.requests] == [
        "/v1/chat/completions",
        "/v1/chat/completions",
        "/api/chat",
    ]


def test_a_spent_job_sends_nothing(server: FakeLLMServer) -> None:
    server.default = WIRES["openai"].ok(RULES_JSON)
    llm = build_llm(WIRES["openai"].config(server), SETTINGS, deadline=Deadline(0.0))

    with pytest.raises(JobTimeout):
        llm.complete(make_request())
    assert server.calls == 0


def test_with_time_left_a_job_is_served_as_usual(server: FakeLLMServer) -> None:
    server.script(WIRES["openai"].error(503, "down", DOWN))
    server.default = WIRES["openai"].ok(RULES_JSON)
    time = SimulatedTime(server)
    llm = build_llm(
        WIRES["openai"].config(server),
        SETTINGS,
        sleep=time.sleep,
        clock=time.now,
        deadline=Deadline(60.0, clock=time.now),
    )

    assert llm.complete(make_request()).text == RULES_JSON
    assert time.slept == [7.0]
