"""NestJSSource against the real Redis (db 10) and the fake NestJS: caching, single-flight,
tenancy, stale-if-error, refresh and refresh_due. Time is the injected clock, never sleeps."""

from __future__ import annotations

import threading

import httpx
import pytest
import redis
from cryptography.fernet import Fernet
from pydantic import ValidationError

from eyeflow_worker.core.errors import ConfigInvalid, ConfigMissing, EyeflowError
from eyeflow_worker.core.llm_config import ProviderConfig
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.tenant_config.cache import lock_key, record_key
from eyeflow_worker.tenant_config.nestjs_source import NestJSSource
from tests.fakes.nestjs import CONTEXT_PATH, DEFAULT_ROUTE, FakeNestJS
from tests.tenant_config.conftest import (
    API_KEY,
    SAMPLE_CONTEXT,
    Clock,
    StoreFactory,
    anthropic_config,
    make_settings,
    openai_config,
)

CONTEXT_ROUTE = f"GET {CONTEXT_PATH}"


def test_500_calls_within_ttl_make_one_fetch(
    fake: FakeNestJS, store: NestJSSource, clock: Clock
) -> None:
    fake.add_config("alice", **anthropic_config())
    configs = {store.llm_config("alice") for _ in range(500)}
    assert fake.count(DEFAULT_ROUTE) == 1
    assert len(configs) == 1
    clock.advance_minutes(59.9)
    store.llm_config("alice")
    assert fake.count(DEFAULT_ROUTE) == 1
    clock.advance_minutes(0.2)  # past the 60-minute TTL
    store.llm_config("alice")
    assert fake.count(DEFAULT_ROUTE) == 2


def test_20_workers_missing_at_once_make_one_fetch(
    fake: FakeNestJS, make_store: StoreFactory, settings: Settings
) -> None:
    fake.add_config("alice", **anthropic_config())
    fake.latency = 0.3  # the fetch is in flight while everyone else misses
    stores = [make_store(settings) for _ in range(20)]  # 20 "processes", one store each
    barrier = threading.Barrier(20)
    results: list[ProviderConfig | Exception] = []

    def worker(s: NestJSSource) -> None:
        barrier.wait()
        try:
            results.append(s.llm_config("alice"))
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert fake.count(DEFAULT_ROUTE) == 1
    assert len(results) == 20
    assert all(isinstance(r, ProviderConfig) and r.provider == "anthropic" for r in results)


def test_20_workers_missing_a_config_nestjs_lacks_make_one_fetch(
    fake: FakeNestJS, make_store: StoreFactory, settings: Settings
) -> None:
    fake.latency = 0.3
    stores = [make_store(settings) for _ in range(20)]
    barrier = threading.Barrier(20)
    errors: list[BaseException] = []

    def worker(s: NestJSSource) -> None:
        barrier.wait()
        try:
            s.llm_config("ghost")
        except EyeflowError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert fake.count(DEFAULT_ROUTE) == 1
    assert len(errors) == 20
    assert all(isinstance(e, ConfigMissing) for e in errors)


def test_a_crashed_lock_holder_blocks_only_until_its_lock_lapses(
    fake: FakeNestJS, store: NestJSSource, redis_db: redis.Redis
) -> None:
    fake.add_config("alice", **anthropic_config())
    redis_db.set(lock_key("alice", "config"), "crashed-worker", px=300)
    assert store.llm_config("alice").provider == "anthropic"
    assert fake.count(DEFAULT_ROUTE) == 1
    assert not redis_db.exists(lock_key("alice", "config"))


def test_tenants_never_see_each_others_configuration(fake: FakeNestJS, store: NestJSSource) -> None:
    fake.add_config("alice", **anthropic_config())
    fake.add_config("bob", **openai_config())
    alice, bob = store.llm_config("alice"), store.llm_config("bob")
    assert (alice.provider, bob.provider) == ("anthropic", "openai")
    assert alice.api_key != bob.api_key
    assert store.llm_config("alice") == alice
    assert store.llm_config("bob") == bob
    assert fake.count(DEFAULT_ROUTE, user="alice") == 1
    assert fake.count(DEFAULT_ROUTE, user="bob") == 1
    with pytest.raises(ConfigMissing, match="tenant 'carol'"):
        store.llm_config("carol")
    assert store.status("bob")["config"]["provider"] == "openai"
    assert store.known_tenants() == ["alice", "bob"]


