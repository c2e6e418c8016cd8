"""FastAPI dependencies as `Annotated` aliases: settings, the caller's tenant, auth. Shared
objects (Redis, the job store, the config cache…) come from `state.StateDep`."""

from __future__ import annotations

import hmac
import re
from typing import Annotated

from fastapi import Depends, Header, HTTPException, status

from api_gateway.state import StateDep
from eyeflow_worker.core.settings import Settings

_TENANT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")


def settings_from_state(state: StateDep) -> Settings:
    return state.settings


SettingsDep = Annotated[Settings, Depends(settings_from_state)]


def tenant_from_header(
    x_user_id: Annotated[
        str | None,
        Header(description="The tenant (NestJS user id). Defaults to `system`, as in the seed."),
    ] = None,
) -> str:
    if x_user_id is None or x_user_id == "":
        return "system"
    if not _TENANT_PATTERN.match(x_user_id):
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


TenantDep = Annotated[str, Depends(tenant_from_header)]


def require_token(
    settings: SettingsDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> None:
    """Bearer-token check; a no-op when GATEWAY_API_TOKEN is unset (the gateway then runs open)."""
    if settings.gateway_api_token is None:
        return
    expected = settings.gateway_api_token.get_secret_value()
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.encode(), expected.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="Missing or invalid bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )


AuthDep = Depends(require_token)
