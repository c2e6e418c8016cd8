"""Tenant tokens prove the tenant: HS256 and RS256 JWTs whose `tenant` claim is the only tenant
they act for (a differing X-User-ID is 403), refused with 401 when expired, badly signed, without
`tenant` or `exp`, too long-lived, of another audience, or of an algorithm the gateway has no key
for — and the service token still works beside them, unless GATEWAY_REQUIRE_JWT."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest

from tests.api_gateway.auth_helpers import (
    OPERATOR,
    SECRET,
    SERVICE,
    bearer,
    public_pem,
    rsa_key,
    secured,
    tenant_name,
    token,
)


def test_an_hs256_token_acts_for_its_tenant_and_only_for_it() -> None:
    acme, globex = tenant_name(), tenant_name()
    with secured(acme, globex) as gw:
        # No X-User-ID: the claim's tenant. The same one: accepted too.
        submitted = gw.generate(bearer(token(acme)))
        assert submitted.status_code == 202, submitted.text
        same = gw.generate(bearer(token(acme), acme))
        assert same.status_code == 202
        task = submitted.json()["status_url"]
        assert gw.request("GET", task, bearer(token(acme))).status_code == 200
        # The job is the claim's tenant's: the service token naming it reads it, naming another
        # does not, nor does another tenant's token.
        assert gw.request("GET", task, bearer(SERVICE, acme)).status_code == 200
        assert gw.request("GET", task, bearer(SERVICE, globex)).status_code == 404
        assert gw.request("GET", task, bearer(token(globex))).status_code == 404

        # Naming another tenant is refused before anything is written or enqueued.
        sent = len(gw.sent)
        other = gw.generate(bearer(token(acme), globex))
        assert other.status_code == 403
        assert other.json() == {"detail": "X-User-ID does not match the tenant of the bearer token"}
        assert gw.request("GET", task, bearer(token(acme), globex)).status_code == 403
        assert len(gw.sent) == sent


def _hs256_by_hand(claims: dict[str, object], secret: str) -> str:
    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    head = part(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = part(json.dumps(claims).encode())
    signature = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{part(signature)}"


def test_an_rs256_token_verified_with_the_public_key() -> None:
    acme = tenant_name()
    key, stranger = rsa_key(), rsa_key()
    with secured(acme, gateway_jwt_secret=None, gateway_jwt_public_key=public_pem(key)) as gw:
        signed = token(acme, key=key, algorithm="RS256")
        assert gw.generate(bearer(signed)).status_code == 202
        assert gw.request("GET", "/cache/status", bearer(signed)).json()["tenant"] == acme
        forged = gw.generate(bearer(token(acme, key=stranger, algorithm="RS256")))
        assert forged.status_code == 401
        assert forged.json()["detail"] == "Invalid bearer token: bad signature"
        # Algorithm confusion: an HS256 token "signed" with the public key as its secret.
        # (PyJWT itself refuses to sign that way: it is made by hand.)
        confused = _hs256_by_hand({"tenant": acme, "exp": int(time.time()) + 300}, public_pem(key))
        answer = gw.generate(bearer(confused))
        assert answer.status_code == 401
        assert answer.json()["detail"] == "Invalid bearer token: algorithm not accepted"


def test_both_keys_configured_each_verifies_its_own_algorithm() -> None:
    acme = tenant_name()
    key = rsa_key()
    with secured(acme, gateway_jwt_public_key=public_pem(key)) as gw:
        assert gw.generate(bearer(token(acme))).status_code == 202
        assert gw.generate(bearer(token(acme, key=key, algorithm="RS256"))).status_code == 202


REFUSED = [
    pytest.param({"lifetime": -120.0}, "token expired", id="expired"),
    pytest.param({"key": "another-secret-of-at-least-32-bytes!!"}, "bad signature", id="wrong-key"),
    pytest.param({"tenant": None}, "token has no tenant claim", id="no-tenant"),
    pytest.param({"exp": None}, "token has no exp claim", id="no-exp"),
    pytest.param({"tenant": "no spaces"}, "the tenant claim is not a tenant id", id="bad-tenant"),
    pytest.param({"tenant": 42}, "the tenant claim is not a tenant id", id="tenant-not-text"),
    pytest.param(
        {"lifetime": 7 * 24 * 3600.0}, "lifetime over GATEWAY_JWT_MAX_TTL_SECONDS", id="too-long"
    ),
    pytest.param({"nbf": int(time.time()) + 3600}, "token not yet valid", id="not-yet"),
    pytest.param({"aud": "somebody-else"}, "wrong audience (GATEWAY_JWT_AUDIENCE)", id="aud"),
]


@pytest.mark.parametrize(("change", "reason"), REFUSED)
def test_a_refused_token_is_a_401_with_a_bearer_challenge_and_no_echo(
    change: dict[str, object], reason: str
) -> None:
    acme = tenant_name()
    values = {"tenant": acme, **change}
    tenant = values.pop("tenant")
    presented = token(tenant, **values)  # type: ignore[arg-type]
    with secured(acme) as gw:
        answer = gw.generate(bearer(presented))
        assert answer.status_code == 401
        assert answer.json() == {"detail": f"Invalid bearer token: {reason}"}
        challenge = answer.headers["www-authenticate"]
        assert challenge == (
            f'Bearer error="invalid_token", error_description="Invalid bearer token: {reason}"'
        )
        for part in presented.split("."):
            assert part not in answer.text
            assert part not in challenge
        assert gw.sent == []


def test_tokens_that_are_no_jwt_and_unsigned_ones() -> None:
    acme = tenant_name()
    with secured(acme) as gw:
        for value in ("not-a-jwt", "a.b.c", token(acme, key=None, algorithm="none")):
            answer = gw.generate(bearer(value))
            assert answer.status_code == 401, value
            assert answer.json()["detail"] in (
                "Invalid bearer token: malformed token",
                "Invalid bearer token: algorithm not accepted",
            )
        missing = gw.generate({"X-User-ID": acme})
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        assert gw.generate({"Authorization": f"Basic {SERVICE}"}).status_code == 401


def test_audience_and_issuer_are_required_when_configured() -> None:
    acme = tenant_name()
    with secured(acme, gateway_jwt_audience="eyeflow", gateway_jwt_issuer="nestjs") as gw:
        assert gw.generate(bearer(token(acme, aud="eyeflow", iss="nestjs"))).status_code == 202
        assert gw.generate(bearer(token(acme, iss="nestjs"))).json()["detail"] == (
            "Invalid bearer token: token has no aud claim"
        )
        assert gw.generate(bearer(token(acme, aud="eyeflow", iss="else"))).json()["detail"] == (
            "Invalid bearer token: wrong issuer (GATEWAY_JWT_ISSUER)"
        )


def test_small_clock_skew_is_tolerated() -> None:
    acme = tenant_name()
    with secured(acme) as gw:
        # Expired 10 s ago by this clock: within the 30 s leeway.
        assert gw.generate(bearer(token(acme, lifetime=-10.0))).status_code == 202


def test_the_service_token_still_names_any_tenant_unless_jwt_is_required() -> None:
    acme, globex = tenant_name(), tenant_name()
    with secured(acme, globex) as gw:
        assert gw.generate(bearer(SERVICE, acme)).status_code == 202
        assert gw.generate(bearer(SERVICE, globex)).status_code == 202
        status = gw.request("GET", "/cache/status", bearer(SERVICE))
        assert status.json()["tenant"] == "system"
    with secured(acme, gateway_require_jwt=True) as gw:
        refused = gw.generate(bearer(SERVICE, acme))
        assert refused.status_code == 403
        assert "GATEWAY_REQUIRE_JWT" in refused.json()["detail"]
        assert gw.request("GET", "/cache/status", bearer(SERVICE, acme)).status_code == 403
        # Nothing tenant-scoped there: the service is still a known caller.
        schema = gw.request("GET", "/schemas/aggregated-context", bearer(SERVICE))
        assert schema.status_code == 200
        assert gw.generate(bearer(token(acme))).status_code == 202
        # The operator's own actions still take its token; naming a tenant it cannot.
        assert gw.request("POST", "/cache/invalidate?all=true", bearer(OPERATOR)).status_code == 200
        assert gw.request("GET", "/cache/status", bearer(OPERATOR, acme)).status_code == 403
        assert gw.sent
        assert all(s.kwargs["args"][1] == acme for s in gw.sent)


def test_an_invalid_x_user_id_is_still_a_422_with_a_token() -> None:
    acme = tenant_name()
    with secured(acme) as gw:
        answer = gw.generate(bearer(token(acme), "not valid!"))
        assert answer.status_code == 422
        assert answer.json()["detail"][0]["loc"] == ["header", "X-User-ID"]


def test_a_tenant_token_decodes_with_pyjwt_as_sent() -> None:
    # The helper's tokens are what an issuer would send: standard HS256 JWTs.
    claims = jwt.decode(token("acme"), SECRET, algorithms=["HS256"])
    assert claims["tenant"] == "acme"
    assert claims["exp"] > time.time()
