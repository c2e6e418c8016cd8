"""HTTP status → `ProviderError`, shared by every provider's translation function.

Each provider module owns a tiny function that unpacks its SDK's exception (status, headers,
the provider's own message) and hands the pieces to `error_from_status`; this module decides
what the fleet makes of them (and reads the rate-limit headers for the limiter, through
`ratelimit_headers`). Nothing here knows an SDK.
"""

from __future__ import annotations

import email.utils
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

from eyeflow_worker.core.egress import EgressRefused, url_shape_problem
from eyeflow_worker.core.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
    ProviderRequestError,
    ProviderTimeout,
    ProviderUnavailable,
)
from eyeflow_worker.providers.ratelimit_headers import (
    duration_seconds,
    parse_rate_limits,
    seconds_until,
)

T = TypeVar("T")

log = logging.getLogger(__name__)

_MAX_MESSAGE_CHARS = 500
_CONTROL_OR_SPACE = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")
# A server-given wait longer than this is taken for a broken header, not a real request: the
# retry loop waits its own longest backoff instead, and the fleet does not cool down for it.
ABSURD_RETRY_AFTER_SECONDS = 3600.0
_MAX_REASON_CHARS = 120
# What reading a well-formed answer raises when the answer was not well formed after all.
MALFORMED_ERRORS: tuple[type[Exception], ...] = (
    ValueError,  # json.JSONDecodeError, pydantic's ValidationError, int("abc")
    TypeError,  # None where a number was expected
    AttributeError,  # a str (an HTML page from a proxy) where an object was expected
    KeyError,
    IndexError,
)
# Reset headers that say when a rate-limit window reopens, by vendor.
_RESET_HEADER = re.compile(
    r"^(anthropic-ratelimit-(?P<a>[a-z-]+)-reset|x-ratelimit-reset-(?P<o>[a-z-]+))$"
)


def redact(text: str, secret: str | None) -> str:
    """Text from a remote reply made fit for a task record: every occurrence of `secret`
    masked, control characters and runs of white space turned into one space, cut short.

    Only a provider's own error message (the `error.message` of its JSON error object) is ever
    passed here — never a body as such: a URL pointing somewhere unexpected must not turn the
    job's `error.message` into a window on whatever answered there.
    """
    if secret:
        text = text.replace(secret, "***")
    text = _CONTROL_OR_SPACE.sub(" ", text).strip()
    if len(text) > _MAX_MESSAGE_CHARS:
        text = text[: _MAX_MESSAGE_CHARS - 1] + "…"
    return text


def refuse_unusable_url(provider: str, base_url: str) -> None:
    """Raise the egress refusal for a base URL no client should be built for (not http(s),
    credentials in it, not a URL at all); where it may connect is checked when it connects."""
    problem = url_shape_problem(base_url)
    if problem is not None:
        raise egress_refused(provider, EgressRefused(f"the URL {problem}"))


def egress_refused(provider: str, refusal: EgressRefused) -> ProviderRequestError:
    """The tenant's API URL is one the fleet may not call (`core.egress`): a configuration to
    fix, never retried, never served by a fallback."""
    log.warning("%s refused by the egress policy: %s %s", provider, refusal.reason, refusal.detail)
    return ProviderRequestError(
        f"{provider}: the configured API URL is not allowed: {refusal.reason}. Fix apiUrl in the "
        "NestJS LLM configuration, or ask the operator to allow the host.",
        details={"provider": provider, "egress": "refused"},
    )


def auth_refused_message(provider: str, status: int) -> str:
    return (
        f"The LLM API key was refused by {provider} ({status}). Update the key in the NestJS "
        "LLM configuration and call POST /config/refresh."
    )


def missing_key_message(provider: str) -> str:
    return (
        f"No LLM API key is configured for {provider}. Set it in the NestJS LLM configuration "
        "and call POST /config/refresh."
    )


def error_from_status(
    provider: str,
    status: int,
    message: str,
    headers: Mapping[str, str],
    *,
    overloaded: bool = False,
) -> ProviderError:
    """The fleet's error for an HTTP error answer. `message` must already be redacted.

    It carries what the answer's rate-limit headers said (`rate_limits`), for the limiter.
    """
    error = _error_for(provider, status, message, headers, overloaded=overloaded)
    error.rate_limits = parse_rate_limits(headers)
    return error


