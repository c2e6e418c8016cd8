"""NestJS reachability as the fleet last observed it: every fetch from NestJS (beat's refresh, an
on-demand `/config/refresh`, a worker's cache miss — all of them go through
`NestJSSource._fetch`) records its outcome here, and `/health` reads it back in the same Redis
round trip as the rest of what it reports.

Key (one per fleet, a hash; `<kind>` is `config` — GET /api/llm-config/default — or `context`
— NESTJS_CONTEXT_PATH; stamps are Redis `TIME` in microseconds, so hosts whose clocks disagree
still order their observations one way, and ages are measured against the same clock):

    eyeflow:health:nestjs   seq                     observations so far (orders them)
                            <kind>:ok_seq, :ok_at   the last fetch of that kind that reached NestJS
                            <kind>:fail_seq, :fail_at, :fail_code, :fail_reason, :fail_tenant
                                                    the last one that did not
                            <kind>:down_since       its first failure after its last success
                            <kind>:streak           its failures since its last success

The rule (also in docs/contract.md): NestJS reachability is a fact about the fleet's one NestJS,
not about a tenant, so **per kind of fetch, the last observation wins**. A fetch that did not
reach NestJS — unreachable, timed out, 5xx, or refused (401/403 and other 4xx):
`UpstreamUnavailable` — makes the fleet `degraded`; the next fetch *of the same kind* that
reaches NestJS, **for any tenant**, clears that (a working context route says nothing about a
broken config route). An answer about one tenant's data (404 "no default configuration", an
invalid body) is NestJS answering: it counts as reached; that tenant's trouble is in its own
`/cache/status` and its jobs' errors.

`fail_reason` is built from a short cause label (an exception class, `timeout`, `HTTP 503`),
never from the error's message (which names the tenant and the URL). `fail_tenant` is the
tenant id, for operators reading Redis; `/health` (open, unauthenticated) shows only a digest
keyed with a fleet secret, so nobody can confirm a guessed tenant name from it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis

from eyeflow_worker.core.errors import EyeflowError, UpstreamUnavailable
from eyeflow_worker.core.settings import Settings

logger = logging.getLogger(__name__)

NESTJS_KEY = "eyeflow:health:nestjs"
# Kept as long as the config cache keeps last-known-good values: an observation older than that
# says nothing anyone can act on.
_RETENTION_SECONDS = 7 * 24 * 3600
_MAX_TENANT_CHARS = 200
_MAX_CAUSE_CHARS = 80
_UNSAFE = re.compile(r"[^A-Za-z0-9 _.:()/-]")
_USERINFO = re.compile(r"(?<=://)[^/\s@]+@")
_QUERY = re.compile(r"(://[^\s?#]*)[?#][^\s;)]*")

KINDS = ("config", "context")

# ARGV: outcome ('ok' | 'fail'), kind, code, reason, tenant, retention seconds.
_RECORD = """
local t = redis.call('TIME')
local now = string.format('%.0f', tonumber(t[1]) * 1000000 + tonumber(t[2]))
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local k = ARGV[2] .. ':'
if ARGV[1] == 'ok' then
  redis.call('HSET', KEYS[1], k .. 'ok_seq', seq, k .. 'ok_at', now, k .. 'streak', 0)
  redis.call('HDEL', KEYS[1], k .. 'down_since')
else
  if redis.call('HEXISTS', KEYS[1], k .. 'down_since') == 0 then
    redis.call('HSET', KEYS[1], k .. 'down_since', now)
  end
  redis.call('HINCRBY', KEYS[1], k .. 'streak', 1)
  redis.call('HSET', KEYS[1], k .. 'fail_seq', seq, k .. 'fail_at', now, k .. 'fail_code', ARGV[3],
             k .. 'fail_reason', ARGV[4], k .. 'fail_tenant', ARGV[5])
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6]))
return seq
"""


def record_nestjs_outcome(
    client: redis.Redis, *, kind: str, tenant: str, error: EyeflowError | None = None
) -> None:
    """Record one fetch from NestJS (`error` None: it succeeded). Never raises: /health's record
    must not turn a fetch's own outcome into a Redis error."""
    if isinstance(error, UpstreamUnavailable):
        argv = ("fail", kind, error.code, failure_reason(kind, error), tenant[:_MAX_TENANT_CHARS])
    else:
        argv = ("ok", kind, "", "", "")
    try:
        client.eval(_RECORD, 1, NESTJS_KEY, *argv, str(_RETENTION_SECONDS))
    except redis.exceptions.RedisError as exc:
        logger.warning("NestJS fetch outcome not recorded for /health: %s", type(exc).__name__)


