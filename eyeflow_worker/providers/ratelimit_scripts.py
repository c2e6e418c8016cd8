"""The limiter's Lua scripts (`ratelimit.py` runs them): every read-modify-write of an account's
budget is one script, so workers in many processes never race.

An account's keys (one cluster slot, see `LimitKey.redis_key`), in the order every script gets:

    1 tat        requests GCRA: the theoretical arrival time (µs)
    2 cooldown   nobody sends before this instant (µs)
    3 learn      hash, expiring `LEARN_TTL` after the last answer: `lim:<dim>` limits learned
                 from headers, `arpm`/`aup`/`adown` the adaptive rate, `seen` (first contact done)
    4 probe      first contact: the instant until which the others wait for the probe's answer
    5 sends      hash: requests admitted per `SEND_WINDOW` (the measured send rate)
    6-8 tok:*    tokens GCRA per dimension: tokens, input_tokens, output_tokens

Every script starts with ARGV 1 now_us | "" (Redis's clock), 2 learning (1|0), 3-4 the
configured cap as interval_us, period_us (0 = none).
"""

from __future__ import annotations

from typing import Final

TOKEN_DIMENSIONS: Final = ("tokens", "input_tokens", "output_tokens")
KEY_PARTS: Final = (
    "tat",
    "cooldown",
    "learn",
    "probe",
    "sends",
    *(f"tok:{dimension}" for dimension in TOKEN_DIMENSIONS),
)

# Learned request limits are paced at this share: the server's clock, jitter and other clients
# of the key make a pace of exactly its limit meet 429s; 5 % costs little wall time.
HEADROOM: Final = 0.95
# Requests left in the server's bucket when syncing ours to it (absorbs arrival jitter).
REQUEST_MARGIN: Final = 1
LEARN_TTL_SECONDS: Final = 300.0  # a tier upgrade (or a change of provider) is picked up
PROBE_WAIT_SECONDS: Final = 5.0  # the longest the others wait for the first contact's answer
PROBE_POLL_SECONDS: Final = 0.05
ADAPTIVE_PERIOD_SECONDS: Final = 10.0  # the adaptive burst: 1/6 of a minute's rate
ADAPTIVE_UP: Final = 1.05
ADAPTIVE_UP_GAP_SECONDS: Final = 10.0
# 429s of requests already in flight answer together: halve once per this gap, not per answer.
ADAPTIVE_DOWN_GAP_SECONDS: Final = 2.0
SEND_WINDOW_SECONDS: Final = 10.0


def _us(seconds: float) -> int:
    return round(seconds * 1_000_000)


_CONSTANTS = f"""
local MINUTE = 60000000
local HEADROOM = {HEADROOM}
local REQUEST_MARGIN = {REQUEST_MARGIN}
local LEARN_TTL_MS = {_us(LEARN_TTL_SECONDS) // 1000}
local PROBE_WAIT = {_us(PROBE_WAIT_SECONDS)}
local PROBE_POLL = {_us(PROBE_POLL_SECONDS)}
local PROBE_TTL_MS = 60000
local ADAPTIVE_PERIOD = {_us(ADAPTIVE_PERIOD_SECONDS)}
local ADAPTIVE_UP = {ADAPTIVE_UP}
local ADAPTIVE_UP_GAP = {_us(ADAPTIVE_UP_GAP_SECONDS)}
local ADAPTIVE_DOWN_GAP = {_us(ADAPTIVE_DOWN_GAP_SECONDS)}
local SEND_WINDOW = {_us(SEND_WINDOW_SECONDS)}
local DIMS = {{'tokens', 'input_tokens', 'output_tokens'}}
"""

