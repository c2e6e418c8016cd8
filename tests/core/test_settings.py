"""JSON-valued settings are typed and parsed once, at start-up: a bad value stops the process with
a message naming the variable, never a failure inside the first job that needs it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from eyeflow_worker.core.settings import Settings, SettingsInvalid, load_settings


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.chdir(tmp_path)  # no `.env` of the work tree is read
    load_settings.cache_clear()
    yield monkeypatch
    load_settings.cache_clear()


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("LLM_RATE_LIMITS", "{not json", "LLM_RATE_LIMITS: Value error, not valid JSON"),
        ("LLM_RATE_LIMITS", '{"openai": "fast"}', "LLM_RATE_LIMITS.openai: Input should be"),
        ("LLM_RATE_LIMITS", '{"openai": -5}', "LLM_RATE_LIMITS.openai: Input should be greater"),
        ("LLM_PRICE_OVERRIDES", '{"gpt-4o": {"output": 1}}', "LLM_PRICE_OVERRIDES.gpt-4o.input"),
        ("LLM_PRICE_OVERRIDES", "[1, 2]", "LLM_PRICE_OVERRIDES: Value error, must be a JSON"),
        ("LLM_FALLBACK_CREDENTIALS", '{"openai": "sk-x"}', "LLM_FALLBACK_CREDENTIALS.openai"),
        ("LLM_FALLBACK_CREDENTIALS", '{"openai": {"key": "x"}}', "_CREDENTIALS.openai.key: Extra"),
        ("LLM_TEMPERATURE", "7", "LLM_TEMPERATURE: Input should be less than or equal to 2"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(
    environment: pytest.MonkeyPatch, variable: str, value: str, says: str
) -> None:
    environment.setenv(variable, value)
    with pytest.raises(SettingsInvalid) as refused:
        load_settings()
    assert says in str(refused.value)
    assert isinstance(refused.value, SystemExit)  # the process stops with that message


def test_json_values_are_typed_and_provider_names_lowercased(
    environment: pytest.MonkeyPatch,
) -> None:
    environment.setenv("LLM_RATE_LIMITS", '{"OpenAI": 500}')
    environment.setenv("LLM_PRICE_OVERRIDES", '{"my-model": {"input": 1, "output": 2}}')
    environment.setenv(
        "LLM_FALLBACK_CREDENTIALS", '{"OpenAI": {"api_key": "sk-fleet-key", "model": "gpt-x"}}'
    )
    settings = load_settings()

    assert settings.llm_rate_limits == {"openai": 500}
    price = settings.llm_price_overrides["my-model"]
    assert (price.input, price.output, price.cache_read) == (1.0, 2.0, None)
    credentials = settings.llm_fallback_credentials["openai"]
    assert credentials.model == "gpt-x"
    assert credentials.api_key is not None
    assert credentials.api_key.get_secret_value() == "sk-fleet-key"
    assert "sk-fleet-key" not in repr(settings)  # the key stays a secret


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_json_variable_means_unset(environment: pytest.MonkeyPatch, blank: str) -> None:
    for variable in ("LLM_RATE_LIMITS", "LLM_PRICE_OVERRIDES", "LLM_FALLBACK_CREDENTIALS"):
        environment.setenv(variable, blank)
    settings = load_settings()
    assert (
        settings.llm_rate_limits,
        settings.llm_price_overrides,
        settings.llm_fallback_credentials,
    ) == ({}, {}, {})


def test_a_whsec_secret_that_does_not_decode_is_refused_at_start_up() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="whsec_ secret must be base64"):
        Settings(_env_file=None, webhook_secret="whsec_!!!")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="at least 16 bytes"):
        Settings(_env_file=None, webhook_secret="whsec_c2hvcnQ=")  # type: ignore[call-arg]
    good = Settings(_env_file=None, webhook_secret="whsec_ZXllZmxvdy10ZXN0LXdlYmhvb2stc2VjcmV0")  # type: ignore[call-arg]
    assert good.webhook_signing_secret.startswith("whsec_")


def test_only_dev_runs_without_secrets() -> None:
    from pydantic import ValidationError

    Settings(_env_file=None, environment="dev")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="WEBHOOK_SECRET, CACHE_ENCRYPTION_KEY must be set"):
        Settings(_env_file=None, environment="test")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="GATEWAY_API_TOKEN"):
        Settings(  # type: ignore[call-arg]
            _env_file=None,
            environment="production",
            webhook_secret="whsec_ZXllZmxvdy10ZXN0LXdlYmhvb2stc2VjcmV0",
            cache_encryption_key="dGVzdC1vbmx5LWZlcm5ldC1rZXktMzItYnl0ZXMtISE=",
        )
