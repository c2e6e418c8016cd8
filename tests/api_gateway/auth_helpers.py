"""Shared by the auth tests: tokens (HS256, RS256 with a key made here), and a gateway on the real
Redis (database 15, never flushed: each test's tenants are its own, and what it wrote — jobs,
rate buckets, the refresh-all claim — is deleted on exit) whose broker records what it was sent."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api_gateway.main import create_app
from api_gateway.routes.cache import REFRESH_ALL_KEY
from tests.api_gateway.submit_helpers import connect, forget, recorded_sends, settings

SERVICE = "service-token-for-the-auth-tests"
OPERATOR = "operator-token-for-the-auth-tests"
SECRET = "an-hs256-secret-of-at-least-32-bytes!"
GENERATE = {"user_intent": "Alert the team when database memory exceeds 85%"}


def tenant_name() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def token(
    tenant: str | None,
    *,
    key: Any = SECRET,
    algorithm: str = "HS256",
    lifetime: float = 300.0,
    **claims: Any,
) -> str:
    """A signed tenant token; `tenant=None` leaves the claim out, `exp=None` leaves `exp` out."""
    payload: dict[str, Any] = {"exp": int(time.time() + lifetime), "iat": int(time.time())}
    if tenant is not None:
        payload["tenant"] = tenant
    payload.update(claims)
    payload = {name: value for name, value in payload.items() if value is not None}
    return jwt.encode(payload, key, algorithm=algorithm)


def bearer(value: str, tenant: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {value}"}
    if tenant is not None:
        headers["X-User-ID"] = tenant
    return headers


@dataclass
class Sent:
    name: str
    kwargs: dict[str, Any]


@dataclass
class Secured:
    http: TestClient
    sent: list[Sent] = field(default_factory=list)
    tenants: set[str] = field(default_factory=set)

    def request(self, method: str, path: str, headers: dict[str, str], body: Any = None) -> Any:
        if "X-User-ID" in headers:
            self.tenants.add(headers["X-User-ID"])
        return self.http.request(method, path, headers=headers, json=body)

    def generate(self, headers: dict[str, str]) -> Any:
        return self.request("POST", "/api/rules/generate", headers, GENERATE)


@contextmanager
def secured(*tenants: str, **overrides: Any) -> Iterator[Secured]:
    """A gateway with the service and operator tokens and the HS256 secret (override any, e.g.
    `gateway_jwt_secret=None`); `tenants`: those the test acts for, cleaned up on exit."""
    values: dict[str, Any] = {
        "gateway_api_token": SecretStr(SERVICE),
        "operator_api_token": SecretStr(OPERATOR),
        "gateway_jwt_secret": SecretStr(SECRET),
        **overrides,
    }
    app = create_app(settings(**values))
    here = Secured(TestClient(app), tenants=set(tenants))

    client = connect()
    client.delete(REFRESH_ALL_KEY)
    try:
        with (
            recorded_sends(app.state.gateway, lambda n, kw: here.sent.append(Sent(n, kw))),
            here.http,
        ):
            yield here
    finally:
        jobs = [str(s.kwargs["task_id"]) for s in here.sent if "args" in s.kwargs]
        for tenant in here.tenants:
            forget(tenant, jobs)
        client.delete(REFRESH_ALL_KEY)
        client.close()
