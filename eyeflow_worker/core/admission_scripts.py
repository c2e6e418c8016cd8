"""The Lua scripts of batch admission (`admission.py` describes the key layout and calls them).

Each script is one atomic step over the scheduler's keys and the job records they consult, so
two workers admitting at once never claim one item twice nor both take the last free slot. The
scheduler's keys depend on the tenant and the batch, so the scripts build them from a prefix
(ARGV[1]) instead of receiving them as KEYS: fine on one Redis, not on a Redis Cluster.

An item's member, in every in-flight set, is `{job}|{run}|{index}|{tenant}`: the tenant last, so
one that contains `|` still parses, and the run in it, so a retry's item is a new member.
"""

# Shared: is this batch's record live, and is `run` its current run?
_LIVE = """
local function live(record, run)
  local status = redis.call('HGET', record, 'status')
  if not status or status == 'succeeded' or status == 'failed' or status == 'cancelled' then
    return false
  end
  return run ~= nil and tonumber(redis.call('HGET', record, 'retries') or '0') == tonumber(run)
end
local function member(job, run, index, tenant)
  return job .. '|' .. run .. '|' .. index .. '|' .. tenant
end
"""

# Shared: take a batch out of the scheduler (and its tenant, when that was its last batch).
_DROP = """
local function drop_batch(P, tenant, job)
  redis.call('DEL', P .. 'pending:' .. job, P .. 'batch:' .. job)
  local batches = P .. 'batches:' .. tenant
  redis.call('ZREM', batches, job)
  if redis.call('ZCARD', batches) == 0 then redis.call('ZREM', P .. 'tenants', tenant) end
end
"""

# ARGV: prefix, job prefix, job id, tenant, run, ttl. Registers every open item of the batch's
# current run: not stored yet and not in flight already (a redelivered start message registers
# nothing twice). A registration for a newer run replaces the pending items of an older one.
# The batch joins the end of its tenant's ring, and the tenant the end of the tenants' ring.
# Returns how many items were newly registered, -1 when the batch is over or `run` is not its
# current run.
REGISTER = (
    _LIVE
    + """
local P, J, job, tenant, run, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local record = J .. job
if not live(record, run) then return -1 end
local meta, pending = P .. 'batch:' .. job, P .. 'pending:' .. job
local known = redis.call('HGET', meta, 'run')
if known and tonumber(known) ~= tonumber(run) then redis.call('DEL', pending) end
local total = tonumber(redis.call('HGET', record, 'total') or '0')
local items, inflight = record .. ':items', P .. 'inflight'
local added = 0
for index = 0, total - 1 do
  if redis.call('HEXISTS', items, index) == 0
      and not redis.call('ZSCORE', inflight, member(job, run, index, tenant)) then
    added = added + redis.call('ZADD', pending, 'NX', index, index)
  end
end
if redis.call('ZCARD', pending) == 0 then
  redis.call('DEL', meta)
  return added
end
redis.call('HSET', meta, 'tenant', tenant, 'run', run)
redis.call('EXPIRE', meta, ttl)
redis.call('EXPIRE', pending, ttl)
local turn = redis.call('INCR', P .. 'turn')
redis.call('ZADD', P .. 'batches:' .. tenant, 'NX', turn, job)
redis.call('ZADD', P .. 'tenants', 'NX', turn, tenant)
return added
"""
)

# ARGV: prefix, job prefix, tenant cap, fleet cap, now (epoch seconds), limit, ttl.
# Claims up to `limit` items round-robin: each pass over the tenants' ring (least recently
# served first) takes one item from every tenant below its cap, from that tenant's least
# recently served batch; served tenants and batches move to the end of their rings. A batch
# found over (cancelled, gone, or of another run) is dropped, its pending items never sent.
# Claimed items are in flight (fleet and tenant sets) and in `sending` until `sent`. Returns
# {{job, tenant, index, run}, ...}.
CLAIM = (
    _LIVE
    + _DROP
    + """
local P, J = ARGV[1], ARGV[2]
local tenant_cap, fleet_cap = tonumber(ARGV[3]), tonumber(ARGV[4])
local now, limit, ttl = ARGV[5], tonumber(ARGV[6]), ARGV[7]
local tenants, inflight, sending = P .. 'tenants', P .. 'inflight', P .. 'sending'

local function pop_open(job, record)
  local pending = P .. 'pending:' .. job
  local popped = redis.call('ZPOPMIN', pending)
  while #popped > 0 and redis.call('HEXISTS', record .. ':items', popped[1]) == 1 do
    popped = redis.call('ZPOPMIN', pending)
  end
  return popped[1]
end

-- The next item of `tenant`'s least recently served live batch, or nil when none is left.
local function take(tenant)
  local batches = P .. 'batches:' .. tenant
  while true do
    local head = redis.call('ZRANGE', batches, 0, 0)
    if #head == 0 then
      redis.call('ZREM', tenants, tenant)
      return nil
    end
    local job = head[1]
    local record = J .. job
    local run = redis.call('HGET', P .. 'batch:' .. job, 'run')
    local index = nil
    if live(record, run) then index = pop_open(job, record) end
    if index then
      if redis.call('ZCARD', P .. 'pending:' .. job) == 0 then
        drop_batch(P, tenant, job)
      else
        redis.call('ZADD', batches, redis.call('INCR', P .. 'turn'), job)
        redis.call('EXPIRE', P .. 'pending:' .. job, ttl)
        redis.call('EXPIRE', P .. 'batch:' .. job, ttl)
      end
      return {job, tenant, index, run}
    end
    drop_batch(P, tenant, job)
  end
end

local claimed = {}
local progressed = true
while progressed and #claimed < limit and redis.call('ZCARD', inflight) < fleet_cap do
  progressed = false
  for _, tenant in ipairs(redis.call('ZRANGE', tenants, 0, -1)) do
    if #claimed >= limit or redis.call('ZCARD', inflight) >= fleet_cap then break end
    local own = P .. 'inflight:' .. tenant
    if redis.call('ZCARD', own) < tenant_cap then
      local item = take(tenant)
      if item then
        local name = member(item[1], item[4], item[3], tenant)
        redis.call('ZADD', inflight, now, name)
        redis.call('ZADD', own, now, name)
        redis.call('ZADD', sending, now, name)
        redis.call('ZADD', tenants, 'XX', redis.call('INCR', P .. 'turn'), tenant)
        claimed[#claimed + 1] = item
        progressed = true
      end
    end
  end
end
return claimed
"""
)

