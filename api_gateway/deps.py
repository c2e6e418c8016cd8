"""FastAPI dependencies as `Annotated` aliases: settings, the verified caller and the tenant it
acts for, the operator check, the submission rate. Shared objects (Redis, the job store, the
config cache…) come from `state.StateDep`; the submission rate is taken with the record
(`too_many_submissions` is its 429).

Who may act for whom (README "Authentication"): a tenant token acts for its `tenant` claim only
(an X-User-ID naming another is 403); the service token for the tenant X-User-ID names (default
`system`), unless GATEWAY_REQUIRE_JWT; the operator token likewise, and it alone may act across
tenants (`OperatorDep`). An open gateway (no credential configured, dev) lets everyone do all.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status

from api_gateway.auth import TENANT_PATTERN, Authenticator, AuthRefused, Principal
from api_gateway.state import StateDep
from eyeflow_worker.core.settings import Settings


async def settings_from_state(state: StateDep) -> Settings:
    return state.settings


SettingsDep = Annotated[Settings, Depends(settings_from_state)]

UserIdHeader = Annotated[
    str | None,
    Header(
        alias="X-User-ID",
        description="The tenant (NestJS user id); defaults to `system`, as in the seed. With a "
        "tenant token: its `tenant` claim, and any other value is refused (403).",
        # Stated, not enforced here: `named_tenant` checks it and answers its own 422. Empty
        # counts as absent, hence the optional group.
        json_schema_extra={"pattern": "^(" + TENANT_PATTERN.pattern.strip("^$") + ")?$"},
    ),
]


def authenticator(request: Request) -> Authenticator:
    """The app's verifier (`main.create_app` builds it with the app); an app assembled from the
    routers alone builds its own from its settings, once."""
    found: Authenticator | None = getattr(request.app.state, "authenticator", None)
    if found is None:
        found = Authenticator(request.app.state.gateway.settings)
        request.app.state.authenticator = found
    return found


async def caller(
    request: Request,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    """The verified caller; 401 with a `WWW-Authenticate: Bearer` challenge otherwise. Computed
    once per request, however many dependencies ask (FastAPI caches it). `async`, as the other
    dependencies here: they wait on nothing (a constant-time compare, a JWT check of tens of
    microseconds), and FastAPI runs a plain `def` dependency on its thread pool — a thread hop
    per dependency per request, which cost more than the check itself."""
    try:
        return authenticator(request).authenticate(authorization)
    except AuthRefused as refused:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, detail=refused.reason, headers=refused.headers
        ) from None


CallerDep = Annotated[Principal, Depends(caller)]
# What `main.py` puts on every router but /health's: no route answers an unverified caller.
AuthDep = Depends(caller)


def _forbidden(message: str) -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, detail=message)


def named_tenant(x_user_id: str | None) -> str | None:
    """The X-User-ID header read (None: absent or empty); 422 when it is no tenant id."""
    if x_user_id is None or x_user_id == "":
        return None
    if not TENANT_PATTERN.match(x_user_id):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=[
                {
                    "loc": ["header", "X-User-ID"],
                    "msg": "must be 1-128 characters of letters, digits and . _ : @ -",
                    "type": "value_error",
                }
            ],
        )
    return x_user_id


def resolve_tenant(request: Request, principal: Principal, x_user_id: str | None) -> str:
    """The tenant this call acts for (see the module's docstring for the rules)."""
    named = named_tenant(x_user_id)
    if principal.role == "tenant":
        if named is not None and named != principal.tenant:
            # Not echoed: the caller holds the token and knows its claim.
            raise _forbidden("X-User-ID does not match the tenant of the bearer token")
        assert principal.tenant is not None
        return principal.tenant
    if principal.role != "open" and authenticator(request).require_jwt:
        raise _forbidden(
            "This gateway requires a tenant token (GATEWAY_REQUIRE_JWT): send "
            "`Authorization: Bearer <jwt>` with a `tenant` claim"
        )
    return named or "system"


async def tenant_of_caller(
    request: Request, principal: CallerDep, x_user_id: UserIdHeader = None
) -> str:
    return resolve_tenant(request, principal, x_user_id)


TenantDep = Annotated[str, Depends(tenant_of_caller)]


def require_operator(principal: Principal) -> None:
    """403 unless the caller is the operator (or the gateway runs open): acting across tenants
    — every tenant's cache, per-tenant metrics — is the operator's alone, never the service's
    nor a tenant's."""
    if principal.role not in ("operator", "open"):
        raise _forbidden(
            "This acts across tenants: it needs the operator token (OPERATOR_API_TOKEN)"
        )


async def operator_only(principal: CallerDep) -> None:
    require_operator(principal)


OperatorDep = Depends(operator_only)


# --- per-tenant submission rate (429) -------------------------------------------------------


def too_many_submissions(settings: Settings, wait_seconds: float) -> HTTPException:
    """The 429 of a submission over the tenant's budget (TENANT_SUBMIT_RATE_PER_MINUTE, shared
    by every gateway; a batch is one submission). The token is taken in the same round trip
    that writes the job's record (`enqueue.Submitter`), so only a valid, authorised submission
    takes one — and gets it back when the broker then refuses it (503: nothing was kept)."""
    seconds = max(1, math.ceil(wait_seconds))
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        detail=f"Too many submissions for this tenant (TENANT_SUBMIT_RATE_PER_MINUTE "
        f"{settings.tenant_submit_rate_per_minute:g}, burst {settings.tenant_submit_burst}); "
        f"retry in {seconds} s",
        headers={"Retry-After": str(seconds)},
    )
