"""Who is calling: the credential in `Authorization: Bearer <value>`, verified here (the rules are
in the README, "Authentication"; what each caller may then do is `deps.py`'s).

A value equal to OPERATOR_API_TOKEN is the operator, one equal to GATEWAY_API_TOKEN is the
service (NestJS, trusted to name any tenant in X-User-ID); anything else is read as a tenant
token — a JWT signed with GATEWAY_JWT_SECRET (HS256) or with the private half of
GATEWAY_JWT_PUBLIC_KEY (RS256) — whose `tenant` claim is the only tenant it may act for. With
none of the three configured the gateway runs open (dev) and every caller is `open`.

Every check of the token is PyJWT's own: the algorithm pinned to the key it goes with (a token
cannot pick its key by naming another algorithm), signature, `exp` required and checked, `nbf`
and `iat` when present, `aud`/`iss` required and checked when configured, keys too short
refused. The one check added is the lifetime cap: a token may not outlive
GATEWAY_JWT_MAX_TTL_SECONDS from now, whatever its issuer wrote — "short-lived" is the gateway's
guarantee, not only the issuer's habit.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import jwt

from eyeflow_worker.core.auth_settings import rsa_public_key
from eyeflow_worker.core.settings import Settings

logger = logging.getLogger(__name__)

# What a tenant id may be, in X-User-ID and in a token's `tenant` claim alike.
TENANT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")
# Clock skew tolerated between the token's issuer and this gateway, on `exp`, `nbf` and `iat`.
LEEWAY_SECONDS = 30.0

Role = Literal["open", "operator", "service", "tenant"]


@dataclass(frozen=True)
class Principal:
    """The verified caller. `tenant` is set for `tenant` only: the claim it proved."""

    role: Role
    tenant: str | None = None


class AuthRefused(Exception):
    """401: no credential, or one that does not verify. `reason` is short and fixed — never the
    token, nor a library message that could quote a part of it."""

    def __init__(self, reason: str, *, invalid_token: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.invalid_token = invalid_token

    @property
    def headers(self) -> dict[str, str]:
        # RFC 6750 §3: a token that was presented and refused says why in the challenge.
        if not self.invalid_token:
            return {"WWW-Authenticate": "Bearer"}
        return {
            "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{self.reason}"'
        }


# PyJWT's refusals, most specific first (InvalidSignatureError is a DecodeError, Expired… an
# InvalidToken…): each becomes a fixed reason.
_REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token not yet valid"),
    (jwt.InvalidSignatureError, "bad signature"),
    (jwt.InvalidAudienceError, "wrong audience (GATEWAY_JWT_AUDIENCE)"),
    (jwt.InvalidIssuerError, "wrong issuer (GATEWAY_JWT_ISSUER)"),
    (jwt.InvalidIssuedAtError, "bad iat claim"),
    (jwt.InvalidAlgorithmError, "algorithm not accepted"),
    (jwt.InvalidKeyError, "key refused"),
    (jwt.DecodeError, "malformed token"),
)


def _reason(exc: jwt.PyJWTError) -> str:
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"token has no {exc.claim} claim"
    for kind, reason in _REASONS:
        if isinstance(exc, kind):
            return reason
    return "invalid token"


def _token(secret: Any) -> bytes | None:
    return secret.get_secret_value().encode() if secret is not None else None


class Authenticator:
    """Built once per gateway from its settings (keys loaded then); `authenticate` per request."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self._service = _token(settings.gateway_api_token)
        self._operator = _token(settings.operator_api_token)
        # One key per algorithm, and only the algorithm it is for is ever tried with it.
        self._keys: dict[str, Any] = {}
        if settings.gateway_jwt_secret is not None:
            self._keys["HS256"] = settings.gateway_jwt_secret.get_secret_value().encode()
        if settings.gateway_jwt_public_key is not None:
            self._keys["RS256"] = rsa_public_key(settings.gateway_jwt_public_key)
        self.require_jwt = settings.gateway_require_jwt
        self.has_operator = self._operator is not None
        self._audience = settings.gateway_jwt_audience
        self._issuer = settings.gateway_jwt_issuer
        self._max_ttl = settings.gateway_jwt_max_ttl_seconds
        required = ["exp", "tenant"]
        required += ["aud"] if self._audience is not None else []
        required += ["iss"] if self._issuer is not None else []
        self._jwt = jwt.PyJWT(options={"require": required, "enforce_minimum_key_length": True})
        self._clock = clock

    @property
    def is_open(self) -> bool:
        """No credential configured at all: the gateway accepts every call (dev only)."""
        return self._service is None and self._operator is None and not self._keys

    @property
    def algorithms(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller of a request with this Authorization header; `AuthRefused` (401) else."""
        if self.is_open:
            return Principal("open")
        scheme, _, value = (authorization or "").partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value:
            raise AuthRefused("Missing bearer token", invalid_token=False)
        presented = value.encode()
        # Both compared in constant time, every time: how long the check takes does not say
        # which token (if any) the value came close to.
        operator = self._operator is not None and hmac.compare_digest(presented, self._operator)
        service = self._service is not None and hmac.compare_digest(presented, self._service)
        if operator:
            return Principal("operator")
        if service:
            return Principal("service")
        if not self._keys:
            raise AuthRefused("Missing or invalid bearer token", invalid_token=False)
        return self._tenant_token(value)

    def _tenant_token(self, token: str) -> Principal:
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
            if not isinstance(algorithm, str) or algorithm not in self._keys:
                raise jwt.InvalidAlgorithmError()
            key = self._keys[algorithm]
            claims = self._jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self._audience,
                issuer=self._issuer,
                leeway=LEEWAY_SECONDS,
            )
        except jwt.PyJWTError as exc:
            reason = _reason(exc)
            logger.debug("tenant token refused: %s", reason)
            raise AuthRefused(f"Invalid bearer token: {reason}", invalid_token=True) from None
        tenant = claims["tenant"]
        if not isinstance(tenant, str) or not TENANT_PATTERN.match(tenant):
            raise AuthRefused(
                "Invalid bearer token: the tenant claim is not a tenant id", invalid_token=True
            )
        # `exp` is there and in the future (PyJWT checked both); it may not be too far ahead.
        if float(claims["exp"]) - self._clock() > self._max_ttl + LEEWAY_SECONDS:
            raise AuthRefused(
                "Invalid bearer token: lifetime over GATEWAY_JWT_MAX_TTL_SECONDS",
                invalid_token=True,
            )
        return Principal("tenant", tenant)