def test_nestjs_down_serves_last_known_good_and_reports_degraded(
    fake: FakeNestJS, store: NestJSSource, clock: Clock
) -> None:
    fake.add_config("alice", **anthropic_config())
    fake.contexts["alice"] = SAMPLE_CONTEXT
    good = store.llm_config("alice")
    assert store.aggregated_context("alice") == SAMPLE_CONTEXT
    assert store.status("alice")["degraded"] is False

    fake.stop()
    clock.advance_minutes(61)
    assert store.llm_config("alice") == good
    assert store.aggregated_context("alice") == SAMPLE_CONTEXT

    status = store.status("alice")
    assert status["degraded"] is True
    assert status["config"]["age_minutes"] == 61.0
    assert status["config"]["last_error"]["code"] == "upstream_unavailable"
    assert status["context"]["age_minutes"] == 61.0
    assert "last-known-good LLM config fetched 61.0 min ago" in status["reason"]
    assert "Failed to fetch LLM config from NestJS at" in status["reason"]

    fake.start()  # NestJS is back; once the error back-off has passed, the next call refetches
    clock.advance_minutes(1)
    assert store.llm_config("alice") == good
    assert store.aggregated_context("alice") == SAMPLE_CONTEXT
    status = store.status("alice")
    assert status["degraded"] is False
    assert status["reason"] is None
    assert status["config"]["age_minutes"] == 0.0


def test_after_a_failure_nestjs_is_not_hammered(
    fake: FakeNestJS, store: NestJSSource, clock: Clock
) -> None:
    fake.add_config("alice", **anthropic_config())
    store.llm_config("alice")
    clock.advance_minutes(61)
    fake.overrides[DEFAULT_ROUTE] = (500, b"{}")
    fake.reset_counts()
    for _ in range(100):
        assert store.llm_config("alice").provider == "anthropic"
    assert fake.count(DEFAULT_ROUTE) == 2  # one fetch, nestjs_max_attempts=2
    clock.advance_minutes(1)  # past the 30 s back-off
    store.llm_config("alice")
    assert fake.count(DEFAULT_ROUTE) == 4


def test_never_fetched_tenant_with_nestjs_down_is_config_missing(
    fake: FakeNestJS, store: NestJSSource
) -> None:
    fake.add_config("alice", **anthropic_config())
    fake.stop()
    with pytest.raises(ConfigMissing) as info:
        store.llm_config("alice")
    assert info.value.retryable
    assert "none cached yet" in info.value.message
    assert "Failed to fetch LLM config from NestJS at" in info.value.message
    assert store.aggregated_context("alice") is None
    status = store.status("alice")
    assert status["degraded"] is True
    assert "no LLM config available" in status["reason"]
    assert store.known_tenants() == []


def test_provider_switch_takes_effect_after_refresh(
    fake: FakeNestJS, make_store: StoreFactory, settings: Settings
) -> None:
    worker_a, worker_b = make_store(settings), make_store(settings)
    with httpx.Client(base_url=fake.url, headers={"X-User-ID": "alice"}) as http:
        created = http.post("/api/llm-config", json=anthropic_config()).json()
        assert worker_a.llm_config("alice").provider == "anthropic"
        assert worker_b.llm_config("alice").provider == "anthropic"
        update = {"provider": "openai", "model": "gpt-4o", "apiConfig": {"apiKey": "sk-new"}}
        assert http.put(f"/api/llm-config/{created['id']}", json=update).status_code == 200
    assert worker_a.llm_config("alice").provider == "anthropic"  # still within the TTL
    report = worker_a.refresh("alice")
    assert report == {
        "alice": {"config": "ok", "context": "absent", "provider": "openai", "model": "gpt-4o"}
    }
    for worker in (worker_a, worker_b):  # every process sees it on its next call
        config = worker.llm_config("alice")
        assert (config.provider, config.model) == ("openai", "gpt-4o")
        assert config.api_key is not None
        assert config.api_key.get_secret_value() == "sk-new"


