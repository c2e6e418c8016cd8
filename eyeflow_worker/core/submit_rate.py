"""Per-tenant submission rate limit, shared by every gateway: a token bucket in Redis.

One Lua script per submission (one round trip — the same one that writes the job record, see
`transitions.ACCEPT`): refill the tenant's bucket for the time since
its last take, take a token or say how long until one is there. Time is Redis's own (`TIME`),
so gateways whose clocks disagree still share one bucket fairly. A bucket left alone long
enough to be full again expires, so idle tenants cost nothing.

Key: eyeflow:submit-rate:{tenant}  hash: tokens (float), at (epoch seconds of the last take)
"""

from __future__ import annotations

import redis

_PREFIX = "eyeflow:submit-rate:"

# `take(key, rate, burst)`: 0 when a token was taken, else the milliseconds until one is there
# (an integer: Redis truncates Lua numbers). A function, so the job record's creation
# (`transitions.ACCEPT`) takes the token in the same script that writes the record.
TAKE_FUNCTION = """
local function take(key, rate, burst)
  local now_parts = redis.call('TIME')
  local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
  local held = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(held[1]) or burst
  local at = tonumber(held[2]) or now
  if now > at then tokens = math.min(burst, tokens + (now - at) * rate) end
  if tokens < 1 then
    return math.max(1, math.ceil((1 - tokens) / rate * 1000))
  end
  redis.call('HSET', key, 'tokens', tostring(tokens - 1), 'at', tostring(math.max(now, at)))
  redis.call('PEXPIRE', key, math.ceil(burst / rate * 1000) + 1000)
  return 0
end
"""

# KEYS[1] bucket. ARGV: tokens per second, burst.
_TAKE = TAKE_FUNCTION + "return take(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))"
# KEYS[1] bucket. ARGV: burst. A token back (at most a full bucket), if the bucket still exists.
_GIVE_BACK = """
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens'))
if tokens == nil then return 0 end
redis.call('HSET', KEYS[1], 'tokens', tostring(math.min(tonumber(ARGV[1]), tokens + 1)))
return 1
"""


def bucket_key(tenant: str) -> str:
    return f"{_PREFIX}{tenant}"


class SubmitRate:
    """`per_minute` sustained, up to `burst` at once; `per_minute` 0 means no limit."""

    def __init__(self, client: redis.Redis, per_minute: float, burst: int) -> None:
        self._per_second = per_minute / 60.0
        self._burst = burst
        self._take = client.register_script(_TAKE)
        self._give_back = client.register_script(_GIVE_BACK)

    @property
    def enabled(self) -> bool:
        return self._per_second > 0

    @property
    def per_second(self) -> float:
        return self._per_second

    @property
    def burst(self) -> int:
        return self._burst

    def take(self, tenant: str) -> float | None:
        """Take one submission from the tenant's bucket: None when allowed, else the seconds to
        wait before one is."""
        if not self.enabled:
            return None
        wait_ms = int(self._take(keys=[bucket_key(tenant)], args=[self._per_second, self._burst]))
        return None if wait_ms == 0 else wait_ms / 1000.0

    def give_back(self, tenant: str) -> None:
        """Return the token of a submission that was refused after it was taken (the broker
        was down: nothing was kept, so nothing is charged)."""
        if self.enabled:
            self._give_back(keys=[bucket_key(tenant)], args=[self._burst])
