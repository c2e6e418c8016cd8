"""The parts of `/cache/status` that do not depend on the kind of entry, and what it says about
a cached aggregated context: the catalogue reader's warnings, so an operator sees that NestJS
sends a catalogue the worker reads badly before any job pays for it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eyeflow_worker.core.catalogue_cache import cached_reading
from eyeflow_worker.tenant_config.cache import FetchError, RawRecord


def minutes(seconds: float) -> float:
    return round(max(seconds, 0.0) / 60.0, 2)


def entry_part(
    raw: RawRecord | None, error: FetchError | None, *, now: float, ttl_seconds: float, label: str
) -> tuple[dict[str, Any], str | None]:
    """The status of one cached entry (ages, freshness, last error), and why it is degraded
    (None when it is not)."""
    age = minutes(now - raw.fetched_at) if raw is not None else None
    fresh = raw is not None and now - raw.fetched_at < ttl_seconds
    part: dict[str, Any] = {
        "cached": raw is not None,
        "fresh": fresh,
        "age_minutes": age,
        "expires_in_minutes": (
            minutes(raw.fetched_at + ttl_seconds - now) if raw is not None else None
        ),
        "last_error": (
            {"code": error.code, "message": error.message, "age_minutes": minutes(now - error.at)}
            if error is not None
            else None
        ),
    }
    if error is not None:
        serving = (
            f"serving the last-known-good {label} fetched {age} min ago"
            if raw is not None
            else f"no {label} available"
        )
        reason = (
            f"{label} fetch failed {minutes(now - error.at)} min ago "
            f"({error.code}: {error.message}); {serving}"
        )
        return part, reason
    if raw is not None and not fresh:
        return part, f"{label} is stale ({age} min old, TTL {round(ttl_seconds / 60.0, 2)} min)"
    return part, None


def context_warnings(context: Any) -> list[str]:
    """The catalogue reader's warnings for a cached context ([] when there is none). /health asks
    on every probe: each distinct context is read once per process (`core.catalogue_cache`)."""
    if not isinstance(context, Mapping):
        return []
    return list(cached_reading(context).warnings)