def test_404_after_deletion_drops_the_cached_config(fake: FakeNestJS, store: NestJSSource) -> None:
    fake.add_config("alice", **anthropic_config())
    fake.contexts["alice"] = SAMPLE_CONTEXT
    store.llm_config("alice")
    fake.configs["alice"].clear()
    report = store.refresh("alice")
    assert report["alice"]["config"] == "config_missing"
    assert "No default LLM configuration found" in report["alice"]["errors"]["config"]
    with pytest.raises(ConfigMissing):
        store.llm_config("alice")
    assert store.known_tenants() == ["alice"]  # it still has a context to refresh


def test_invalid_update_keeps_last_known_good(fake: FakeNestJS, store: NestJSSource) -> None:
    config_id = fake.add_config("alice", **anthropic_config())
    store.llm_config("alice")
    fake.configs["alice"][config_id]["maxTokens"] = -1
    report = store.refresh("alice")
    assert report["alice"]["config"] == "config_invalid"
    assert "maxTokens" in report["alice"]["errors"]["config"]
    assert store.llm_config("alice").max_tokens == 4096
    status = store.status("alice")
    assert status["degraded"]
    assert "maxTokens" in status["reason"]
    assert status["config"]["valid"] is True


def test_invalid_config_without_a_previous_one_names_the_field(
    fake: FakeNestJS, store: NestJSSource
) -> None:
    fake.add_config("alice", **anthropic_config(temperature=7))
    with pytest.raises(ConfigInvalid, match="temperature"):
        store.llm_config("alice")
    with pytest.raises(ConfigInvalid, match="temperature"):  # from the recorded error
        store.llm_config("alice")
    assert fake.count(DEFAULT_ROUTE) == 1


def test_wrapped_config_through_the_store(fake: FakeNestJS, store: NestJSSource) -> None:
    fake.add_config("alice", **anthropic_config())
    fake.wrap = True
    assert store.llm_config("alice").model == "claude-3-opus-20240229"


def test_context_absent_is_cached_and_down_is_none(
    fake: FakeNestJS, store: NestJSSource, clock: Clock
) -> None:
    assert store.aggregated_context("alice") is None
    assert store.aggregated_context("alice") is None
    assert fake.count(CONTEXT_ROUTE) == 1  # "none" is an answer, cached for the TTL
    fake.stop()
    assert store.aggregated_context("bob") is None  # never fetched, NestJS down


def test_invalidate_context(fake: FakeNestJS, store: NestJSSource) -> None:
    for tenant in ("alice", "bob"):
        fake.contexts[tenant] = {**SAMPLE_CONTEXT, "tenant": tenant}
        assert store.aggregated_context(tenant) == fake.contexts[tenant]
    assert store.invalidate_context("alice") == 1
    assert store.aggregated_context("alice") == fake.contexts["alice"]
    assert store.aggregated_context("bob") == fake.contexts["bob"]
    assert fake.count(CONTEXT_ROUTE, user="alice") == 2
    assert fake.count(CONTEXT_ROUTE, user="bob") == 1
    assert store.invalidate_context() == 2
    assert store.invalidate_context() == 0


