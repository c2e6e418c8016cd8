"""A fetched aggregated context no reading can use is `config_invalid` naming the NestJS path —
never silently replaced by the built-in sample — and /cache/status shows what the catalogue
reader says about the cached one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from eyeflow_worker.core.errors import ConfigInvalid
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.tenant_config.environment import EnvironmentSource
from eyeflow_worker.tenant_config.nestjs import NestJSClient
from eyeflow_worker.tenant_config.nestjs_source import NestJSSource
from tests.fakes.nestjs import CONTEXT_PATH, FakeNestJS
from tests.tenant_config.conftest import SAMPLE_CONTEXT, Clock, StoreFactory, make_settings

CONTEXT_ROUTE = f"GET {CONTEXT_PATH}"


@pytest.fixture
def client(settings: Settings) -> Iterator[NestJSClient]:
    nestjs = NestJSClient(settings, backoff_seconds=0.0)
    yield nestjs
    nestjs.close()


@pytest.mark.parametrize(
    ("context", "field", "message"),
    [
        ({"variables": 42}, "variables", "expected a list or an object (variables), got number"),
        (
            # `data` is NestJS's response envelope, unwrapped before the catalogue is looked at
            {"data": {"capabilities": {"actionTypes": "PING"}}},
            "capabilities.actionTypes",
            "expected a list or an object (action_types), got string",
        ),
        (["not", "an", "object"], "<root>", "expected a JSON object"),
    ],
)
def test_unreadable_fetched_context_is_config_invalid_naming_path_and_field(
    fake: FakeNestJS, client: NestJSClient, context: object, field: str, message: str
) -> None:
    fake.contexts["alice"] = context
    with pytest.raises(ConfigInvalid) as info:
        client.fetch_aggregated_context("alice")
    assert CONTEXT_PATH in info.value.message
    assert f"{field}: {message}" in info.value.message
    assert info.value.details["fields"] == [field]
    assert info.value.details["path"] == CONTEXT_PATH


def test_oversized_fetched_context_is_config_invalid(fake: FakeNestJS) -> None:
    nestjs = NestJSClient(make_settings(fake.url, max_catalogue_bytes=1000), backoff_seconds=0.0)
    try:
        fake.contexts["alice"] = {"variables": ["x" * 2000]}
        with pytest.raises(ConfigInvalid, match=r"over MAX_CATALOGUE_BYTES \(1000\)"):
            nestjs.fetch_aggregated_context("alice")
        fake.contexts["alice"] = SAMPLE_CONTEXT
        assert nestjs.fetch_aggregated_context("alice") == SAMPLE_CONTEXT
    finally:
        nestjs.close()


def test_unreadable_context_is_not_replaced_by_the_sample(
    fake: FakeNestJS, store: NestJSSource
) -> None:
    fake.contexts["alice"] = {"variables": 42}
    with pytest.raises(ConfigInvalid, match="variables"):
        store.aggregated_context("alice")  # None here would mean: draft from the sample
    with pytest.raises(ConfigInvalid, match="variables"):  # the recorded error, not a refetch
        store.aggregated_context("alice")
    assert fake.count(CONTEXT_ROUTE, user="alice") == 1
    assert store.status("alice")["context"]["last_error"]["code"] == "config_invalid"


def test_a_last_known_good_context_is_served_when_the_new_one_is_unreadable(
    fake: FakeNestJS, store: NestJSSource, clock: Clock
) -> None:
    fake.contexts["alice"] = SAMPLE_CONTEXT
    assert store.aggregated_context("alice") == SAMPLE_CONTEXT
    clock.advance_minutes(61)
    fake.contexts["alice"] = {"variables": 42}
    assert store.aggregated_context("alice") == SAMPLE_CONTEXT
    status = store.status("alice")
    assert status["degraded"] is True
    assert "config_invalid" in status["reason"]


def test_status_shows_the_catalogue_warnings_of_the_cached_context(
    fake: FakeNestJS, make_store: StoreFactory, settings: Settings
) -> None:
    store = make_store(settings)
    assert store.status("alice")["context"]["catalogue_warnings"] == []  # nothing cached
    fake.contexts["alice"] = {
        "action_types": ["PING"],
        "triggers": ["ON_START"],
        "availableVariables": [{"path": "orders.total", "type": "number"}, {"type": "string"}],
    }
    store.aggregated_context("alice")
    warnings = store.status("alice")["context"]["catalogue_warnings"]
    assert len(warnings) == 1
    assert warnings[0].startswith("availableVariables[1]: entry has no usable name (keys: type)")
    fake.contexts["bob"] = SAMPLE_CONTEXT  # no variables: a warning, not an error
    store.aggregated_context("bob")
    assert store.status("bob")["context"]["catalogue_warnings"] == [
        "variables: none declared; conditions cannot refer to any $variable"
    ]


def test_environment_source_reports_no_catalogue_warnings() -> None:
    status = EnvironmentSource(make_settings(None)).status("anyone")
    assert status["context"]["catalogue_warnings"] == []
