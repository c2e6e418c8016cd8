"""An unconfigured fleet learns a provider's limit from its headers: many threads share one
account through `build_llm` and the real SDKs, against a fake that enforces its limit."""

from __future__ import annotations

import threading
from typing import Any

import redis
from pydantic import SecretStr

from eyeflow_worker.core.llm_config import ProviderConfig
from eyeflow_worker.providers.ratelimit import LimitKey
from eyeflow_worker.providers.registry import build_llm
from tests.fakes.rate_limited_server import RateLimitedServer
from tests.providers.conftest import RULES_JSON, WIRES, make_request, make_settings

THREADS = 16


def _run_threads(config: ProviderConfig, rdb: redis.Redis, calls_each: int) -> list[str]:
    settings = make_settings(llm_max_attempts=4)  # no LLM_RATE_LIMIT_RPM: nothing configured
    texts: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def worker() -> None:
        llm = build_llm(config, settings, limiter_redis=rdb)  # each its own, as workers do
        start.wait()
        for _ in range(calls_each):
            try:
                text = llm.complete(make_request()).text
            except Exception as error:  # collected, asserted on below
                with lock:
                    errors.append(error)
            else:
                with lock:
                    texts.append(text)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    return texts


def _config(provider: str, fake: RateLimitedServer, **overrides: Any) -> ProviderConfig:
    wire = WIRES[provider]
    values: dict[str, Any] = {
        "provider": provider,
        "model": wire.model,
        "api_key": SecretStr("sk-learning-test"),
        "api_url": fake.url + wire.base_path,
        "request_timeout_seconds": 10.0,
        "max_tokens": 256,
    }
    values.update(overrides)
    return ProviderConfig(**values)


def test_sixteen_threads_learn_anthropics_limit_and_meet_few_429s(rdb: redis.Redis) -> None:
    with RateLimitedServer(requests_per_minute=600, burst=3, answer=lambda _: RULES_JSON) as fake:
        config = _config("anthropic", fake)
        texts = _run_threads(config, rdb, calls_each=1)

    assert texts == [RULES_JSON] * THREADS
    assert fake.limited <= max(1, 0.05 * fake.calls)
    key = LimitKey.of("anthropic", config.api_key, fake.url)
    assert rdb.hget(key.redis_key("learn"), "lim:requests") == "600"


def test_openai_requests_and_tokens_per_minute_are_both_learned(rdb: redis.Redis) -> None:
    # The server charges a call its prompt and max_tokens (~110) up front: its token bucket
    # (600 a burst, 1000 a second) binds before its requests' (1200/min, a burst of 5).
    with RateLimitedServer(
        requests_per_minute=1200,
        burst=5,
        tokens_per_minute=60_000,
        token_burst=600,
        answer=lambda _: RULES_JSON,
    ) as fake:
        config = _config("openai", fake, max_tokens=64)
        texts = _run_threads(config, rdb, calls_each=1)

    assert len(texts) == THREADS
    assert fake.limited <= max(1, 0.05 * fake.calls)
    learned = rdb.hgetall(LimitKey.of("openai", config.api_key, config.api_url).redis_key("learn"))
    assert learned["lim:requests"] == "1200"
    assert learned["lim:tokens"] == "60000"


def test_a_server_without_headers_is_paced_after_its_first_429s(rdb: redis.Redis) -> None:
    provider = "anthropic"
    with RateLimitedServer(
        requests_per_minute=600, burst=4, headers=False, answer=lambda _: RULES_JSON
    ) as fake:
        config = _config(provider, fake)
        texts = _run_threads(config, rdb, calls_each=1)

    assert len(texts) == THREADS  # the 429s were retried, after the fleet cooled down
    learned = rdb.hgetall(LimitKey.of(provider, config.api_key, config.api_url).redis_key("learn"))
    assert "lim:requests" not in learned
    assert float(learned["arpm"]) >= 1.0