# Numbers are written with %.0f: Lua's default number format keeps only 14 digits.
_PRELUDE = (
    _CONSTANTS
    + """
local function clock(arg)
  if arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local now = clock(ARGV[1])
local learning = ARGV[2] == '1'
local cap_i, cap_p = tonumber(ARGV[3]), tonumber(ARGV[4])
local function put(key, value)
  if value <= now then redis.call('DEL', key) return end
  local ttl_ms = math.ceil((value - now) / 1000) + 1000
  redis.call('SET', key, string.format('%.0f', value), 'PX', ttl_ms)
end
local function get(key)
  return tonumber(redis.call('GET', key) or '0')
end
local function field(name)
  return tonumber(redis.call('HGET', KEYS[3], name) or '0')
end
-- The request budget {interval_us, period_us, source}: the slowest of the configured cap, the
-- learned limit (at HEADROOM) and the adaptive rate. A period never shorter than the interval.
local function budget()
  local interval, period, source = cap_i, cap_p, 'cap'
  if learning then
    local lim, arpm = field('lim:requests'), field('arpm')
    local i, p, s = 0, 0, ''
    if lim > 0 then
      i, p, s = math.ceil(MINUTE / (lim * HEADROOM)), MINUTE, 'learned'
    elseif arpm > 0 then
      i, p, s = math.ceil(MINUTE / arpm), ADAPTIVE_PERIOD, 'adaptive'
    end
    if i > interval then interval, period, source = i, math.max(p, i), s end
  end
  return interval, period, source
end
-- Requests per minute admitted lately: this window and the share of the last still in range,
-- over the time covered (at least 1 s, so a first burst is not read as a trickle).
local function send_rate()
  local sends = redis.call('HMGET', KEYS[5], 'w', 'c', 'p', 'since')
  local window = math.floor(now / SEND_WINDOW)
  local seen_window = tonumber(sends[1] or '-1')
  if seen_window < window - 1 then return 0 end
  local current, previous = tonumber(sends[2] or '0'), tonumber(sends[3] or '0')
  local left = 1 - (now % SEND_WINDOW) / SEND_WINDOW
  local count = current * left  -- `current` belongs to the last window
  if seen_window == window then count = current + previous * left end
  local span = math.min(SEND_WINDOW, now - tonumber(sends[4] or now))
  return count * MINUTE / math.max(1000000, span)
end
local function count_send()
  local window = math.floor(now / SEND_WINDOW)
  local seen_window = tonumber(redis.call('HGET', KEYS[5], 'w') or '-1')
  if seen_window == window then
    redis.call('HINCRBY', KEYS[5], 'c', 1)
  else
    local previous = 0
    if seen_window == window - 1 then previous = tonumber(redis.call('HGET', KEYS[5], 'c')) end
    redis.call('HSET', KEYS[5], 'w', window, 'c', 1, 'p', previous)
  end
  redis.call('HSETNX', KEYS[5], 'since', string.format('%.0f', now))
  redis.call('PEXPIRE', KEYS[5], math.ceil(3 * SEND_WINDOW / 1000))
end
local function cap_rpm()
  if cap_i > 0 then return MINUTE / cap_i end
  return math.huge
end
"""
)

# ARGV 5 max_wait_us, 6 ignore_until_us (a cooldown ending at or before it was waited for),
# 7 mode (1: reserve; 2: reserve without waiting for a probe; 0: the slot is already ours, only
# a new cooldown can hold us), 8-10 token costs.
# Returns {status (1 admitted, 0 over max_wait, 2 wait for the probe), wait_us, reason, send_at,
# reserved tokens, input_tokens, output_tokens, interval_us, period_us}.
ACQUIRE: Final = (
    _PRELUDE
    + """
local max_wait = tonumber(ARGV[5])
local cooldown = get(KEYS[2])
if cooldown <= tonumber(ARGV[6]) then cooldown = 0 end
local start = math.max(now, cooldown)
local send_at, reason = start, ''
if start > now then reason = 'cooldown' end
if ARGV[7] == '0' then
  return {(start - now > max_wait) and 0 or 1, start - now, reason, start, 0, 0, 0, 0, 0}
end
if learning and ARGV[7] ~= '2' and redis.call('EXISTS', KEYS[3]) == 0 then
  local probe = redis.call('GET', KEYS[4])
  if not probe then
    redis.call('SET', KEYS[4], string.format('%.0f', now + PROBE_WAIT), 'PX', PROBE_TTL_MS)
  elseif tonumber(probe) > now then
    return {2, math.min(PROBE_POLL, tonumber(probe) - now), 'probe', now, 0, 0, 0, 0, 0}
  end
end
local interval, period, source = budget()
if interval > 0 then
  local at = math.max(start, get(KEYS[1]) + interval - period)
  if at > send_at then send_at, reason = at, source end
end
local costs, rates = {0, 0, 0}, {0, 0, 0}
for d = 1, 3 do
  local lim, cost = 0, tonumber(ARGV[7 + d])
  if learning and cost > 0 then lim = field('lim:' .. DIMS[d]) end
  if lim > 0 then
    costs[d], rates[d] = math.min(cost, lim), MINUTE / lim
    local at = math.max(start, get(KEYS[5 + d]) + costs[d] * rates[d] - MINUTE)
    if at > send_at then send_at, reason = at, DIMS[d] end
  end
end
local wait = send_at - now
if wait > max_wait then return {0, wait, reason, send_at, 0, 0, 0, interval, period} end
if interval > 0 then put(KEYS[1], math.max(get(KEYS[1]), send_at) + interval) end
for d = 1, 3 do
  if costs[d] > 0 then
    put(KEYS[5 + d], math.max(get(KEYS[5 + d]), send_at) + costs[d] * rates[d])
  end
end
if learning then count_send() end
if reason == 'adaptive' and wait > 0 then
  redis.call('HSET', KEYS[3], 'held', string.format('%.0f', now))  -- demand beyond the rate
end
return {1, wait, reason, send_at, costs[1], costs[2], costs[3], interval, period}
"""
)

