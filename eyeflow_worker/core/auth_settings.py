"""The gateway's auth settings (`# --- auth ---` in `settings.py`), read and checked once, at
start-up: a key that cannot verify a token, or a combination that cannot work, stops every
process with a message naming the variable — never the first request that would need it.

The verification itself is the gateway's (`api_gateway/auth.py`); the key is loaded here so the
check at start-up and the verifier load it the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

if TYPE_CHECKING:
    from eyeflow_worker.core.settings import Settings

# The text-valued auth settings: `VAR=` (docker-compose's `${VAR:-}`) means "not set".
_TEXT_FIELDS = (
    "operator_api_token",
    "gateway_jwt_secret",
    "gateway_jwt_public_key",
    "gateway_jwt_audience",
    "gateway_jwt_issuer",
)
# RFC 7518 §3.2: an HS256 key must be at least as long as the hash (32 bytes); NIST SP 800-131A:
# RSA keys of 2048 bits or more. PyJWT is told to refuse shorter ones too.
MIN_HS256_SECRET_BYTES = 32
MIN_RSA_KEY_BITS = 2048


def blank_is_unset(data: Any) -> Any:
    """The raw settings input with blank auth values dropped (so their default, unset, holds)."""
    if not isinstance(data, dict):
        return data
    return {
        name: value for name, value in data.items() if not (name in _TEXT_FIELDS and _blank(value))
    }


def _blank(value: object) -> bool:
    text = value.get_secret_value() if hasattr(value, "get_secret_value") else value
    return isinstance(text, str) and not text.strip()


def rsa_public_key(pem: str) -> RSAPublicKey:
    """GATEWAY_JWT_PUBLIC_KEY as a key; `ValueError` naming the variable when it is not an RSA
    public key in PEM of at least 2048 bits. An environment file often holds the PEM on one line
    with `\\n` escapes: those are read as line breaks."""
    text = pem.strip()
    if "\n" not in text and "\\n" in text:
        text = text.replace("\\n", "\n")
    try:
        key = load_pem_public_key(text.encode())
    except (ValueError, TypeError):
        raise ValueError(
            "GATEWAY_JWT_PUBLIC_KEY is not a PEM public key (expected '-----BEGIN PUBLIC "
            "KEY-----' …; the public half, never the private key)"
        ) from None
    if not isinstance(key, RSAPublicKey):
        raise ValueError("GATEWAY_JWT_PUBLIC_KEY must be an RSA public key (tokens are RS256)")
    if key.key_size < MIN_RSA_KEY_BITS:
        raise ValueError(
            f"GATEWAY_JWT_PUBLIC_KEY is a {key.key_size}-bit RSA key; at least "
            f"{MIN_RSA_KEY_BITS} bits are required"
        )
    return key


def check_auth(settings: Settings) -> Settings:
    """`settings` when its auth settings can work; else `ValueError` naming every variable that
    is wrong. Checked in every environment: none of these can work in dev either."""
    from eyeflow_worker.core.settings import _PLACEHOLDERS  # settings imports this module lazily

    problems: list[str] = []
    if settings.gateway_jwt_public_key is not None:
        try:
            rsa_public_key(settings.gateway_jwt_public_key)
        except ValueError as exc:
            problems.append(str(exc))
    secret = settings.gateway_jwt_secret
    if secret is not None and len(secret.get_secret_value().encode()) < MIN_HS256_SECRET_BYTES:
        problems.append(
            f"GATEWAY_JWT_SECRET must hold at least {MIN_HS256_SECRET_BYTES} bytes (HS256)"
        )
    if settings.gateway_require_jwt and secret is None and settings.gateway_jwt_public_key is None:
        problems.append(
            "GATEWAY_REQUIRE_JWT needs GATEWAY_JWT_SECRET or GATEWAY_JWT_PUBLIC_KEY to verify with"
        )
    operator, service = settings.operator_api_token, settings.gateway_api_token
    if operator is not None:
        if service is not None and operator.get_secret_value() == service.get_secret_value():
            # The operator's token would then be in NestJS's hands: operator calls must be told
            # apart from the service's.
            problems.append("OPERATOR_API_TOKEN must differ from GATEWAY_API_TOKEN")
        if (
            settings.environment != "dev"
            and operator.get_secret_value().strip().lower() in _PLACEHOLDERS
        ):
            problems.append("OPERATOR_API_TOKEN must be a real secret outside dev")
    if problems:
        raise ValueError("; ".join(problems))
    return settings
