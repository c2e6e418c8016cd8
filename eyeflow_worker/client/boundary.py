"""The one place where httpx and pydantic meet the caller: a transport failure, an error
status or a body that does not parse becomes an `EyeflowError` here, and nowhere else.

The token is masked in every message built here (`Redactor`): the gateway never echoes it, but
a proxy's error page or a 422's `input` might one day, and a message ends up in logs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pydantic

from eyeflow_worker.client.errors import (
    Conflict,
    EyeflowError,
    Forbidden,
    GatewayError,
    InvalidRequest,
    Issue,
    NetworkError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthenticated,
    Unavailable,
    UnexpectedResponse,
)
from eyeflow_worker.client.models import Task

M = TypeVar("M", bound=pydantic.BaseModel)
_MASK = "***"
_LOCATIONS = ("body", "query", "header", "path")


@dataclass(frozen=True)
class Redactor:
    secret: str | None

    def __call__(self, text: str) -> str:
        return text.replace(self.secret, _MASK) if self.secret else text

    def scrub(self, value: Any) -> Any:
        """`value` (decoded JSON) with the token masked in every string it holds."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, list):
            return [self.scrub(item) for item in value]
        if isinstance(value, dict):
            return {key: self.scrub(item) for key, item in value.items()}
        return value

    def __repr__(self) -> str:
        return "Redactor(***)"


@dataclass(frozen=True)
class Where:
    """What a request was about, for messages: `task 1b2c…`, `the batch`; and as whom."""

    url: str
    tenant: str
    what: str


def network_error(error: httpx.HTTPError, where: Where) -> NetworkError:
    """A transport failure: the request got no answer (or an unreadable one)."""
    if isinstance(error, httpx.ConnectError):
        return NetworkError(
            f"cannot connect to the gateway at {where.url}", url=where.url, reason="connect"
        )
    if isinstance(error, httpx.TimeoutException):
        return NetworkError(
            f"the gateway at {where.url} did not answer in time", url=where.url, reason="timeout"
        )
    # Only the class: an exception's text may quote the request.
    return NetworkError(
        f"talking to the gateway at {where.url} failed ({type(error).__name__})",
        url=where.url,
        reason="broken",
    )


def checked(response: httpx.Response, where: Where, redact: Redactor) -> httpx.Response:
    """The response when it is a success, else the error it stands for, raised."""
    if response.status_code >= 400:
        raise error_for(response, where, redact)
    return response


def parse(response: httpx.Response, model: type[M]) -> M:
    """A success body as `model` (`UnexpectedResponse` when it is not one)."""
    body = json_object(response)
    try:
        return model.model_validate(body)
    except pydantic.ValidationError as invalid:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}"
            for e in invalid.errors()[:5]
        )
        raise UnexpectedResponse(
            f"the gateway answered {response.status_code} with a body that is not a "
            f"{model.__name__} ({problems})",
            status=response.status_code,
        ) from None


def json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise UnexpectedResponse(
            f"the gateway answered {response.status_code} with a body that is not a JSON object",
            status=response.status_code,
        )
    return body


def error_for(response: httpx.Response, where: Where, redact: Redactor) -> EyeflowError:
    """The one translation of an error status into the exception the caller catches."""
    code = response.status_code
    detail = _detail(response, redact)
    builder = _BY_STATUS.get(code)
    if builder is not None:
        return builder(response, where, detail, redact)
    if code in (502, 503, 504):
        return _unavailable(response, where, detail, redact)
    return GatewayError(
        redact(f"the gateway answered {code} for {where.what}: {detail}"),
        status=code,
        detail=detail,
    )


# --- per status -------------------------------------------------------------------------------

_Builder = Callable[[httpx.Response, Where, Any, Redactor], EyeflowError]


def _unauthenticated(_r: httpx.Response, _w: Where, detail: Any, red: Redactor) -> EyeflowError:
    return Unauthenticated(
        red(f"the gateway refused the token (401): {detail}"), status=401, detail=detail
    )


