"""A fleet-wide request budget and cooldown per provider account, shared through Redis.

Every worker thread and process that calls the same account (provider, API key, URL) draws from
one budget, so a batch running on many workers does not trip the provider's 429s together.

- Budget: GCRA (the token bucket as one timestamp). `Rate(n, per_seconds)` admits a burst of
  `n` and then one request every `per_seconds / n` — the refilling bucket providers describe.
  A caller *reserves* its slot in one Lua script (atomic across processes) and then sleeps the
  exact wait the script computed; callers are served in arrival order, without polling.
- Cooldown: when the provider answers 429/529 with a retry-after, `cool_down(seconds)` records
  "nobody sends before T" for the account, so the whole fleet honours the server's wait, and
  empties the bucket at T (the fleet comes back at the sustained rate, not as one burst).
- A wait longer than `max_wait_seconds` is not taken: `acquire` raises `ProviderRateLimited`
  (retryable, `retry_after` = the wait) without reserving anything.
- Time is Redis's own clock (`TIME` inside the scripts), so hosts with skewed clocks agree;
  tests inject a clock. Keys hold SHA-256 digests, never an API key or a URL.
- Redis trouble never stops a call: the limiter logs and lets it through (fail open); the
  provider's own 429s and the retry loop remain the backstop.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
from pydantic import SecretStr

from eyeflow_worker.core.errors import ProviderRateLimited

log = logging.getLogger(__name__)

KEY_PREFIX = "eyeflow:ratelimit"
# A server asking for more than this is clamped: one odd header must not freeze the fleet for a day.
MAX_COOLDOWN_SECONDS = 3600.0
_US = 1_000_000

# Shared by both scripts: `now` in µs from the caller's clock, or from Redis when ARGV is "".
# Numbers are written with %.0f: Lua's default number format keeps only 14 digits.
_PRELUDE = """
local function clock(arg)
  if arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function put(key, value, now)
  local ttl_ms = math.ceil((value - now) / 1000) + 1000
  redis.call('SET', key, string.format('%.0f', value), 'PX', ttl_ms)
end
local function get(key)
  return tonumber(redis.call('GET', key) or '0')
end
"""

# KEYS: tat, cooldown. ARGV: interval_us (0 = no budget), period_us, max_wait_us, now_us | "",
# ignore_until_us (a cooldown ending at or before it was already waited for).
# Returns {admitted (1|0), wait_us, cooling (1 when the cooldown set the wait), send_at_us}.
_ACQUIRE = (
    _PRELUDE
    + """
local now = clock(ARGV[4])
local interval, period, max_wait = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local cooldown = get(KEYS[2])
if cooldown <= tonumber(ARGV[5]) then cooldown = 0 end
local start = math.max(now, cooldown)
local send_at, new_tat = start, nil
if interval > 0 then
  new_tat = math.max(get(KEYS[1]), start) + interval
  send_at = math.max(start, new_tat - period)
end
local wait = send_at - now
local cooling = (start > now and send_at == start) and 1 or 0
if wait > max_wait then return {0, wait, cooling, send_at} end
if new_tat then put(KEYS[1], new_tat, now) end
return {1, wait, cooling, send_at}
"""
)

# KEYS: cooldown, tat. ARGV: delay_us, interval_us, period_us, now_us | "". Returns until_us.
_COOL_DOWN = (
    _PRELUDE
    + """
local now = clock(ARGV[4])
local interval, period = tonumber(ARGV[2]), tonumber(ARGV[3])
local until_ = now + tonumber(ARGV[1])
if until_ > get(KEYS[1]) then put(KEYS[1], until_, now) end
if interval > 0 then
  local empty_at_until = until_ + period - interval
  if empty_at_until > get(KEYS[2]) then put(KEYS[2], empty_at_until, now) end