# ARGV: prefix, ttl, then members. Puts back claimed items whose message the broker refused:
# still claimed (in `sending`) and their batch still registered for that run. They leave the
# in-flight sets and are pending again; batch and tenant rejoin their rings. Returns how many.
UNCLAIM = (
    _LIVE
    + """
local P, ttl = ARGV[1], ARGV[2]
local restored = 0
for k = 3, #ARGV do
  local name = ARGV[k]
  local job, run, index, tenant = string.match(name, '^([^|]*)|([^|]*)|([^|]*)|(.*)$')
  if job and redis.call('ZREM', P .. 'sending', name) == 1 then
    redis.call('ZREM', P .. 'inflight', name)
    redis.call('ZREM', P .. 'inflight:' .. tenant, name)
    local meta = P .. 'batch:' .. job
    local known = redis.call('HGET', meta, 'run')
    if not known or known == run then
      redis.call('HSET', meta, 'tenant', tenant, 'run', run)
      redis.call('ZADD', P .. 'pending:' .. job, 'NX', index, index)
      redis.call('EXPIRE', meta, ttl)
      redis.call('EXPIRE', P .. 'pending:' .. job, ttl)
      local turn = redis.call('INCR', P .. 'turn')
      redis.call('ZADD', P .. 'batches:' .. tenant, 'NX', turn, job)
      redis.call('ZADD', P .. 'tenants', 'NX', turn, tenant)
      restored = restored + 1
    end
  end
end
return restored
"""
)

# ARGV: prefix, member, tenant. Frees an item's slot: idempotent (a member leaves a set once),
# so a message run twice frees one slot. Returns 1 when this call freed it.
RELEASE = """
local P, name, tenant = ARGV[1], ARGV[2], ARGV[3]
redis.call('ZREM', P .. 'sending', name)
redis.call('ZREM', P .. 'inflight:' .. tenant, name)
return redis.call('ZREM', P .. 'inflight', name)
"""

# ARGV: prefix, cutoff (epoch seconds), now, limit. Claimed items still unconfirmed since before
# `cutoff` (their claimer died between the claim and the send, or while sending): their claim
# time becomes `now`, so a second sweeper does not send them too, and they are returned
# (members) to be sent again (the caller first drops those whose message is on the broker). A
# duplicate message stores the item once and frees its slot once.
RECLAIM = """
local P = ARGV[1]
local stale = redis.call('ZRANGEBYSCORE', P .. 'sending', '-inf', ARGV[2], 'LIMIT', 0, ARGV[4])
for _, name in ipairs(stale) do redis.call('ZADD', P .. 'sending', 'XX', ARGV[3], name) end
return stale
"""

# ARGV: prefix, job prefix. Drops every registered batch that is over (cancelled, finished, gone)
# or whose registered run is no longer its current one, and frees the slots of in-flight items
# of such batches (their messages, if any are still queued, find them over and do nothing).
# Returns {batches dropped, slots freed}.
PRUNE = (
    _LIVE
    + _DROP
    + """
local P, J = ARGV[1], ARGV[2]
local dropped, freed = 0, 0
for _, tenant in ipairs(redis.call('ZRANGE', P .. 'tenants', 0, -1)) do
  for _, job in ipairs(redis.call('ZRANGE', P .. 'batches:' .. tenant, 0, -1)) do
    if not live(J .. job, redis.call('HGET', P .. 'batch:' .. job, 'run')) then
      drop_batch(P, tenant, job)
      dropped = dropped + 1
    end
  end
  if redis.call('EXISTS', P .. 'batches:' .. tenant) == 0 then
    redis.call('ZREM', P .. 'tenants', tenant)
  end
end
for _, name in ipairs(redis.call('ZRANGE', P .. 'inflight', 0, -1)) do
  local job, run, index, tenant = string.match(name, '^([^|]*)|([^|]*)|([^|]*)|(.*)$')
  -- Over, or stored but never released (a worker that died between the two, an old worker
  -- during a rolling deploy): either way the slot is free. A retry's re-opened items are not
  -- in the items hash, so a live run's item counts as stored only once it is.
  local stored = job and redis.call('HEXISTS', J .. job .. ':items', index) == 1
  if job and (stored or not live(J .. job, run)) then
    redis.call('ZREM', P .. 'sending', name)
    redis.call('ZREM', P .. 'inflight:' .. tenant, name)
    freed = freed + redis.call('ZREM', P .. 'inflight', name)
  end
end
return {dropped, freed}
"""
)
