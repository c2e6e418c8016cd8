"""The providers' rate-limit headers → a `RateLimitObservation` (plain numbers, see `core.llm`).

Anthropic: `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,
reset}`, the reset an RFC 3339 instant. OpenAI (and servers copying it):
`x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, the reset a duration such as `1s`,
`6m0s`, `20ms` or `1m30.5s`. Both state limits per minute.

Headers come from a server we do not control: anything unreadable is ignored, never an error. A
dimension is kept only when its limit is a positive whole number.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from datetime import datetime

from eyeflow_worker.core.llm import RateLimitObservation, RateLimitWindow

# Larger than any real tier; a bigger number is a broken header, not a limit.
_MAX_COUNT = 10**10
# A reset further away than this is a broken header (the limits are per minute).
_MAX_RESET_SECONDS = 3600.0
_DIMENSIONS = ("requests", "tokens", "input_tokens", "output_tokens")
_SPLIT = {"input_tokens", "output_tokens"}
_COUNT = re.compile(r"\d{1,11}")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_rate_limits(
    headers: Mapping[str, str], *, now: float | None = None
) -> RateLimitObservation | None:
    """What `headers` say about the account's limits, or None when they say nothing usable."""
    lowered = {key.lower(): value for key, value in headers.items()}
    now = time.time() if now is None else now
    windows: dict[str, RateLimitWindow] = {}
    for dimension in _DIMENSIONS:
        window = _anthropic(lowered, dimension, now) or _openai(lowered, dimension)
        if window is not None:
            windows[dimension] = window
    if "anthropic-ratelimit-tokens-limit" in lowered and windows.keys() & _SPLIT:
        # Anthropic's `tokens` is the most restrictive of its input and output limits, not a
        # combined budget: with those two stated it adds nothing (and would double-count).
        windows.pop("tokens", None)
    if not windows:
        return None
    return RateLimitObservation(**windows)


def _anthropic(headers: Mapping[str, str], dimension: str, now: float) -> RateLimitWindow | None:
    prefix = f"anthropic-ratelimit-{dimension.replace('_', '-')}"
    reset = headers.get(f"{prefix}-reset")
    return _window(
        headers.get(f"{prefix}-limit"),
        headers.get(f"{prefix}-remaining"),
        seconds_until(reset, now) if reset is not None else None,
    )


def _openai(headers: Mapping[str, str], dimension: str) -> RateLimitWindow | None:
    if dimension not in ("requests", "tokens"):
        return None
    reset = headers.get(f"x-ratelimit-reset-{dimension}")
    return _window(
        headers.get(f"x-ratelimit-limit-{dimension}"),
        headers.get(f"x-ratelimit-remaining-{dimension}"),
        duration_seconds(reset) if reset is not None else None,
    )


def _window(
    limit: str | None, remaining: str | None, reset: float | None
) -> RateLimitWindow | None:
    parsed_limit = _count(limit)
    if parsed_limit is None or parsed_limit == 0:
        return None
    left = _count(remaining)
    if reset is not None and reset > _MAX_RESET_SECONDS:
        reset = None
    return RateLimitWindow(
        limit=parsed_limit,
        remaining=min(left, parsed_limit) if left is not None else None,
        reset_seconds=reset,
    )


def _count(raw: str | None) -> int | None:
    if raw is None or not _COUNT.fullmatch(raw.strip()):
        return None
    value = int(raw.strip())
    return value if value <= _MAX_COUNT else None


def seconds_until(raw: str, now: float) -> float | None:
    """Seconds from `now` to an RFC 3339 instant (0 when past), or None when it is not one."""
    try:
        instant = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if instant.tzinfo is None:
        return None
    try:
        return max(0.0, instant.timestamp() - now)
    except (OverflowError, OSError, ValueError):
        return None


def duration_seconds(raw: str) -> float | None:
    """A duration (`1m30.5s`, `250ms`, or plain seconds) in seconds, or None when it is not one."""
    text = raw.strip()
    try:
        plain = float(text)
    except ValueError:
        plain = None
    if plain is not None:
        return plain if math.isfinite(plain) and plain >= 0 else None
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return None
    return sum(float(number) * _DURATION_UNITS[unit] for number, unit in parts)