end
return until_
"""
)


@dataclass(frozen=True)
class Rate:
    """`requests` per `per_seconds`, with a burst of up to `requests`."""

    requests: int
    per_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.requests <= 0 or self.per_seconds <= 0:
            raise ValueError("a rate needs a positive number of requests and a positive period")

    @property
    def interval_seconds(self) -> float:
        return self.per_seconds / self.requests


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class LimitKey:
    """The account a budget belongs to. Only digests of the key and URL reach Redis."""

    provider: str
    key_digest: str
    url_digest: str

    @classmethod
    def of(cls, provider: str, api_key: SecretStr | None, api_url: str) -> LimitKey:
        key_digest = _digest(api_key.get_secret_value()) if api_key is not None else "nokey"
        return cls(provider.lower(), key_digest, _digest(api_url.rstrip("/"))[:16])

    def redis_key(self, part: str) -> str:
        # The {hash tag} keeps both keys of an account in one cluster slot, as a script needs.
        return f"{KEY_PREFIX}:{{{self.provider}:{self.key_digest}:{self.url_digest}}}:{part}"


class RateLimiter:
    """One account's fleet-wide budget (optional) and cooldown, kept in Redis."""

    def __init__(
        self,
        client: redis.Redis,
        key: LimitKey,
        rate: Rate | None,
        *,
        max_wait_seconds: float,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.key = key
        self.rate = rate
        self.max_wait_seconds = max_wait_seconds
        self.clock = clock  # None: Redis's clock, the one every worker shares
        self.sleep = sleep
        self._keys = [key.redis_key("tat"), key.redis_key("cooldown")]
        self._acquire = client.register_script(_ACQUIRE)
        self._cool_down = client.register_script(_COOL_DOWN)

    def acquire(self, max_wait: float | None = None) -> float:
        """Take a slot, sleeping until it is due; returns the seconds slept.

        Raises `ProviderRateLimited` (nothing reserved) when the wait would exceed `max_wait`
        (default `max_wait_seconds`). A cooldown recorded while we slept, ending after our slot,
        is honoured too.
        """
        bound = self.max_wait_seconds if max_wait is None else max_wait
        interval, period = self._rate_us()
        waited, slot_us = 0.0, 0
        while True:
            try:
                admitted, wait_us, cooling, slot_us = self._acquire(
                    keys=self._keys,
                    args=[
                        interval,
                        period,
                        _to_us(max(0.0, bound - waited)),
                        self._now_us(),
                        slot_us,
                    ],
                )
            except redis.RedisError as error:
                log.warning(
                    "rate limiter unavailable for %s (%s); not limiting", self.key.provider, error
                )
                return waited
            wait = max(0.0, int(wait_us) / _US)
            if not admitted:
                raise ProviderRateLimited(
                    f"local rate limit: {self._reason(bool(cooling))} would wait {wait:.1f}s, "
                    f"over the {bound:g}s bound",
                    details={"provider": self.key.provider, "local": True},
                    retry_after=wait,
                )
            if wait <= 0:
                return waited
            log.info("%s: waiting %.2fs (%s)", self.key.provider, wait, self._reason(bool(cooling)))
            self.sleep(wait)
            waited += wait
            # The slot is ours now; only a cooldown set while we slept can hold us back.
            interval = period = 0

    def cool_down(self, seconds: float) -> None:
        """Nobody sends to this account for `seconds` (clamped to `MAX_COOLDOWN_SECONDS`)."""
        delay = min(max(0.0, seconds), MAX_COOLDOWN_SECONDS)
        interval, period = self._rate_us()
        try:
            self._cool_down(
                keys=self._keys[::-1], args=[_to_us(delay), interval, period, self._now_us()]
            )
        except redis.RedisError as error:
            log.warning("could not record %s cooldown (%s)", self.key.provider, error)

    def _rate_us(self) -> tuple[int, int]:
        if self.rate is None:
            return 0, 0
        return max(1, _to_us(self.rate.interval_seconds)), _to_us(self.rate.per_seconds)

    def _now_us(self) -> str:
        return "" if self.clock is None else str(_to_us(self.clock()))

    def _reason(self, cooling: bool) -> str:
        if cooling:
            return f"{self.key.provider} asked the fleet to back off;"
        assert self.rate is not None  # a wait without a cooldown comes from the budget
        return f"{self.key.provider} budget of {self.rate.requests} per {self.rate.per_seconds:g}s;"


def _to_us(seconds: float) -> int:
    return math.ceil(seconds * _US)