# ARGV 5 delay_us. Returns until_us. Empties the bucket at `until` (back at the sustained rate).
COOL_DOWN: Final = (
    _PRELUDE
    + """
local until_ = now + tonumber(ARGV[5])
if until_ > get(KEYS[2]) then put(KEYS[2], until_) end
local interval, period = budget()
if interval > 0 then
  local empty_at_until = until_ + period - interval
  if empty_at_until > get(KEYS[1]) then put(KEYS[1], empty_at_until) end
end
return until_
"""
)

# After a call. ARGV 5 outcome: ok | limited (the server's 429) | error (another HTTP error) |
# none (no answer: timeout, connection); 6-11 reserved, actual per token dimension;
# 12-23 the observation: limit, remaining, reset_us per requests, tokens, input, output ("" =
# not stated). Returns the learned request limit (0 = none).
FEEDBACK: Final = (
    _PRELUDE
    + """
local outcome = ARGV[5]
-- Settle: the difference between the reserved estimate and the actual usage.
for d = 1, 3 do
  local reserved, actual = tonumber(ARGV[4 + 2 * d]), tonumber(ARGV[5 + 2 * d])
  local lim = field('lim:' .. DIMS[d])
  local tat = get(KEYS[5 + d])
  if reserved > 0 and lim > 0 and tat > 0 then
    put(KEYS[5 + d], tat + (actual - reserved) * MINUTE / lim)
  end
end
if outcome == 'none' then
  if redis.call('EXISTS', KEYS[3]) == 0 then redis.call('DEL', KEYS[4]) end
  return field('lim:requests')
end
-- Learn: the limits, and our buckets synced to the server's view (never loosened by it).
local stated_requests = false
for d = 0, 3 do
  local lim, left, reset = ARGV[12 + 3 * d], ARGV[13 + 3 * d], ARGV[14 + 3 * d]
  if lim ~= '' then
    local name, key, margin = 'requests', KEYS[1], REQUEST_MARGIN
    if d > 0 then name, key, margin = DIMS[d], KEYS[5 + d], 0 end
    lim = tonumber(lim)
    redis.call('HSET', KEYS[3], 'lim:' .. name, lim)
    if d == 0 then stated_requests = true end
    if left ~= '' then
      local per = MINUTE / lim
      local synced = now + math.min(lim, lim - tonumber(left) + margin) * per
      if synced > get(key) then put(key, synced) end
      -- Empty: nobody sends until one request is back (the reset is when all of them are).
      if d == 0 and tonumber(left) == 0 and reset ~= '' then
        local until_ = now + math.min(tonumber(reset), per)
        if until_ > get(KEYS[2]) then put(KEYS[2], until_) end
      end
    end
  end
end
-- Adaptive, for an account that states no request limit: halve on a 429, creep up on success.
if learning and field('lim:requests') == 0 then
  local arpm = field('arpm')
  if outcome == 'limited' and not stated_requests then
    if arpm == 0 or now - field('adown') >= ADAPTIVE_DOWN_GAP then
      local halved = send_rate() / 2
      if arpm > 0 then halved = math.min(halved, arpm / 2) end
      arpm = math.max(1, math.min(halved, cap_rpm()))
      local at = string.format('%.0f', now)
      redis.call('HSET', KEYS[3], 'arpm', string.format('%.3f', arpm), 'adown', at, 'aup', at)
      local interval, period = budget()
      local empty = now + period - interval
      if empty > get(KEYS[1]) then put(KEYS[1], empty) end
    end
  elseif outcome == 'ok' and arpm > 0 and now - field('aup') >= ADAPTIVE_UP_GAP
      and (send_rate() >= arpm / 2
           or now - field('held') <= math.max(2 * SEND_WINDOW, 2 * MINUTE / arpm)) then
    -- Only a rate in use is worth raising: sends in the window, or — at rates too low for the
    -- window to see — a caller held back by the adaptive budget lately.
    arpm = math.min(arpm * ADAPTIVE_UP, math.max(arpm, cap_rpm()))
    local at = string.format('%.0f', now)
    redis.call('HSET', KEYS[3], 'arpm', string.format('%.3f', arpm), 'aup', at)
  end
end
redis.call('HSET', KEYS[3], 'seen', 1)
redis.call('PEXPIRE', KEYS[3], LEARN_TTL_MS)
redis.call('DEL', KEYS[4])
return field('lim:requests')
"""
)