def failure_reason(kind: str, error: EyeflowError) -> str:
    """`LLM config fetch failed: ConnectError` — what /health may say: no URL, no tenant."""
    details = error.details if isinstance(error.details, Mapping) else {}
    cause = _UNSAFE.sub("", str(details.get("cause") or error.code))[:_MAX_CAUSE_CHARS]
    label = "LLM config" if kind == "config" else "aggregated context"
    if details.get("status") in (401, 403):
        return f"{label} fetch refused: {cause} (check NESTJS_SERVICE_TOKEN)"
    return f"{label} fetch failed: {cause}"


def scrub(text: str, limit: int = 300) -> str:
    """Text fit for an open endpoint: credentials in URLs (`user:pass@`) and query strings
    masked, the length bounded."""
    text = _QUERY.sub(r"\1?***", _USERINFO.sub("***@", text))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def digest_key(settings: Settings) -> bytes:
    """The key of `tenant_digest`: derived from CACHE_ENCRYPTION_KEY (one-way, so it reveals
    nothing of it), the same in every process; in dev without one, from the Redis URL."""
    if settings.cache_encryption_key is not None:
        secret = settings.cache_encryption_key.get_secret_value()
    else:
        secret = "dev:" + settings.redis_url
    return hashlib.sha256(b"eyeflow-health-tenant-digest:v1:" + secret.encode()).digest()


def tenant_digest(tenant: str, key: bytes) -> str:
    return hmac.new(key, tenant.encode(), hashlib.sha256).hexdigest()[:12]


def _age(now_us: int, stamp: str | None) -> float | None:
    if not stamp:
        return None
    return round(max(now_us - int(stamp), 0) / 1e6, 3)


@dataclass(frozen=True)
class RouteReachability:
    """What the record says about one kind of fetch, read at `now` (Redis TIME, µs)."""

    kind: str
    reachable: bool | None  # None: no fetch of this kind observed yet
    last_success_age: float | None
    last_failure_age: float | None
    failing_for: float | None
    consecutive_failures: int
    failure: Mapping[str, str]  # code, reason, tenant of the last failure

    @classmethod
    def read(cls, raw: Mapping[str, str], kind: str, now_us: int) -> RouteReachability:
        def field(name: str) -> str:
            return raw.get(f"{kind}:{name}") or ""

        ok_seq, fail_seq = int(field("ok_seq") or 0), int(field("fail_seq") or 0)
        return cls(
            kind=kind,
            reachable=None if ok_seq == fail_seq == 0 else ok_seq > fail_seq,
            last_success_age=_age(now_us, field("ok_at")),
            last_failure_age=_age(now_us, field("fail_at")),
            failing_for=_age(now_us, field("down_since")) if ok_seq < fail_seq else None,
            consecutive_failures=int(field("streak") or 0),
            failure={name: field(f"fail_{name}") for name in ("code", "reason", "tenant")},
        )

    def to_json(self, key: bytes) -> dict[str, Any]:
        last_failure = None
        if self.last_failure_age is not None:
            last_failure = {
                "code": self.failure["code"],
                "reason": self.failure["reason"],
                "tenant_digest": tenant_digest(self.failure["tenant"], key),
                "age_seconds": self.last_failure_age,
            }
        return {
            "reachable": self.reachable,
            "last_success_age_seconds": self.last_success_age,
            "last_failure": last_failure,
            "failing_for_seconds": self.failing_for,
            "consecutive_failures": self.consecutive_failures,
        }

    def reason(self) -> str | None:
        """Why the fleet is degraded because of this kind of fetch; None when it is not."""
        if self.reachable is not False:
            return None
        when = f"{self.last_failure_age or 0.0:.1f} s ago"
        if self.consecutive_failures > 1:
            when = f"the last of {self.consecutive_failures} in a row {when}"
            if self.failing_for is not None:
                when += f", failing for {self.failing_for:.1f} s"
        return f"NestJS unreachable: {self.failure['reason']}; {when}"


def nestjs_report(
    raw: Mapping[str, str], now_us: int, key: bytes
) -> tuple[dict[str, Any], list[str]]:
    """/health's `nestjs` part from the record `raw` (HGETALL), and its degraded reasons.
    `reachable` is false when any kind's last fetch failed, null when none was observed yet."""
    routes = [RouteReachability.read(raw, kind, now_us) for kind in KINDS]
    seen = [route.reachable for route in routes if route.reachable is not None]
    report: dict[str, Any] = {"configured": True, "reachable": all(seen) if seen else None}
    report |= {route.kind: route.to_json(key) for route in routes}
    return report, [reason for route in routes if (reason := route.reason()) is not None]
