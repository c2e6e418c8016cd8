"""The environment source (NESTJS_SERVER_URL unset): every tenant gets LLM_*, no context, and
nothing touches NestJS or Redis."""

from __future__ import annotations

import json

import redis

from eyeflow_worker.tenant_config.source import build_config_source
from tests.tenant_config.conftest import API_KEY, make_settings


def test_environment_mode_needs_no_nestjs_and_no_redis(redis_db: redis.Redis) -> None:
    settings = make_settings(None, cache_encryption_key=None, environment="dev")
    store = build_config_source(settings, redis_db)
    config = store.llm_config("anyone")
    assert (config.provider, config.model) == ("offline", "eyeflow-offline-drafter-1")
    assert store.aggregated_context("anyone") is None
    status = store.status("anyone")
    assert status["source"] == "environment"
    assert status["degraded"] is False
    assert store.refresh("anyone")["anyone"]["config"] == "ok"
    assert store.refresh_due() == {}
    assert store.refresh() == {}  # no tenant is ever cached
    assert store.invalidate_context() == 0
    assert redis_db.dbsize() == 0


def test_environment_mode_uses_llm_settings(redis_db: redis.Redis) -> None:
    settings = make_settings(
        None, llm_provider="OpenAI", llm_model="gpt-4o", llm_api_key=API_KEY, llm_max_tokens=99
    )
    source = build_config_source(settings, redis_db)
    config = source.llm_config("system")
    assert (config.provider, config.model, config.max_tokens) == ("openai", "gpt-4o", 99)
    assert API_KEY not in json.dumps(source.status("system"))
