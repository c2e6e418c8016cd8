"""The NestJS source: each tenant's LLM configuration and aggregated context, fetched from NestJS
and kept in one Redis cache shared by all workers and the gateway.

Policy, the same for both kinds of entry:

1. fresh in Redis (younger than CONFIG_FETCH_INTERVAL_MINUTES) → use it;
2. else fetch from NestJS — one process at a time per tenant and kind (a Redis lock); the others
   serve the stale value meanwhile, or, with nothing to serve, wait briefly for the fetcher;
3. the fetch failed → serve the last-known-good value (kept far longer than the TTL) and report
   `degraded` in `status()`; after a failure NestJS is not asked again inline for
   `error_backoff_seconds` (the beat task and `refresh()` still ask);
4. nothing at all → `ConfigMissing` (config) or None (context: callers use a built-in catalogue).

Nothing is cached in process memory: a refresh by any process is seen by the next call in every
process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from eyeflow_worker.core.errors import (
    ConfigInvalid,
    ConfigMissing,
    EyeflowError,
    UpstreamUnavailable,
)
from eyeflow_worker.core.fleet_health import record_nestjs_outcome
from eyeflow_worker.core.llm_config import ProviderConfig
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.tenant_config.cache import (
    KINDS,
    FetchError,
    Kind,
    TenantCache,
    decode_config,
    encode_config,
    lock_key,
)
from eyeflow_worker.tenant_config.crypto import SecretBox, secret_box
from eyeflow_worker.tenant_config.nestjs import NestJSClient
from eyeflow_worker.tenant_config.singleflight import RedisLock
from eyeflow_worker.tenant_config.status_report import context_warnings, entry_part

logger = logging.getLogger(__name__)

DEFAULT_RETENTION_SECONDS = 7 * 24 * 3600
# After this many unreachable-NestJS failures in one refresh run, skip the remaining tenants.
_MAX_CONSECUTIVE_UPSTREAM_FAILURES = 3
_ERRORS_BY_CODE: dict[str, type[EyeflowError]] = {
    ConfigMissing.code: ConfigMissing,
    ConfigInvalid.code: ConfigInvalid,
    UpstreamUnavailable.code: UpstreamUnavailable,
}


@dataclass(frozen=True)
class _Entry:
    """A decoded cache record: a ProviderConfig (config) or a dict/None (context)."""

    fetched_at: float
    value: Any


class NestJSSource:
    name = "nestjs"

    def __init__(
        self,
        redis: redis.Redis,
        settings: Settings,
        nestjs: NestJSClient | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        retention_seconds: int = DEFAULT_RETENTION_SECONDS,
        error_backoff_seconds: float = 30.0,
        poll_interval_seconds: float = 0.02,
        refresh_horizon_seconds: float | None = None,
    ) -> None:
        self.redis = redis
        self.settings = settings
        self.ttl_seconds = settings.config_fetch_interval_minutes * 60.0
        # `refresh_due()` refreshes what expires before the next beat run (plus half a run).
        self.refresh_horizon_seconds = (
            1.5 * settings.config_refresh_interval_seconds
            if refresh_horizon_seconds is None
            else refresh_horizon_seconds
        )
        self._clock = clock
        self._sleep = sleep
        self._error_backoff = min(error_backoff_seconds, self.ttl_seconds)
        self._poll = poll_interval_seconds
        # A fetch holds the lock at most as long as the client can take (all attempts + backoff).
        attempts = max(1, settings.nestjs_max_attempts)
        self._lock_ttl = settings.nestjs_timeout_seconds * attempts + 2.0 * attempts + 2.0
        self._cache = TenantCache(redis, max(retention_seconds, int(2 * self.ttl_seconds)))
        self._box: SecretBox = secret_box(settings)  # refuses to start without a key outside dev
        self._nestjs: NestJSClient = nestjs or NestJSClient(settings)

    # --- what jobs use ---------------------------------------------------------------------------

    def llm_config(self, tenant: str) -> ProviderConfig:
        """The tenant's LLM configuration; raises ConfigMissing / ConfigInvalid when none is usable.

        A ConfigMissing caused by NestJS being unreachable is marked `retryable`.
        """
        entry = self._load(_check_tenant(tenant), "config")
        assert isinstance(entry.value, ProviderConfig)
        return entry.value

    def aggregated_context(self, tenant: str) -> dict[str, Any] | None:
        """The tenant's capability context, or None when there is none (use a built-in sample).

        Raises `ConfigInvalid` when NestJS sent one that cannot be read (and there is no
        last-known-good one): drafting from the built-in sample instead would silently produce
        rules for somebody else's capabilities."""
        try:
            entry = self._load(_check_tenant(tenant), "context")
        except ConfigInvalid:
            raise
        except EyeflowError as exc:
            logger.debug("No aggregated context for tenant %r: %s", tenant, exc.message)
            return None
        return entry.value if isinstance(entry.value, dict) else None

    # --- what beat and operators use -------------------------------------------------------------

    def refresh(self, tenant: str | None = None) -> dict[str, Any]:
        """Fetch now (one tenant, or every known tenant); `{tenant: {"config": "ok"|code, ...}}`."""
        tenants = [_check_tenant(tenant)] if tenant is not None else self.known_tenants()
        return self._refresh_many({name: KINDS for name in tenants})

    def refresh_due(self, horizon_seconds: float | None = None) -> dict[str, Any]:
        """Refresh entries of known tenants that expire within `horizon_seconds` (or are stale).

        Meant for the beat task, run every `settings.config_refresh_interval_seconds`; the
        default horizon is 1.5 such intervals, so entries are renewed before they expire and jobs
        almost never wait on NestJS. Only tenants with something due are reported.
        """
        horizon = self.refresh_horizon_seconds if horizon_seconds is None else horizon_seconds
        now = self._clock()
        due: dict[str, tuple[Kind, ...]] = {}
        for tenant in self.known_tenants():
            kinds = tuple(
                kind
                for kind in KINDS
                if (record := self._cache.read(tenant, kind)) is None
                or record.fetched_at + self.ttl_seconds - now <= horizon
            )
            if kinds:
                due[tenant] = kinds
        return self._refresh_many(due)

    def invalidate_context(self, tenant: str | None = None) -> int:
        """Drop cached aggregated context (one tenant, or all); the next use fetches it again."""
        tenants = (
            [_check_tenant(tenant)] if tenant is not None else self._cache.tenants_with("context")
        )
        dropped = 0
        for name in tenants:
            dropped += self._cache.delete(name, "context")
            self._cache.clear_error(name, "context")
        logger.info("Invalidated aggregated context for %s (%d entries)", tenant or "all", dropped)
        return dropped

    def known_tenants(self) -> list[str]:
        return self._cache.tenants()

    def status(self, tenant: str) -> dict[str, Any]:
        """Ages, validity and the masked config; `degraded` with a reason when serving stale data.

        Read-only: never fetches. A tenant never fetched is not degraded, just not cached yet.
        """
        ttl_minutes = round(self.ttl_seconds / 60.0, 2)
        tenant = _check_tenant(tenant)
        now = self._clock()
        reasons: list[str] = []
        parts: dict[str, dict[str, Any]] = {}
        for kind in KINDS:
            raw = self._cache.read(tenant, kind)
            entry = self._decode(kind, raw) if raw is not None else None
            label = "LLM config" if kind == "config" else "aggregated context"
            part, reason = entry_part(
                raw,
                self._cache.read_error(tenant, kind),
                now=now,
                ttl_seconds=self.ttl_seconds,
                label=label,
            )
            if kind == "config":
                cached = entry.value if entry is not None else None
                if not isinstance(cached, ProviderConfig):
                    cached = None
                part["valid"] = cached is not None
                part["provider"] = cached.provider if cached is not None else None
                part["model"] = cached.model if cached is not None else None
                part["public"] = cached.public_view() if cached is not None else None
                if raw is not None and entry is None:
                    reasons.append(
                        "the cached LLM config cannot be decrypted (CACHE_ENCRYPTION_KEY changed?)"
                    )
            else:
                context = entry.value if entry is not None else None
                part["available"] = isinstance(context, dict)
                part["catalogue_warnings"] = context_warnings(context)
            if reason is not None:
                reasons.append(reason)
            parts[kind] = part
        return {
            "tenant": tenant,
            "source": "nestjs",
            "ttl_minutes": ttl_minutes,
            "config": parts["config"],
            "context": parts["context"],
            "degraded": bool(reasons),
            "reason": "; ".join(reasons) if reasons else None,
        }

    # --- internals -------------------------------------------------------------------------------

    def _is_fresh(self, fetched_at: float, now: float) -> bool:
        return now - fetched_at < self.ttl_seconds

    def _decode(self, kind: Kind, raw: Any) -> _Entry | None:
        if kind == "context":
            return _Entry(raw.fetched_at, raw.value if isinstance(raw.value, dict) else None)
        config = decode_config(raw.value, self._box, self.settings.llm_request_timeout_seconds)
        return _Entry(raw.fetched_at, config) if config is not None else None

    def _read(self, tenant: str, kind: Kind) -> _Entry | None:
        raw = self._cache.read(tenant, kind)
        return self._decode(kind, raw) if raw is not None else None

    def _load(self, tenant: str, kind: Kind) -> _Entry:
        """The entry to use now, following the module's policy (fetching at most once)."""
        entry = self._read(tenant, kind)
        if entry is not None and self._is_fresh(entry.fetched_at, self._clock()):
            return entry
        error = self._cache.read_error(tenant, kind)
        if error is not None and self._clock() - error.at < self._error_backoff:
            return self._fallback(tenant, kind, entry, _rebuild(error))
        seen_error = error.id if error is not None else None
        lock = RedisLock(self.redis, lock_key(tenant, kind), self._lock_ttl)
        deadline = time.monotonic() + self._lock_ttl + 1.0
        while True:
            token = lock.try_acquire()
            if token is not None:
                with lock.holding(token):
                    return self._load_holding_lock(tenant, kind, entry, seen_error)
            if entry is not None:
                return entry  # another process is refreshing it: serve the stale value now
            # Nothing to serve: wait (bounded) for the holder's result, or for its lock to lapse.
            while lock.is_held() and time.monotonic() < deadline:
                self._sleep(self._poll)
                latest = self._read(tenant, kind)
                if latest is not None:
                    return latest
                latest_error = self._cache.read_error(tenant, kind)
                if latest_error is not None and latest_error.id != seen_error:
                    return self._fallback(tenant, kind, None, _rebuild(latest_error))
            latest = self._read(tenant, kind)
            if latest is not None:
                return latest
            if time.monotonic() >= deadline:
                waited = UpstreamUnavailable(
                    f"Timed out after {self._lock_ttl + 1.0:g}s waiting for another process to "
                    f"fetch the {kind} of tenant '{tenant}' from NestJS"
                )
                return self._fallback(tenant, kind, None, waited)

    def _load_holding_lock(
        self, tenant: str, kind: Kind, entry: _Entry | None, seen_error: str | None
    ) -> _Entry:
        """`_load` once this process holds the fetch lock: read again first, as another process
        may have fetched (or failed to) since `_load` looked, and fetch only if it did not."""
        latest = self._read(tenant, kind)
        if latest is not None and self._is_fresh(latest.fetched_at, self._clock()):
            return latest
        latest_error = self._cache.read_error(tenant, kind)
        if latest_error is not None and latest_error.id != seen_error:
            # Another process failed a moment ago: don't ask NestJS again.
            return self._fallback(tenant, kind, latest or entry, _rebuild(latest_error))
        try:
            return self._fetch(tenant, kind)
        except EyeflowError as exc:
            return self._fallback(tenant, kind, latest or entry, exc)

    def _fetch(self, tenant: str, kind: Kind) -> _Entry:
        """Fetch from NestJS and store; on failure record the error (and raise it). Every
        outcome is also recorded for the fleet's /health (`core.fleet_health`)."""
        now = self._clock()
        try:
            if kind == "config":
                config = self._nestjs.fetch_llm_config(tenant)
                record_nestjs_outcome(self.redis, kind=kind, tenant=tenant)
                self._cache.write(tenant, kind, encode_config(config, self._box), now)
                return _Entry(now, config)
            context = self._nestjs.fetch_aggregated_context(tenant)
            record_nestjs_outcome(self.redis, kind=kind, tenant=tenant)
            self._cache.write(tenant, kind, context, now)
            return _Entry(now, context)
        except EyeflowError as exc:
            record_nestjs_outcome(self.redis, kind=kind, tenant=tenant, error=exc)
            logger.warning("Fetching the %s of tenant %r failed: %s", kind, tenant, exc.message)
            if isinstance(exc, ConfigMissing):
                # NestJS says there is none: not an outage, so don't serve the old one.
                self._cache.delete(tenant, kind)
            self._cache.write_error(tenant, kind, exc.code, exc.message, now)
            raise

    def _fallback(self, tenant: str, kind: Kind, entry: _Entry | None, exc: EyeflowError) -> _Entry:
        """The last-known-good entry if any (not after a ConfigMissing), else raise."""
        if entry is not None and not isinstance(exc, ConfigMissing):
            logger.debug("Serving the last-known-good %s of tenant %r", kind, tenant)
            return entry
        if isinstance(exc, (ConfigMissing, ConfigInvalid)):
            raise exc
        label = "LLM configuration" if kind == "config" else "aggregated context"
        missing = ConfigMissing(
            f"No {label} available for tenant '{tenant}': none cached yet and {exc.message}",
            details={"tenant": tenant, "cause": exc.code},
            retry_after=self._error_backoff,
        )
        missing.retryable = True
        raise missing from exc

    def _refresh_many(self, plan: dict[str, tuple[Kind, ...]]) -> dict[str, Any]:
        report: dict[str, Any] = {}
        upstream_failures = 0
        for tenant, kinds in plan.items():
            item: dict[str, Any] = {}
            errors: dict[str, str] = {}
            for kind in KINDS:
                if kind not in kinds:
                    item[kind] = "fresh"
                    continue
                if upstream_failures >= _MAX_CONSECUTIVE_UPSTREAM_FAILURES:
                    item[kind] = UpstreamUnavailable.code
                    errors[kind] = "skipped: NestJS was unavailable earlier in this run"
                    continue
                try:
                    entry = self._fetch(tenant, kind)
                except EyeflowError as exc:
                    item[kind] = exc.code
                    errors[kind] = exc.message
                    if isinstance(exc, UpstreamUnavailable) and exc.retryable:
                        upstream_failures += 1
                    continue
                upstream_failures = 0
                if isinstance(entry.value, ProviderConfig):
                    item["provider"] = entry.value.provider
                    item["model"] = entry.value.model
                item[kind] = "ok" if entry.value is not None else "absent"
            if errors:
                item["errors"] = errors
            self._forget_if_empty(tenant)
            report[tenant] = item
        return report

    def _forget_if_empty(self, tenant: str) -> None:
        """Stop refreshing a tenant that has neither a config nor a context in NestJS."""
        if self._cache.read(tenant, "config") is not None:
            return
        context = self._cache.read(tenant, "context")
        if context is None or context.value is None:
            self._cache.forget_tenant(tenant)


def _check_tenant(tenant: str) -> str:
    if not tenant or "{" in tenant or "}" in tenant:
        raise ConfigInvalid(f"Invalid tenant id {tenant!r}")
    return tenant


def _rebuild(error: FetchError) -> EyeflowError:
    """The error a recorded failure stands for (so every process raises the same thing)."""
    return _ERRORS_BY_CODE.get(error.code, UpstreamUnavailable)(error.message)