def _error_for(
    provider: str, status: int, message: str, headers: Mapping[str, str], *, overloaded: bool
) -> ProviderError:
    details = {"provider": provider, "status": status}
    if status in (401, 403):
        return ProviderAuthError(auth_refused_message(provider, status), details=details)
    if status == 429 and not overloaded:
        return ProviderRateLimited(
            f"{provider} rate limit reached: {message}",
            details=details,
            retry_after=retry_after_seconds(headers, reset_headers=True),
        )
    if status == 408:
        return ProviderTimeout(f"{provider} timed out (408): {message}", details=details)
    if overloaded or status >= 500 or status == 409:
        return ProviderUnavailable(
            f"{provider} is unavailable ({status}): {message}",
            details=details,
            retry_after=retry_after_seconds(headers),
        )
    return ProviderRequestError(
        f"{provider} refused the request ({status}): {message}", details=details
    )


def malformed_response(provider: str, reason: str) -> ProviderUnavailable:
    """A 200 answer the fleet cannot read: retried, then served by a fallback, like an outage."""
    return ProviderUnavailable(
        f"{provider} returned a malformed response: {reason}", details={"provider": provider}
    )


def malformed_reason(error: BaseException, secret: str | None = None) -> str:
    """A short, redacted description of why an answer could not be read (never the body)."""
    text = f"{type(error).__name__}: {error}"
    if secret:
        text = text.replace(secret, "***")
    if len(text) > _MAX_REASON_CHARS:
        text = text[: _MAX_REASON_CHARS - 1] + "…"
    return text


def parse_response(provider: str, parse: Callable[[], T], secret: str | None = None) -> T:
    """`parse()`, with any `MALFORMED_ERRORS` it raises turned into `malformed_response`.

    The fleet error is raised outside the `except` block, so it carries no `__context__` (the
    original exception can hold the raw body, headers or SDK objects).
    """
    reason = ""
    try:
        return parse()
    except MALFORMED_ERRORS as error:
        reason = malformed_reason(error, secret)
    raise malformed_response(provider, reason)


def token_count(value: object) -> int:
    """A usage counter from a provider answer: missing/null is 0; anything else must be a
    non-negative whole number (or raises `TypeError`/`ValueError`, i.e. a malformed answer)."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"token count of type {type(value).__name__}")
    count = int(value)
    if count < 0:
        raise ValueError(f"negative token count {count}")
    return count


def timeout_error(provider: str, timeout_seconds: float) -> ProviderTimeout:
    return ProviderTimeout(
        f"{provider} did not answer within {timeout_seconds:g} s",
        details={"provider": provider},
    )


def connection_error(provider: str, reason: str) -> ProviderUnavailable:
    return ProviderUnavailable(
        f"{provider} could not be reached: {reason}", details={"provider": provider}
    )


def retry_after_seconds(
    headers: Mapping[str, str], *, now: float | None = None, reset_headers: bool = False
) -> float | None:
    """Seconds the server asked us to wait, from the headers vendors actually send.

    Order: `retry-after-ms`, `retry-after` (seconds or an HTTP date; one we cannot represent is
    ignored), then — only with `reset_headers`, i.e. for a 429 — the vendors' rate-limit reset
    headers (`anthropic-ratelimit-*-reset`: RFC 3339 instant; `x-ratelimit-reset-*`: a duration
    such as `1m30s` or `250ms`). Those say when each window reopens, not that we must wait for
    it: a 5xx/529 carries them too, and a window with requests left does not hold us back. So
    the wait is the longest reset among the exhausted windows (`*-remaining: 0`); when none is
    marked exhausted, the shortest reset.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    now = time.time() if now is None else now
    if (value := _seconds(lowered.get("retry-after-ms"))) is not None:
        return value / 1000.0
    raw = lowered.get("retry-after")
    if (value := _seconds(raw)) is not None:
        return value
    if raw is not None and (instant := _http_date(raw)) is not None:
        return max(0.0, instant - now)
    if not reset_headers:
        return None

    exhausted: list[float] = []
    others: list[float] = []
    for key, header_value in lowered.items():
        match = _RESET_HEADER.match(key)
        if match is None:
            continue
        if match["a"] is not None:
            wait = seconds_until(header_value, now)
            remaining = lowered.get(f"anthropic-ratelimit-{match['a']}-remaining")
        else:
            wait = duration_seconds(header_value)
            remaining = lowered.get(f"x-ratelimit-remaining-{match['o']}")
        if wait is None:
            continue
        (exhausted if remaining is not None and remaining.strip() == "0" else others).append(wait)
    if exhausted:
        return max(exhausted)
    return min(others) if others else None


def _seconds(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _http_date(raw: str) -> float | None:
    """An HTTP date as a POSIX time, or None when it is not one we can represent."""
    try:
        parsed = email.utils.parsedate_tz(raw)
        if parsed is None:
            return None
        instant = float(email.utils.mktime_tz(parsed))
    except (ValueError, OverflowError, TypeError, IndexError):
        return None
    return instant if math.isfinite(instant) else None
