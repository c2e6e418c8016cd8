"""The egress policy's rules, without a network: entries, public addresses, URL checks, and the
policies the fleet builds from its settings."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from eyeflow_worker.core.egress import (
    EgressPolicy,
    EgressRefused,
    HostRule,
    is_public,
    llm_policy,
    parse_rule,
    refusal_in,
    webhook_policy,
)
from eyeflow_worker.core.settings import Settings, SettingsInvalid, load_settings


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def _resolver(*addresses: str) -> Any:
    def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


@pytest.mark.parametrize(
    ("entry", "rule"),
    [
        ("api.openai.com", HostRule("api.openai.com")),
        ("  Ollama:11434 ", HostRule("ollama", 11434)),
        ("127.0.0.2:8080", HostRule("127.0.0.2", 8080)),
        ("[::1]:8080", HostRule("::1", 8080)),
        ("[FD00:0::7]", HostRule("fd00::7")),
        ("fd00::7", HostRule("fd00::7")),
        ("llama_cpp", HostRule("llama_cpp")),  # a docker-compose service name
        ("localhost.", HostRule("localhost")),
    ],
)
def test_entries_are_read(entry: str, rule: HostRule) -> None:
    assert parse_rule(entry) == rule


@pytest.mark.parametrize(
    "entry",
    ["host:0", "host:99999", "host:http", "[::1]x", "exa mple.com", "ex..ample", "bücher"],
)
def test_malformed_entries_are_refused(entry: str) -> None:
    with pytest.raises(ValueError, match="'"):
        parse_rule(entry)


@pytest.mark.parametrize("entry", ["*", "*.example.com", "*.corp.internal:8080"])
def test_wildcards_are_refused_they_cannot_vouch_for_internal_addresses(entry: str) -> None:
    with pytest.raises(ValueError, match="wildcard"):
        parse_rule(entry)


def test_a_malformed_entry_stops_the_process_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LLM_ALLOWED_API_HOSTS", "api.openai.com,ollama:notaport")
    load_settings.cache_clear()
    try:
        with pytest.raises(SettingsInvalid, match="LLM_ALLOWED_API_HOSTS"):
            load_settings()
    finally:
        load_settings.cache_clear()


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("93.184.216.34", True),
        ("2606:4700::1111", True),
        ("::ffff:8.8.8.8", True),  # mapped: what it maps to decides
        ("127.0.0.1", False),
        ("127.0.0.3", False),
        ("0.0.0.0", False),
        ("10.0.0.5", False),
        ("172.16.0.10", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),
        ("169.254.169.254", False),
        ("198.18.0.1", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("::", False),
        ("fd00::1", False),
        ("fe80::1", False),
        ("fe80::1%lo", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("::127.0.0.1", False),  # IPv4-compatible (deprecated, reserved)
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of the metadata address
        ("2002:a00:5::", False),  # 6to4 of 10.0.0.5
        ("2002:808:808::", True),  # 6to4 of 8.8.8.8
        ("2001:db8::1", False),
    ],
)
def test_public_is_what_ipaddress_calls_global(address: str, public: bool) -> None:
    assert is_public(address) is public


def test_listed_hosts_may_be_internal_others_must_be_public() -> None:
    policy = EgressPolicy.parse("X", ["ollama:11434", "gpu-box"])
    assert policy.vouched("ollama", 11434) is True
    assert policy.vouched("ollama", 11435) is False
    assert policy.vouched("gpu-box", 8080) is True  # no port: every port

    assert policy.allowed_addresses("ollama", 11434, _resolver("10.0.0.7")) == ["10.0.0.7"]
    assert policy.allowed_addresses("a.example.com", 443, _resolver("8.8.8.8")) == ["8.8.8.8"]
    with pytest.raises(EgressRefused, match="non-public") as refused:
        policy.allowed_addresses("a.example.com", 443, _resolver("8.8.8.8", "10.0.0.7"))
    assert "10.0.0.7" not in refused.value.reason  # the caller never learns the address
    assert "10.0.0.7" in refused.value.detail  # the log does
    with pytest.raises(EgressRefused, match="must be listed in X"):
        policy.allowed_addresses("ollama", 6379, _resolver("10.0.0.7"))


def test_a_name_that_does_not_resolve_is_a_network_failure_not_a_refusal() -> None:
    def nothing(host: str, port: int) -> list[str]:
        raise socket.gaierror("no such name")

    policy = EgressPolicy.parse("X", [])
    with pytest.raises(OSError, match="no such name"):
        policy.allowed_addresses("nowhere.test", 80, nothing)


def test_an_address_in_the_url_is_not_resolved() -> None:
    def no_dns(host: str, port: int) -> list[str]:
        raise AssertionError("resolved a literal")

    policy = EgressPolicy.parse("X", ["[fe80::1]"])
    assert policy.allowed_addresses("8.8.8.8", 80, no_dns) == ["8.8.8.8"]
    assert policy.allowed_addresses("fe80::1%25eth0", 80, no_dns) == ["fe80::1%eth0"]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://api.openai.com/v1", None),
        ("https://8.8.8.8/v1", None),
        ("http://hooks.example.com/x", None),  # a name: checked where it connects
        ("http://127.0.0.2:8080/x", None),
        ("http://127.0.0.2:8081/x", "is not a public address"),
        ("http://127.0.0.1/", "is not a public address"),
        ("http://2130706433/", "is not a public address"),
        ("http://0x7f000001/", "is not a public address"),
        ("http://127.1/", "is not a public address"),
        ("http://0/", "is not a public address"),
        ("http://[::ffff:127.0.0.1]/", "is not a public address"),
        ("http://localhost:5555/api/workers", "non-public"),
        ("http://LOCALHOST./", "non-public"),
        ("http://flower.localhost/", "non-public"),
        ("http://169.254.169.254/latest", "is not a public address"),
        ("http://0177.0.0.1/", "is not a valid URL"),
        ("http://localhost:abc/", "is not a valid URL"),
        ("http://127.0.0.1/\x00", "is not a valid URL"),
        ("ftp://8.8.8.8/", "must use http or https"),
        ("gopher://8.8.8.8:6379/_INFO", "must use http or https"),
        ("file:///etc/passwd", "must use http or https"),
        ("http://user:pw@8.8.8.8/", "must not carry credentials"),
        ("http:///path", "must name a host"),
    ],
)
def test_urls_are_checked_without_connecting(url: str, problem: str | None) -> None:
    policy = EgressPolicy.parse("X", ["127.0.0.2:8080"])
    found = policy.url_problem(url)
    assert found is None if problem is None else problem in (found or ""), found


def test_no_internal_webhook_receiver_by_default_loopback_least_of_all() -> None:
    policy = webhook_policy(_settings())
    for url in ("http://127.0.0.1:5555/api/workers", "http://[::1]/", "http://10.0.0.5:6379/"):
        assert "WEBHOOK_ALLOWED_HOSTS" in (policy.url_problem(url) or ""), url
    assert policy.url_problem("https://hooks.example.com/in") is None
    with pytest.raises(EgressRefused):
        policy.allowed_addresses("localhost", 5555, _resolver("127.0.0.1"))


def test_llm_defaults_vouch_for_the_official_apis_only() -> None:
    policy = llm_policy(_settings())
    assert policy.vouched("api.anthropic.com", 443) is True
    assert policy.vouched("api.openai.com", 443) is True
    # e.g. a private endpoint of the official API: listed, so it may resolve inward
    assert policy.allowed_addresses("api.openai.com", 443, _resolver("10.1.2.3")) == ["10.1.2.3"]
    assert policy.url_problem("https://llm.example.com/v1") is None
    for url in ("http://127.0.0.1:11434", "http://10.0.0.5/v1", "http://[::1]:8080/v1"):
        assert "LLM_ALLOWED_API_HOSTS" in (policy.url_problem(url) or ""), url


def test_the_operators_own_urls_are_allowed_host_and_port() -> None:
    settings = _settings(
        llm_api_url="http://ollama:11434",
        llm_fallback_credentials='{"openai": {"api_key": "k", "api_url": "http://10.0.0.9/v1"}}',
    )
    policy = llm_policy(settings)
    assert policy.vouched("ollama", 11434) is True
    assert policy.vouched("ollama", 6379) is False  # the operator's URL names one port
    assert policy.vouched("10.0.0.9", 80) is True
    assert policy.url_problem("http://10.0.0.9:6379/") is not None


def test_the_refusal_is_found_behind_the_errors_that_wrap_it() -> None:
    refusal = EgressRefused("no")
    middle = ConnectionError("the library's")
    middle.__cause__ = refusal
    outer = RuntimeError("the SDK's")
    outer.__cause__ = middle
    assert refusal_in(outer) is refusal
    assert refusal_in(ValueError("plain")) is None
