"""The NestJS client against the fake server: wire format, envelopes, validation, failures."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from eyeflow_worker.core.errors import ConfigInvalid, ConfigMissing, UpstreamUnavailable
from eyeflow_worker.tenant_config.nestjs import LLM_CONFIG_DEFAULT_PATH, NestJSClient
from tests.fakes.nestjs import CONTEXT_PATH, DEFAULT_ROUTE, FakeNestJS
from tests.tenant_config.conftest import API_KEY, SAMPLE_CONTEXT, anthropic_config, make_settings


@pytest.fixture
def client(fake: FakeNestJS) -> Iterator[NestJSClient]:
    c = NestJSClient(
        make_settings(fake.url, nestjs_service_token="svc-token-123"), backoff_seconds=0.0
    )
    yield c
    c.close()


def test_fetches_default_config_with_tenant_and_service_token(
    fake: FakeNestJS, client: NestJSClient
) -> None:
    fake.add_config("alice", **anthropic_config())
    config = client.fetch_llm_config("alice")
    assert (config.provider, config.model, config.max_tokens) == (
        "anthropic",
        "claude-3-opus-20240229",
        4096,
    )
    assert config.api_key is not None
    assert config.api_key.get_secret_value() == API_KEY
    headers = fake.seen_headers[-1]
    assert headers["X-User-ID"] == "alice"
    assert headers["Authorization"] == "Bearer svc-token-123"


def test_wrapped_config_is_accepted(fake: FakeNestJS, client: NestJSClient) -> None:
    fake.add_config("alice", **anthropic_config())
    fake.wrap = True
    config = client.fetch_llm_config("alice")
    assert config.provider == "anthropic"
    assert fake.count(DEFAULT_ROUTE) == 1


def test_api_url_and_defaults(fake: FakeNestJS, client: NestJSClient) -> None:
    fake.add_config(
        "bob",
        provider="OpenAI",
        model="gpt-4-turbo",
        apiConfig={"apiKey": "k", "apiUrl": "https://api.openai.com/v1/"},
    )
    config = client.fetch_llm_config("bob")
    assert config.provider == "openai"
    assert config.api_url == "https://api.openai.com/v1"
    assert (config.temperature, config.max_tokens) == (0.3, 4096)


def test_404_is_config_missing_with_the_fix(client: NestJSClient) -> None:
    with pytest.raises(ConfigMissing) as info:
        client.fetch_llm_config("nobody")
    message = info.value.message
    assert "No default LLM configuration found for tenant 'nobody'" in message
    assert "POST" in message
    assert "/api/llm-config" in message
    assert "isDefault" in message


@pytest.mark.parametrize("body", [b"", b"null", b'{"data": null}', b"{}"])
def test_empty_answer_is_config_missing(
    fake: FakeNestJS, client: NestJSClient, body: bytes
) -> None:
    fake.overrides[DEFAULT_ROUTE] = (200, body)
    with pytest.raises(ConfigMissing):
        client.fetch_llm_config("alice")


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"maxTokens": -5}, "maxTokens"),
        ({"temperature": "hot"}, "temperature"),
        ({"model": ""}, "model"),
        ({"provider": None}, "provider"),
        ({"apiConfig": {"apiKey": API_KEY, "apiUrl": "ftp://x"}}, "apiConfig.apiUrl"),
    ],
)
def test_invalid_config_names_the_field_and_never_the_key(
    fake: FakeNestJS, client: NestJSClient, patch: dict[str, object], field: str
) -> None:
    fake.overrides[DEFAULT_ROUTE] = (200, json.dumps({**anthropic_config(), **patch}).encode())
    with pytest.raises(ConfigInvalid) as info:
        client.fetch_llm_config("alice")
    assert f"{field}:" in info.value.message
    assert field in info.value.details["fields"]
    assert API_KEY not in info.value.message
    assert API_KEY not in str(info.value.details)


def test_missing_field_is_named(fake: FakeNestJS, client: NestJSClient) -> None:
    body = anthropic_config()
    del body["model"]
    fake.overrides[DEFAULT_ROUTE] = (200, json.dumps(body).encode())
    with pytest.raises(ConfigInvalid, match=r"model: Field required"):
        client.fetch_llm_config("alice")


def test_non_json_and_non_object_are_invalid(fake: FakeNestJS, client: NestJSClient) -> None:
    fake.overrides[DEFAULT_ROUTE] = (200, b"<html>oops</html>")
    with pytest.raises(ConfigInvalid, match="not JSON"):
        client.fetch_llm_config("alice")
    fake.overrides[DEFAULT_ROUTE] = (200, b"[1, 2]")
    with pytest.raises(ConfigInvalid, match="expected a JSON object"):
        client.fetch_llm_config("alice")


def test_5xx_is_retried_then_upstream_unavailable(fake: FakeNestJS, client: NestJSClient) -> None:
    fake.overrides[DEFAULT_ROUTE] = (503, b'{"message": "down"}')
    with pytest.raises(UpstreamUnavailable) as info:
        client.fetch_llm_config("alice")
    assert info.value.message.startswith(
        f"Failed to fetch LLM config from NestJS at {fake.url}{LLM_CONFIG_DEFAULT_PATH}: HTTP 503"
    )
    assert info.value.retryable
    assert fake.count(DEFAULT_ROUTE) == 2  # nestjs_max_attempts


def test_401_is_not_retried(fake: FakeNestJS, client: NestJSClient) -> None:
    fake.overrides[DEFAULT_ROUTE] = (401, b"{}")
    with pytest.raises(UpstreamUnavailable, match="NESTJS_SERVICE_TOKEN") as info:
        client.fetch_llm_config("alice")
    assert not info.value.retryable
    assert fake.count(DEFAULT_ROUTE) == 1


def test_unreachable_is_upstream_unavailable(fake: FakeNestJS, client: NestJSClient) -> None:
    fake.stop()
    with pytest.raises(UpstreamUnavailable, match="Failed to fetch LLM config from NestJS at"):
        client.fetch_llm_config("alice")


def test_recovers_after_restart_on_same_port(fake: FakeNestJS, client: NestJSClient) -> None:
    fake.add_config("alice", **anthropic_config())
    port = fake.port
    fake.stop()
    with pytest.raises(UpstreamUnavailable):
        client.fetch_llm_config("alice")
    fake.start()
    assert fake.port == port
    assert client.fetch_llm_config("alice").provider == "anthropic"


def test_context_bare_wrapped_and_absent(fake: FakeNestJS, client: NestJSClient) -> None:
    assert client.fetch_aggregated_context("alice") is None  # 404
    fake.contexts["alice"] = SAMPLE_CONTEXT
    assert client.fetch_aggregated_context("alice") == SAMPLE_CONTEXT
    fake.wrap = True
    assert client.fetch_aggregated_context("alice") == SAMPLE_CONTEXT
    assert fake.count(f"GET {CONTEXT_PATH}", user="alice") == 3
    assert fake.seen_headers[-1]["X-User-ID"] == "alice"


def test_context_must_be_an_object(fake: FakeNestJS, client: NestJSClient) -> None:
    fake.contexts["alice"] = ["not", "an", "object"]
    with pytest.raises(ConfigInvalid, match="expected a JSON object"):
        client.fetch_aggregated_context("alice")


def test_fake_nestjs_crud(fake: FakeNestJS) -> None:
    """The fake's own routes (list, get, put, health-check) behave like the seed describes."""
    import httpx

    with httpx.Client(base_url=fake.url, headers={"X-User-ID": "carol"}) as http:
        created = http.post("/api/llm-config", json=anthropic_config()).json()
        assert created["apiConfig"]["apiKey"] == "***"
        second = http.post("/api/llm-config", json={**anthropic_config(), "model": "m2"}).json()
        listing = http.get("/api/llm-config").json()
        assert [c["isDefault"] for c in listing] == [False, True]
        assert http.get(f"/api/llm-config/{created['id']}").json()["model"] == created["model"]
        http.put(f"/api/llm-config/{created['id']}", json={"isDefault": True})
        assert http.get("/api/llm-config/default").json()["id"] == created["id"]
        assert http.get(f"/api/llm-config/{second['id']}").json()["isDefault"] is False
        check = http.post(f"/api/llm-config/{created['id']}/health-check").json()
        assert check["healthy"] is True
        assert http.get("/api/llm-config/999").status_code == 404
    assert fake.count("POST /api/llm-config") == 2
