"""The evaluate job's choice between the expression evaluator and the LLM fallback."""

from __future__ import annotations

import fakeredis
import pytest
import redis

from eyeflow_worker.core.errors import InvalidInput, InvalidLLMOutput
from eyeflow_worker.core.llm import LLMRequest, LLMResponse, Provider, Usage
from eyeflow_worker.evaluation import LLMChoice, evaluate_condition_job


class CountingProvider:
    name = "counting"

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.requests: list[LLMRequest] = []

    def complete(self, request: LLMRequest) -> LLMResponse:
        self.requests.append(request)
        return LLMResponse(
            text=self.answers.pop(0),
            provider="fake",
            model="fake-1",
            usage=Usage(input_tokens=50, output_tokens=10),
            latency_ms=5,
            cost_usd=0.001,
        )


@pytest.fixture
def cache() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis(decode_responses=True)


def _run(condition: str, context: dict, llm: Provider | None, cache: fakeredis.FakeRedis) -> dict:
    factory = (lambda: LLMChoice(llm, "tenant", "fake", "fake-1")) if llm is not None else None
    return evaluate_condition_job(
        condition, context, llm_factory=factory, cache=cache, cache_ttl_seconds=60
    )


def test_expressions_never_reach_the_llm(cache: fakeredis.FakeRedis) -> None:
    llm = CountingProvider()
    result = _run("$cpu > 80", {"cpu": "91.5"}, llm, cache)

    assert result["result"] is True
    assert result["method"] == "deterministic"
    assert llm.requests == []


def test_plain_english_goes_to_the_llm_once_then_comes_from_the_cache(
    cache: fakeredis.FakeRedis,
) -> None:
    llm = CountingProvider('Sure: {"result": true, "explanation": "cpu is 99, above normal"}')
    context = {"cpu": 99}

    first = _run("the database looks overloaded", context, llm, cache)
    second = _run("the database looks overloaded", context, llm, cache)

    assert first["method"] == second["method"] == "llm"
    assert first["result"] is second["result"] is True
    assert first["explanation"] == "cpu is 99, above normal"
    assert first["cached"] is False
    assert second["cached"] is True
    assert len(llm.requests) == 1
    assert llm.requests[0].purpose == "evaluate"
    assert '"cpu": 99' in llm.requests[0].messages[0].content
    assert first["provider"] == "fake"
    assert first["tokens_used"] == 60


def test_a_different_context_is_a_different_question(cache: fakeredis.FakeRedis) -> None:
    llm = CountingProvider(
        '{"result": true, "explanation": "busy"}', '{"result": false, "explanation": "idle"}'
    )

    busy = _run("the database looks overloaded", {"cpu": 99}, llm, cache)
    idle = _run("the database looks overloaded", {"cpu": 3}, llm, cache)

    assert (busy["result"], idle["result"]) == (True, False)
    assert len(llm.requests) == 2


def test_with_the_fallback_off_plain_english_is_refused(cache: fakeredis.FakeRedis) -> None:
    for english in ("the database looks overloaded", "overloaded", "not ready"):
        with pytest.raises(InvalidInput) as caught:
            _run(english, {}, None, cache)
        assert caught.value.code == "invalid_input"
        assert "plain English" in caught.value.message


def test_a_single_english_word_is_a_question_not_a_truthy_bare_word(
    cache: fakeredis.FakeRedis,
) -> None:
    llm = CountingProvider('{"result": false, "explanation": "cpu is 3, not overloaded"}')

    result = _run("overloaded", {"cpu": 3}, llm, cache)

    assert (result["method"], result["result"]) == ("llm", False)
    assert len(llm.requests) == 1


def test_a_fallback_providers_verdict_is_not_cached_as_the_configured_models(
    cache: fakeredis.FakeRedis,
) -> None:
    llm = CountingProvider(
        '{"result": true, "explanation": "a"}', '{"result": true, "explanation": "b"}'
    )
    choice = LLMChoice(llm, "tenant", "anthropic", "claude")  # but "fake" answers

    for _ in range(2):
        evaluate_condition_job(
            "looks busy", {}, llm_factory=lambda: choice, cache=cache, cache_ttl_seconds=60
        )

    assert len(llm.requests) == 2
    assert cache.keys("*") == []


def test_the_cache_is_best_effort(cache: fakeredis.FakeRedis) -> None:
    class BrokenCache:
        def get(self, key: str) -> None:
            raise redis.exceptions.ConnectionError("down")

        def set(self, *args: object, **kwargs: object) -> None:
            raise redis.exceptions.ConnectionError("down")

    llm = CountingProvider('{"result": true, "explanation": "busy"}')
    result = evaluate_condition_job(
        "looks busy", {}, llm_factory=lambda: LLMChoice(llm, "t", "fake", "fake-1"),
        cache=BrokenCache(), cache_ttl_seconds=60,  # type: ignore[arg-type]
    )  # fmt: skip

    assert result["result"] is True


def test_a_broken_expression_is_reported_not_sent_to_the_llm(cache: fakeredis.FakeRedis) -> None:
    llm = CountingProvider()
    with pytest.raises(InvalidInput) as caught:
        _run("$cpu > (80 AND", {}, llm, cache)
    assert caught.value.details["column"] >= 1
    assert llm.requests == []


def test_english_with_an_operator_symbol_goes_to_the_llm(cache: fakeredis.FakeRedis) -> None:
    """ "is cpu > 80?" passes the gateway as English (the `?` is no character of the language):
    the job asks the LLM too, instead of failing it as a broken expression."""
    llm = CountingProvider('{"result": true, "explanation": "cpu is 91, above 80"}')
    result = _run("is cpu > 80?", {"cpu": 91}, llm, cache)
    assert (result["method"], result["result"]) == ("llm", True)
    assert len(llm.requests) == 1
    with pytest.raises(InvalidInput, match="plain English"):
        _run("is cpu > 80?", {"cpu": 91}, None, cache)
    # A `$variable` makes it a broken expression: its position, not a question for the LLM.
    with pytest.raises(InvalidInput) as caught:
        _run("$metrics.cpu > 80?", {}, llm, cache)
    assert caught.value.details["column"] >= 1
    assert len(llm.requests) == 1


@pytest.mark.parametrize(
    "answer",
    ["I think it is overloaded.", '{"result": "yes", "explanation": "x"}', '{"explanation": "x"}'],
)
def test_a_malformed_llm_verdict_is_invalid_llm_output(
    cache: fakeredis.FakeRedis, answer: str
) -> None:
    with pytest.raises(InvalidLLMOutput) as caught:
        _run("the database looks overloaded", {}, CountingProvider(answer), cache)
    assert caught.value.details["raw_output"] == answer
    assert cache.keys("*") == []


def test_a_dated_model_name_in_the_answer_still_hits_the_cache(
    cache: fakeredis.FakeRedis,
) -> None:
    llm = CountingProvider('{"result": true, "explanation": "busy"}')
    choice = LLMChoice(llm, "tenant", "fake", "fake")  # the API answers as "fake-1"

    for _ in range(3):
        evaluate_condition_job(
            "looks busy", {}, llm_factory=lambda: choice, cache=cache, cache_ttl_seconds=60
        )

    assert len(llm.requests) == 1
