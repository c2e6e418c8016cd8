"""What reaches a task when a remote does not play along: a provider's own error message only,
bounded; one text for every webhook that could not be delivered; a refused apiUrl is a
configuration error no fallback serves; NestJS is fetched without following redirects."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from eyeflow_worker.core.errors import ConfigInvalid, ProviderError, ProviderRequestError
from eyeflow_worker.core.llm_config import ProviderConfig
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.providers.clients import clear_clients
from eyeflow_worker.providers.registry import batch_api_for, build_llm, build_provider
from eyeflow_worker.tenant_config.nestjs import NestJSClient
from eyeflow_worker.webhook_delivery import (
    UNREACHABLE,
    DeliveryFailed,
    post_delivery,
    sign_delivery,
    webhook_client,
)
from tests.fakes.llm_servers import FakeLLMServer, Reply
from tests.fakes.nestjs import DEFAULT_ROUTE, FakeNestJS
from tests.providers.conftest import SECRET, WIRES, Wire, make_request, make_settings
from tests.security.egress_rig import DialGuard, Listener, StubDNS

# What an internal service might answer to a POST it did not expect: none of it may reach a task.
FOREIGN_BODIES = [
    ("text/plain", "-ERR unknown command 'POST', with args beginning with: INTERNAL-REDIS-KEY"),
    ("text/html", "<html><body>INTERNAL-ADMIN-PANEL build 4.2 on db-7.corp</body></html>"),
    ("application/json", '{"hostname": "INTERNAL-NODE-7", "version": "9.1"}'),
]


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as fake:
        yield fake
    clear_clients()


@pytest.mark.parametrize("wire", WIRES.values(), ids=list(WIRES))
@pytest.mark.parametrize("status", [400, 404, 500])
@pytest.mark.parametrize(("content_type", "body"), FOREIGN_BODIES)
def test_a_body_that_is_no_provider_error_is_not_copied_into_the_task(
    wire: Wire, server: FakeLLMServer, status: int, content_type: str, body: str
) -> None:
    server.default = Reply(status, body, content_type=content_type)
    settings = make_settings(llm_max_attempts=1)
    with pytest.raises(ProviderError) as raised:
        build_provider(wire.config(server), settings).complete(make_request())
    message = raised.value.message
    assert "INTERNAL" not in message
    assert f"HTTP {status}" in message


@pytest.mark.parametrize("wire", WIRES.values(), ids=list(WIRES))
def test_the_providers_own_message_is_kept_but_bounded_and_single_line(
    wire: Wire, server: FakeLLMServer
) -> None:
    server.default = wire.error(400, f"model nope\r\n\x1b[31mnot found {SECRET} " + "x" * 5000, {})
    with pytest.raises(ProviderRequestError) as raised:
        build_provider(wire.config(server), make_settings()).complete(make_request())
    message = raised.value.message
    assert "model nope [31mnot found ***" in message  # the escape character is gone
    assert len(message) < 600
    assert not any(ord(char) < 32 for char in message)
    assert SECRET not in message


def test_a_refused_api_url_is_not_retried_nor_served_by_a_fallback() -> None:
    settings = make_settings(
        llm_allowed_api_hosts=[], llm_fallback_providers=["offline"], llm_max_attempts=3
    )
    config = ProviderConfig(
        provider="openai",
        model="gpt-4.1-mini",
        api_key=SecretStr("sk-t"),
        api_url="http://10.0.0.5/v1",
    )
    waits: list[float] = []
    with pytest.raises(ProviderRequestError) as raised:
        build_llm(config, settings, sleep=waits.append).complete(make_request())
    assert raised.value.details["egress"] == "refused"
    assert "LLM_ALLOWED_API_HOSTS" in raised.value.message
    assert "10.0.0.5" in raised.value.message  # the tenant's own URL, not something resolved
    assert waits == []


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> tuple[StubDNS, DialGuard]:
    dns = StubDNS()
    dials = DialGuard(dns)
    monkeypatch.setattr("socket.getaddrinfo", dns)
    monkeypatch.setattr("socket.create_connection", dials)
    return dns, dials


def test_every_undelivered_webhook_reads_the_same_whatever_stopped_it(
    network: tuple[StubDNS, DialGuard],
) -> None:
    """`webhook.last_error` is no port scanner: a refused destination, a port where something
    listens, a closed port, a name that does not resolve and a name resolving inward all read
    alike."""
    dns, dials = network
    listening = Listener("127.0.0.3")
    allowed = Listener("127.0.0.2")
    allowed.stop()  # an allowed host whose port is closed
    dns.add("inward.test", ["10.0.0.5"])
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        webhook_allowed_hosts=f"127.0.0.2:{allowed.port}",
        webhook_timeout_seconds=2.0,
    )
    delivery = sign_delivery("s", "msg_1", {"task_id": "t"})
    urls = [
        listening.url("/"),  # refused, something listens
        "http://127.0.0.3:9/",  # refused, nothing listens
        allowed.url("/"),  # allowed, connection refused
        "http://nowhere.invalid/",  # does not resolve
        "http://inward.test/",  # resolves to a private address
        "http://169.254.169.254/latest/meta-data/",
    ]
    texts = set()
    try:
        for url in urls:
            with pytest.raises(DeliveryFailed) as failed:
                post_delivery(webhook_client(settings), url, delivery)
            texts.add(str(failed.value))
    finally:
        listening.stop()
    assert texts == {UNREACHABLE}
    assert listening.connections == 0
    assert dials.refused == []


def test_an_internal_api_url_from_nestjs_is_a_configuration_error_naming_the_field() -> None:
    fake = FakeNestJS().start()
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="test",
        webhook_secret="whsec_ZXllZmxvdy10ZXN0LXdlYmhvb2stc2VjcmV0",
        nestjs_server_url=fake.url,
        cache_encryption_key=Fernet.generate_key().decode(),
    )
    client = NestJSClient(settings, backoff_seconds=0.0)
    try:
        for url in ("http://169.254.169.254/latest", "http://127.0.0.1:6379", "gopher://x"):
            fake.overrides[DEFAULT_ROUTE] = (
                200,
                (
                    '{"provider": "openai", "model": "m", "isDefault": true,'
                    f' "apiConfig": {{"apiKey": "k", "apiUrl": "{url}"}}}}'
                ).encode(),
            )
            with pytest.raises(ConfigInvalid) as invalid:
                client.fetch_llm_config("alice")
            assert "apiConfig.apiUrl" in invalid.value.details["fields"], url
        assert client._client.follow_redirects is False
    finally:
        client.close()
        fake.stop()


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_the_batch_apis_connect_through_the_same_guard(
    provider: str, network: tuple[StubDNS, DialGuard]
) -> None:
    dns, dials = network
    trap = Listener("127.0.0.3")
    dns.add("batches.internal.test", ["127.0.0.3"])
    config = ProviderConfig(
        provider=provider,
        model="m",
        api_key=SecretStr("sk-batch"),
        api_url=f"http://batches.internal.test:{trap.port}"
        + ("/v1" if provider == "openai" else ""),
    )
    api = batch_api_for(config, make_settings(llm_allowed_api_hosts=[]))
    assert api is not None
    try:
        with pytest.raises(ProviderRequestError) as raised:
            api.find("eyeflow_job", "j", created_after=0.0)
    finally:
        trap.stop()
    assert raised.value.details["egress"] == "refused"
    assert trap.connections == 0
    assert dials.dialled == []
