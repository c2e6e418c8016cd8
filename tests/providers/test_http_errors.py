"""Status → error mapping and the `retry-after` family of headers."""

from __future__ import annotations

import email.utils

import pytest

from eyeflow_worker.core.errors import (
    ProviderAuthError,
    ProviderRateLimited,
    ProviderRequestError,
    ProviderTimeout,
    ProviderUnavailable,
)
from eyeflow_worker.providers.http_errors import error_from_status, redact, retry_after_seconds

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, ProviderRequestError),
        (401, ProviderAuthError),
        (403, ProviderAuthError),
        (404, ProviderRequestError),
        (408, ProviderTimeout),
        (422, ProviderRequestError),
        (429, ProviderRateLimited),
        (500, ProviderUnavailable),
        (503, ProviderUnavailable),
        (529, ProviderUnavailable),
    ],
)
def test_status_mapping(status: int, kind: type[Exception]) -> None:
    error = error_from_status("anthropic", status, "msg", {})
    assert type(error) is kind


def test_overloaded_429_is_unavailable_not_rate_limited() -> None:
    error = error_from_status("anthropic", 429, "Overloaded", {}, overloaded=True)
    assert type(error) is ProviderUnavailable


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after": "7"}, 7.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": email.utils.formatdate(NOW + 12, usegmt=True)}, 12.0),
        ({"retry-after": email.utils.formatdate(NOW - 12, usegmt=True)}, 0.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "-3"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "Fri, 31 Dec 99999 23:59:59 GMT"}, None),
        ({"x-ratelimit-reset-requests": "6m0s"}, 360.0),
        ({"x-ratelimit-reset-tokens": "250ms"}, 0.25),
        ({"x-ratelimit-reset-tokens": "2"}, 2.0),
        ({"x-ratelimit-reset-tokens": "later"}, None),
        (
            {
                "x-ratelimit-reset-requests": "1s",
                "x-ratelimit-reset-tokens": "30s",
            },
            1.0,  # no window marked exhausted: the first to reopen
        ),
        (
            {
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": "1s",
                "x-ratelimit-remaining-tokens": "0",
                "x-ratelimit-reset-tokens": "30s",
            },
            30.0,  # both exhausted: until both reopen
        ),
        (
            {
                "x-ratelimit-remaining-requests": "12",
                "x-ratelimit-reset-requests": "1s",
                "x-ratelimit-remaining-tokens": "3000",
                "x-ratelimit-reset-tokens": "30s",
            },
            1.0,
        ),
        (
            {
                "anthropic-ratelimit-requests-reset": "2027-01-15T08:00:05Z",
                "anthropic-ratelimit-requests-remaining": "0",
                "anthropic-ratelimit-tokens-reset": "2027-01-15T08:01:00Z",
                "anthropic-ratelimit-tokens-remaining": "1000",
            },
            5.0,
        ),
    ],
)
def test_retry_after_seconds(headers: dict[str, str], expected: float | None) -> None:
    now = NOW
    if any(key.startswith("anthropic-") for key in headers):
        from datetime import datetime

        now = datetime.fromisoformat("2027-01-15T08:00:00+00:00").timestamp()
    result = retry_after_seconds(headers, now=now, reset_headers=True)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected, abs=1.0 if "retry-after" in headers else 1e-6)


RESET_HEADERS = {
    "anthropic-ratelimit-tokens-reset": "2027-01-15T08:00:45Z",
    "anthropic-ratelimit-tokens-remaining": "0",
    "x-ratelimit-reset-tokens": "45s",
    "x-ratelimit-remaining-tokens": "0",
}


def test_reset_headers_are_not_a_wait_unless_asked_for() -> None:
    assert retry_after_seconds(RESET_HEADERS, now=NOW) is None


@pytest.mark.parametrize(("status", "overloaded"), [(500, False), (503, False), (529, True)])
def test_an_outage_does_not_wait_for_rate_limit_windows(status: int, overloaded: bool) -> None:
    error = error_from_status(
        "anthropic", status, "Overloaded", RESET_HEADERS, overloaded=overloaded
    )
    assert type(error) is ProviderUnavailable
    assert error.retry_after is None


def test_a_429_waits_for_its_exhausted_window() -> None:
    headers = {"x-ratelimit-reset-tokens": "45s", "x-ratelimit-remaining-tokens": "0"}
    error = error_from_status("openai", 429, "slow down", headers)
    assert type(error) is ProviderRateLimited
    assert error.retry_after == 45.0


def test_redact_masks_the_secret_and_bounds_length() -> None:
    assert redact("key sk-123 refused", "sk-123") == "key *** refused"
    assert redact("no secret here", None) == "no secret here"
    assert len(redact("x" * 5000, None)) == 500
