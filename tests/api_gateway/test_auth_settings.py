"""The auth settings are checked at start-up, naming the variable: a public key that is no RSA
PEM (or a private one, or too short), an HS256 secret under 32 bytes, GATEWAY_REQUIRE_JWT with
nothing to verify with, an operator token equal to the service's or a placeholder outside dev.
Blank values (compose's `${VAR:-}`) are unset, and none of the secrets is ever logged."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError

from api_gateway.main import create_app
from eyeflow_worker.core.settings import Settings, SettingsInvalid, load_settings
from tests.api_gateway.auth_helpers import OPERATOR, SECRET, public_pem, rsa_key
from tests.api_gateway.submit_helpers import settings


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_a_malformed_public_key_stops_the_process_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("GATEWAY_API_TOKEN", "a-real-service-token-0123456789")
    monkeypatch.setenv("WEBHOOK_SECRET", "a-real-webhook-secret-0123456789")
    monkeypatch.setenv("CACHE_ENCRYPTION_KEY", "QmZ3c3VvQ0JhT0ZzZ3FkV0x6b2d1b3RyZW1pbGJ2eVk=")
    monkeypatch.setenv("GATEWAY_JWT_PUBLIC_KEY", "-----BEGIN PUBLIC KEY-----\nnope\n-----END")
    load_settings.cache_clear()
    try:
        with pytest.raises(SettingsInvalid, match="GATEWAY_JWT_PUBLIC_KEY is not a PEM"):
            load_settings()
    finally:
        load_settings.cache_clear()


def test_keys_that_cannot_verify_are_refused() -> None:
    key = rsa_key()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    with pytest.raises(ValidationError, match="GATEWAY_JWT_PUBLIC_KEY is not a PEM"):
        _settings(gateway_jwt_public_key=private)
    with pytest.raises(ValidationError, match="1024-bit RSA key; at least 2048"):
        _settings(gateway_jwt_public_key=public_pem(rsa_key(1024)))
    with pytest.raises(ValidationError, match="GATEWAY_JWT_SECRET must hold at least 32 bytes"):
        _settings(gateway_jwt_secret="short")
    # An environment file's one-line PEM, `\n` escaped, is read as the key it is.
    one_line = public_pem(key).replace("\n", "\\n")
    assert _settings(gateway_jwt_public_key=one_line).gateway_jwt_public_key == one_line


def test_combinations_that_cannot_work_are_refused() -> None:
    with pytest.raises(ValidationError, match="GATEWAY_REQUIRE_JWT needs GATEWAY_JWT_SECRET"):
        _settings(gateway_require_jwt=True)
    with pytest.raises(ValidationError, match="OPERATOR_API_TOKEN must differ"):
        _settings(gateway_api_token="same-token", operator_api_token="same-token")
    with pytest.raises(ValidationError, match="OPERATOR_API_TOKEN must be a real secret"):
        _settings(
            environment="test",
            webhook_secret="a-real-webhook-secret-0123456789",
            cache_encryption_key="QmZ3c3VvQ0JhT0ZzZ3FkV0x6b2d1b3RyZW1pbGJ2eVk=",
            operator_api_token="changeme",
        )
    assert _settings(gateway_require_jwt=True, gateway_jwt_secret=SECRET).gateway_require_jwt


def test_blank_values_are_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPERATOR_API_TOKEN", "GATEWAY_JWT_SECRET", "GATEWAY_JWT_PUBLIC_KEY"):
        monkeypatch.setenv(name, "  ")
    monkeypatch.setenv("GATEWAY_JWT_AUDIENCE", "")
    loaded = _settings(gateway_jwt_issuer="")
    assert loaded.operator_api_token is None
    assert loaded.gateway_jwt_secret is None
    assert loaded.gateway_jwt_public_key is None
    assert loaded.gateway_jwt_audience is None
    assert loaded.gateway_jwt_issuer is None


def test_no_secret_reaches_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    app = create_app(
        settings(
            operator_api_token=SecretStr(OPERATOR),
            gateway_jwt_secret=SecretStr(SECRET),
        )
    )
    with TestClient(app) as http:
        http.get("/metrics", headers={"Authorization": f"Bearer {OPERATOR}x"})
        http.get("/metrics", headers={"Authorization": "Bearer not.a.jwt"})
    assert "Tenant tokens (HS256) prove their tenant" in caplog.text
    for secret in (OPERATOR, SECRET):
        assert secret not in caplog.text
    assert "not.a.jwt" not in caplog.text
    shown = repr(settings(operator_api_token=SecretStr(OPERATOR), gateway_jwt_secret=SECRET))
    assert OPERATOR not in shown
    assert SECRET not in shown
