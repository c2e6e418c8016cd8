"""The `evaluate` job: deterministic evaluation of expressions, LLM fallback for plain English.

An expression is parsed and evaluated by `eyeflow_worker.conditions` in microseconds. Only a
condition that is not an expression at all ("the database looks overloaded") goes to the tenant's
provider; its answer is cached by (condition, context) so the same question is not paid twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis

from eyeflow_worker.conditions import ConditionError, compile_condition, looks_like_expression
from eyeflow_worker.conditions.syntax_check import malformed_expression, names_a_variable
from eyeflow_worker.core.errors import InvalidInput, InvalidLLMOutput
from eyeflow_worker.core.llm import LLMRequest, Message, Provider

_CACHE_PREFIX = "eyeflow:condcache:"

LLMFactory = Callable[[], "LLMChoice"]
logger = logging.getLogger(__name__)

_SYSTEM_PROMPT = (
    "You judge whether a plain-English condition holds for a JSON context describing a system.\n"
    "Answer with one JSON object and nothing else: "
    '{"result": true or false, "explanation": "one or two sentences citing the context values"}.\n'
    "If the context does not hold enough information to decide, answer false and say what is "
    "missing in the explanation."
)

_ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"result": {"type": "boolean"}, "explanation": {"type": "string"}},
    "required": ["result", "explanation"],
    "additionalProperties": False,
}


def evaluate_deterministically(condition: str, context: Mapping[str, Any]) -> dict[str, Any]:
    evaluation = compile_condition(condition).evaluate(context)
    return {
        "result": evaluation.result,
        "method": "deterministic",
        "explanation": evaluation.explanation,
        "missing": list(evaluation.missing),
    }


def evaluate_condition_job(
    condition: str,
    context: Mapping[str, Any],
    *,
    llm_factory: LLMFactory | None,
    cache: redis.Redis,
    cache_ttl_seconds: int,
) -> dict[str, Any]:
    """The `evaluate` result object, or an `InvalidInput` naming the parse error.

    Plain English ("overloaded", "the database looks overloaded") goes to the LLM *before* the
    evaluator is tried: read as an expression it would be a bare word, always true, whatever the
    context says. So does a text that holds an operator symbol, does not parse, is not clearly
    an expression and names no `$variable` — "is cpu > 80?", which the gateway let through as
    English (`conditions.syntax_check`'s rule); "$metrics.cpu > 80?" is a broken expression and
    fails with its position. `llm_factory` (None when the fallback is off) is called only then.
    """
    if looks_like_expression(condition):
        try:
            return evaluate_deterministically(condition, context)
        except ConditionError as parse_error:
            if malformed_expression(condition) is not None or names_a_variable(condition):
                raise InvalidInput(
                    f"Condition is not a valid expression: {parse_error.message}",
                    details={"condition": condition, **_error_position(parse_error)},
                ) from None
    if llm_factory is None:
        raise InvalidInput(
            "Condition is plain English, not an expression, and the LLM fallback is off "
            "(CONDITION_LLM_FALLBACK=false); write it as an expression such as "
            "'$metrics.cpu > 80'",
            details={"condition": condition},
        )
    return _ask_llm_cached(llm_factory(), condition, context, cache, cache_ttl_seconds)


@dataclass(frozen=True)
class LLMChoice:
    """The tenant's provider, and what it is configured to be (for the cache scope)."""

    llm: Provider
    tenant: str
    provider: str
    model: str


def _ask_llm_cached(
    choice: LLMChoice,
    condition: str,
    context: Mapping[str, Any],
    cache: redis.Redis,
    ttl_seconds: int,
) -> dict[str, Any]:
    # Scoped by tenant, provider and model: a verdict from one model is never served as another's.
    key = _cache_key(f"{choice.tenant}:{choice.provider}:{choice.model}", condition, context)
    try:
        cached = cache.get(key)
    except redis.exceptions.RedisError:
        logger.warning("condition cache unreadable; asking the LLM")  # the cache is best-effort
        cached = None
    if cached is not None:
        answer: dict[str, Any] = json.loads(cached)
        return {**answer, "cached": True}
    answer = _ask_llm(choice.llm, condition, context)
    # A fallback provider's verdict answers this call but is not kept as the configured one's.
    # (Providers only, not model names: APIs answer with dated snapshot names.)
    if answer["provider"] == choice.provider:
        try:
            cache.set(key, json.dumps(answer), ex=ttl_seconds)
        except redis.exceptions.RedisError:
            logger.warning("condition cache unwritable; the verdict was not cached")
    return {**answer, "cached": False}


def _ask_llm(llm: Provider, condition: str, context: Mapping[str, Any]) -> dict[str, Any]:
    context_json = json.dumps(context, sort_keys=True, default=str)
    request = LLMRequest(
        purpose="evaluate",
        system=_SYSTEM_PROMPT,
        messages=(Message("user", f"Context:\n{context_json}\n\nCondition: {condition}"),),
        json_schema=_ANSWER_SCHEMA,
        inputs={"condition": condition, "context": dict(context)},
    )
    response = llm.complete(request)
    verdict = _parse_verdict(response.text)
    return {
        "result": verdict["result"],
        "method": "llm",
        "explanation": verdict["explanation"],
        "missing": [],
        "provider": response.provider,
        "model_used": response.model,
        "usage": response.usage.to_dict(),
        "tokens_used": response.usage.total_tokens,
        "cost_usd": response.cost_usd,
    }


def _parse_verdict(text: str) -> dict[str, Any]:
    start, end = text.find("{"), text.rfind("}")
    try:
        verdict = json.loads(text[start : end + 1]) if start != -1 and end > start else None
    except json.JSONDecodeError:
        verdict = None
    if (
        not isinstance(verdict, dict)
        or not isinstance(verdict.get("result"), bool)
        or not isinstance(verdict.get("explanation", ""), str)
    ):
        raise InvalidLLMOutput(
            "The model did not answer with {result: bool, explanation: str}",
            details={"raw_output": text[:4000]},
        )
    return {"result": verdict["result"], "explanation": verdict.get("explanation", "")}


def _cache_key(scope: str, condition: str, context: Mapping[str, Any]) -> str:
    material = json.dumps([condition, context], sort_keys=True, default=str)
    return f"{_CACHE_PREFIX}{scope}:{hashlib.sha256(material.encode()).hexdigest()}"


def _error_position(error: ConditionError) -> dict[str, Any]:
    column = getattr(error, "column", None)
    expected = getattr(error, "expected", None)
    return {"column": column, "expected": expected} if column is not None else {}