def test_refresh_due_refreshes_only_what_expires_before_the_next_beat(
    fake: FakeNestJS, store: NestJSSource, clock: Clock
) -> None:
    # TTL 60 min; beat every 15 min; horizon 1.5 beats = 22.5 min.
    assert store.settings.config_refresh_interval_seconds == 900
    for tenant in ("alice", "bob"):
        fake.add_config(tenant, **anthropic_config())
        fake.contexts[tenant] = SAMPLE_CONTEXT
    store.llm_config("alice")
    store.aggregated_context("alice")
    clock.advance_minutes(20)
    store.llm_config("bob")
    store.aggregated_context("bob")

    clock.advance_minutes(20)  # alice: 20 min left (due); bob: 40 min left (not due)
    assert store.refresh_due(horizon_seconds=0) == {}
    report = store.refresh_due()
    assert list(report) == ["alice"]
    assert report["alice"]["config"] == "ok"
    assert report["alice"]["context"] == "ok"
    assert fake.count(DEFAULT_ROUTE, user="alice") == 2
    assert fake.count(DEFAULT_ROUTE, user="bob") == 1
    assert fake.count(CONTEXT_ROUTE, user="bob") == 1
    assert store.refresh_due() == {}  # alice is fresh again

    clock.advance_minutes(20)  # bob: 20 min left
    assert list(store.refresh_due()) == ["bob"]
    assert fake.count(DEFAULT_ROUTE, user="bob") == 2


def test_refresh_due_only_the_kind_that_is_due(
    fake: FakeNestJS, store: NestJSSource, clock: Clock
) -> None:
    fake.add_config("alice", **anthropic_config())
    fake.contexts["alice"] = SAMPLE_CONTEXT
    store.llm_config("alice")
    clock.advance_minutes(50)
    store.aggregated_context("alice")
    report = store.refresh_due()
    assert report == {
        "alice": {
            "config": "ok",
            "context": "fresh",
            "provider": "anthropic",
            "model": "claude-3-opus-20240229",
        }
    }
    assert fake.count(CONTEXT_ROUTE) == 1


def test_refresh_all_with_nestjs_down_stops_after_a_few_tenants(
    fake: FakeNestJS, store: NestJSSource
) -> None:
    tenants = [f"t{i}" for i in range(6)]
    for tenant in tenants:
        fake.add_config(tenant, **anthropic_config())
        store.llm_config(tenant)
    fake.stop()
    report = store.refresh()
    assert sorted(report) == tenants
    assert all(item["config"] == "upstream_unavailable" for item in report.values())
    skipped = [t for t, item in report.items() if "skipped" in item["errors"]["config"]]
    assert len(skipped) == 6 - 2  # t0's config and context fail, then the run stops trying
    assert all(store.llm_config(t).provider == "anthropic" for t in tenants)


def test_encryption_key_required_outside_dev(fake: FakeNestJS, make_store: StoreFactory) -> None:
    # Outside dev the settings refuse to load without it (before any store is built).
    with pytest.raises(ValidationError, match="CACHE_ENCRYPTION_KEY must be set"):
        make_settings(fake.url, cache_encryption_key=None)
    with pytest.raises(ConfigInvalid, match="not a valid Fernet key"):
        make_store(make_settings(fake.url, cache_encryption_key="not-a-key"))


def test_dev_key_is_shared_by_every_process(
    fake: FakeNestJS, make_store: StoreFactory, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(fake.url, environment="dev", cache_encryption_key=None)
    fake.add_config("alice", **anthropic_config())
    writer, reader = make_store(settings), make_store(settings)
    writer.llm_config("alice")
    config = reader.llm_config("alice")
    assert config.api_key is not None
    assert config.api_key.get_secret_value() == API_KEY
    assert fake.count(DEFAULT_ROUTE) == 1


def test_key_rotation_and_a_retired_key(
    fake: FakeNestJS, make_store: StoreFactory, redis_db: redis.Redis
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    fake.add_config("alice", **anthropic_config())
    make_store(make_settings(fake.url, cache_encryption_key=old)).llm_config("alice")
    rotated = make_store(make_settings(fake.url, cache_encryption_key=f"{new},{old}"))
    assert rotated.llm_config("alice").api_key is not None
    assert fake.count(DEFAULT_ROUTE) == 1
    only_new = make_store(make_settings(fake.url, cache_encryption_key=new))
    assert only_new.status("alice")["degraded"] is True  # can't decrypt: says so
    assert only_new.llm_config("alice").api_key is not None  # and fetches again
    assert fake.count(DEFAULT_ROUTE) == 2
    assert redis_db.exists(record_key("alice", "config"))