def _forbidden(_r: httpx.Response, w: Where, detail: Any, red: Redactor) -> EyeflowError:
    return Forbidden(red(f"forbidden for tenant '{w.tenant}': {detail}"), status=403, detail=detail)


def _not_found(_r: httpx.Response, w: Where, detail: Any, red: Redactor) -> EyeflowError:
    return NotFound(
        red(f"{w.what} not found for tenant '{w.tenant}' ({detail})"), status=404, detail=detail
    )


def _conflict(r: httpx.Response, w: Where, detail: Any, red: Redactor) -> EyeflowError:
    task: Task | None = None
    body = _json_or_none(r)
    if isinstance(body, dict) and isinstance(body.get("task"), dict):
        try:
            task = Task.model_validate(body["task"])
        except pydantic.ValidationError:
            task = None  # the message still says what happened
    after = _retry_after(r)  # only "still being processed": try again shortly
    return Conflict(
        red(f"conflict on {w.what}: {detail}{_after_text(after)}"),
        detail=detail,
        task=task,
        retry_after=after,
    )


def _too_large(_r: httpx.Response, w: Where, detail: Any, red: Redactor) -> EyeflowError:
    return PayloadTooLarge(
        red(f"{w.what} is larger than the gateway accepts (413, MAX_BODY_BYTES): split it"),
        status=413,
        detail=detail,
    )


def _unprocessable(_r: httpx.Response, _w: Where, detail: Any, red: Redactor) -> EyeflowError:
    if not isinstance(detail, list):
        return InvalidRequest(
            red(f"the gateway refused the request (422): {detail}"), issues=(), detail=detail
        )
    issues = tuple(_issue(entry, red) for entry in detail)
    listing = "; ".join(f"{issue.field}: {issue.message}" for issue in issues)
    return InvalidRequest(
        f"the gateway refused the request (422): {listing}", issues=issues, detail=detail
    )


def _rate_limited(r: httpx.Response, _w: Where, detail: Any, red: Redactor) -> EyeflowError:
    after = _retry_after(r)
    return RateLimited(
        red(f"rate limited (429): {detail}{_after_text(after)}"),
        status=429,
        detail=detail,
        retry_after=after,
    )


def _unavailable(r: httpx.Response, _w: Where, detail: Any, red: Redactor) -> EyeflowError:
    after = _retry_after(r)
    cause = "cannot reach Redis/the broker" if r.status_code == 503 else "is unavailable"
    return Unavailable(
        red(f"the gateway {cause} ({r.status_code}): {detail}{_after_text(after)}"),
        status=r.status_code,
        detail=detail,
        retry_after=after,
    )


_BY_STATUS: dict[int, _Builder] = {
    401: _unauthenticated,
    403: _forbidden,
    404: _not_found,
    409: _conflict,
    413: _too_large,
    422: _unprocessable,
    429: _rate_limited,
}


# --- reading error bodies ---------------------------------------------------------------------


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _detail(response: httpx.Response, redact: Redactor) -> Any:
    body = _json_or_none(response)
    if body is None:
        return redact(response.text.strip()[:300])
    return redact.scrub(body.get("detail") if isinstance(body, dict) else body)


def _issue(entry: Any, redact: Redactor) -> Issue:
    if not isinstance(entry, dict):
        return Issue(field="(request)", message=redact(str(entry)))
    raw = entry.get("loc", [])
    location = (
        tuple(p if isinstance(p, int) else str(p) for p in raw) if isinstance(raw, list) else ()
    )
    parts = [str(p) for p in location]
    if parts and parts[0] in _LOCATIONS:
        parts = parts[1:]
    return Issue(
        field=".".join(parts) or "(request)",
        message=redact(str(entry.get("msg", "invalid"))),
        type=str(entry.get("type", "")),
        location=location,
    )


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare enough to treat as unknown


def _after_text(seconds: float | None) -> str:
    return "" if seconds is None else f"; retry after {seconds:g} s"
