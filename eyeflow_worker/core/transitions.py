"""The Lua scripts that change a job record. Every state change that must not race (start,
finish, cancel, a batch item landing, re-opening a batch's failed items) is one script, so a
cancel and a finishing worker — or two retries — can never both win. A job's start and finish
also take and end its lease (`record_lease.py`), so the lease costs no round trip of its own.
`records.JobStore` registers and calls them; the key layout is described there.
"""

from eyeflow_worker.core.record_lease import FUNCTIONS as LEASE_FUNCTIONS
from eyeflow_worker.core.submit_rate import TAKE_FUNCTION

# Shared by the scripts that end a job. KEYS: job, intents, items, outbox, succeeded, failed.
# It keeps a batch's lists as long as its record, and puts a job with a webhook in the outbox
# (a sorted set by end time) in the same atomic step: if the worker dies before it queues the
# delivery, the beat sweep finds the job there (see `pending_webhooks`).
# It also drops what only running the job needed (`release_payload`): the payload — the request,
# with its possibly large aggregated context — once nothing can run the job again, and a batch's
# intents list once every item is stored with its own intent. A batch with failed items keeps
# both: a retry re-runs those items with them. A cancelled batch keeps its intents: its results
# pages show the intent of every item that never ran.
ENDED = """
-- A job a request waits on (`waiter`, set at submission) is published whole, so the waiting
-- request needs no read of its own — up to 64 KiB: every gateway receives every done message,
-- and a large result is read by the one that waits. Any other job, by its status.
local function publish_done(channel, status)
  if not redis.call('HGET', KEYS[1], 'waiter') then
    redis.call('PUBLISH', channel, status)
    return
  end
  local fields = redis.call('HGETALL', KEYS[1])
  local record, size = {}, 0
  for i = 1, #fields, 2 do
    if fields[i] ~= 'payload' then
      record[fields[i]] = fields[i + 1]
      size = size + #fields[i] + #fields[i + 1]
    end
  end
  if size > 65536 then
    redis.call('PUBLISH', channel, status)
  else
    redis.call('PUBLISH', channel, cjson.encode(record))
  end
end

local function release_payload(status)
  if redis.call('HGET', KEYS[1], 'kind') ~= 'batch' or status == 'cancelled' then
    redis.call('HDEL', KEYS[1], 'payload')
    return
  end
  if redis.call('ZCARD', KEYS[6]) > 0 then return end
  redis.call('HDEL', KEYS[1], 'payload')
  local total = tonumber(redis.call('HGET', KEYS[1], 'total') or '0')
  if redis.call('HLEN', KEYS[3]) >= total then redis.call('DEL', KEYS[2]) end
end

local function ended(status, ttl, channel, job_id, now_epoch)
  release_payload(status)
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
  redis.call('EXPIRE', KEYS[3], ttl)
  redis.call('EXPIRE', KEYS[5], ttl)
  redis.call('EXPIRE', KEYS[6], ttl)
  if redis.call('HEXISTS', KEYS[1], 'webhook_url') == 1 then
    redis.call('ZADD', KEYS[4], now_epoch, job_id)
  end
  publish_done(channel, status)
end
"""

# KEYS: job, intents, rate bucket, idempotency claim, then the queue lists the job's message is
# pushed to. ARGV: tokens per second ('0': no limit), burst, record ttl, claim value ('': no
# claim), claim ttl, 2n, 3m, the record's n field/value pairs, the message's m broker commands
# (operation, target, value: `collected_send.BrokerCommand`; none when the message is sent
# separately), then a batch's intents. A submission's one round trip: a claim already held is
# returned as it is (nothing else happens: a repeat takes no token); a tenant over its rate gets
# the milliseconds until a token is there, and nothing is written; else the token is taken, the
# claim (pending) set, the record and the intents list written and the message enqueued (its
# task-sent event published) — all or nothing; run again for a record that exists, it does
# nothing. Returns {'held', value}, {'rate', ms} or {'ok'}.
ACCEPT = (
    TAKE_FUNCTION
    + """
-- The record already there: this very submission's script ran and its reply was lost, and
-- the client sent it again. It is accepted once: nothing more is written, pushed or taken.
if redis.call('EXISTS', KEYS[1]) == 1 then return {'ok'} end
local n = tonumber(ARGV[6])
local commands = 8 + n
local first = commands + tonumber(ARGV[7])
local run = {lpush = 'LPUSH', publish = 'PUBLISH', pexpire = 'PEXPIRE'}
for i = commands, first - 1, 3 do  -- checked before anything is written
  if not run[ARGV[i]] then return redis.error_reply('unknown broker command ' .. ARGV[i]) end
end
if ARGV[4] ~= '' then
  local held = redis.call('GET', KEYS[4])
  if held then return {'held', held} end
end
local rate = tonumber(ARGV[1])
if rate > 0 then
  local wait = take(KEYS[3], rate, tonumber(ARGV[2]))
  if wait > 0 then return {'rate', wait} end
end
if ARGV[4] ~= '' then redis.call('SET', KEYS[4], ARGV[4], 'EX', ARGV[5]) end
redis.call('HSET', KEYS[1], unpack(ARGV, 8, 7 + n))
redis.call('EXPIRE', KEYS[1], ARGV[3])
if #ARGV >= first then
  -- in chunks: unpack() of more than a few thousand values overflows Lua's stack
  for i = first, #ARGV, 1000 do
    redis.call('RPUSH', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
  end
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
for i = commands, first - 1, 3 do redis.call(run[ARGV[i]], ARGV[i + 1], ARGV[i + 2]) end
return {'ok'}
"""
)

_START_FUNCTION = """
local function start(key, now)
  local status = redis.call('HGET', key, 'status')
  if not status or status == 'succeeded' or status == 'failed' or status == 'cancelled' then
    return false
  end
  redis.call('HSET', key, 'status', 'running')
  if not redis.call('HGET', key, 'started_at') then
    redis.call('HSET', key, 'started_at', now)
  end
  redis.call('HINCRBY', key, 'attempts', 1)
  return true
end
"""

# KEYS[1] job key. ARGV: now. Returns 1 when the job may run, 0 when it is already terminal.
START = _START_FUNCTION + "if start(KEYS[1], ARGV[1]) then return 1 end\nreturn 0\n"

# KEYS: job, lease index, lease fence. ARGV: now, then the lease ask (`LeaseAsk.args`: task
# id, worker, now in epoch seconds, ttl, task, args, kwargs, queue, redelivered), then record
# field names. A worker takes a job's lease, starts the job and reads what it runs in one round
# trip; the lease rules are `record_lease.FUNCTIONS`' (the same as `job_leases`' acquire).
# Returns {-1} no such job; {0, holder} the lease is another message's (nothing changes);
# {2} the job has already ended (nothing starts, and whatever lease it had — expired, or handed
# to this message — ends: as taking it and giving it back); {1, token, {values}} started, with
# the lease held by `token` and the HMGET of the fields as the job now stands.
BEGIN = (
    _START_FUNCTION
    + LEASE_FUNCTIONS
    + """
if not redis.call('HGET', KEYS[1], 'tenant') then return {-1} end
local now = tonumber(ARGV[4])
local holder = lease_refused(KEYS[1], ARGV[2], now, ARGV[10])
if holder then return {0, holder} end
if not start(KEYS[1], ARGV[1]) then
  lease_end(KEYS[1], KEYS[2], '', true)
  return {2}
end
local token = lease_take(KEYS[1], KEYS[2], KEYS[3], ARGV[2], ARGV[3], now, tonumber(ARGV[5]),
  ARGV[6], ARGV[7], ARGV[8], ARGV[9])
return {1, token, redis.call('HMGET', KEYS[1], unpack(ARGV, 11))}
"""
)

# KEYS[1] job key. ARGV: status. Only a running job can be marked retrying (and back).
SET_RUNNING_STATUS = """
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'running' or status == 'retrying' then
  redis.call('HSET', KEYS[1], 'status', ARGV[1])
  return 1
end
return 0
"""

# KEYS[1] job key. ARGV: field, value. Sets the field only on a record that still exists, so a
# late write never leaves behind a hash without tenant or TTL.
SET_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""

# KEYS: job, intents, items, outbox, succeeded, failed, lease index, and optionally the metrics
# hash. ARGV: status, now, field ('result'|'error'), JSON, ttl, channel, job id, now (epoch
# seconds), the lease token of the worker ending the job ('': none, e.g. a caller's cancel),
# then the metrics' increments as triples (op 'i' HINCRBY | 'f' HINCRBYFLOAT, field, amount),
# counted only when this call made the transition — so counting a job costs no round trip of
# its own and a job is counted once. The worker's lease ends here too (if that token still
# holds it), also when the job had ended already (cancelled while it ran): the job's lease
# costs no round trip at its end either. Returns 1 when this call made the terminal transition.
FINISH = (
    ENDED
    + LEASE_FUNCTIONS
    + """
if ARGV[9] ~= '' then lease_end(KEYS[1], KEYS[7], ARGV[9], true) end
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'succeeded' or status == 'failed' or status == 'cancelled' then
  return 0
end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'finished_at', ARGV[2], ARGV[3], ARGV[4])
if not redis.call('HGET', KEYS[1], 'started_at') then
  redis.call('HSET', KEYS[1], 'started_at', ARGV[2])
end
ended(ARGV[1], ARGV[5], ARGV[6], ARGV[7], ARGV[8])
if KEYS[8] then
  for i = 10, #ARGV - 2, 3 do
    if ARGV[i] == 'i' then
      redis.call('HINCRBY', KEYS[8], ARGV[i + 1], ARGV[i + 2])
    else
      redis.call('HINCRBYFLOAT', KEYS[8], ARGV[i + 1], ARGV[i + 2])
    end
  end
end
return 1
"""
)

# KEYS: batch, intents, items, outbox, succeeded, failed. ARGV: index, item JSON,
# 'succeeded'|'failed', now, ttl, channel, job id, now (epoch seconds), run. Stores the item once
# (HSETNX) and indexes it in its outcome's sorted set (score = index); when it is the last one,
# the batch finishes in the same step. A message of another run than the batch's current one
# (`retries`: an old message redelivered after a retry re-opened its item, or one of a retry
# that was undone) is dropped, so an item has at most one result and the counts stay exact.
# Returns: 0 item dropped (batch cancelled/gone, another run, or item already stored), 1 stored,
# 2 stored and the batch is now complete.
ITEM_DONE = (
    ENDED
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'cancelled' then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'retries') or '0') ~= tonumber(ARGV[9]) then return 0 end
if redis.call('HSETNX', KEYS[3], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('EXPIRE', KEYS[3], ARGV[5])
local outcome_index = KEYS[5]
if ARGV[3] == 'failed' then outcome_index = KEYS[6] end
redis.call('ZADD', outcome_index, ARGV[1], ARGV[1])
redis.call('EXPIRE', outcome_index, ARGV[5])
redis.call('HINCRBY', KEYS[1], ARGV[3], 1)
local succeeded = tonumber(redis.call('HGET', KEYS[1], 'succeeded') or '0')
local done = succeeded + tonumber(redis.call('HGET', KEYS[1], 'failed') or '0')
local total = tonumber(redis.call('HGET', KEYS[1], 'total') or '0')
if done >= total and status ~= 'succeeded' and status ~= 'failed' then
  local final = 'succeeded'
  if succeeded == 0 then final = 'failed' end
  redis.call('HSET', KEYS[1], 'status', final, 'finished_at', ARGV[4])
  ended(final, ARGV[5], ARGV[6], ARGV[7], ARGV[8])
  return 2
end
if status == 'queued' then
  redis.call('HSET', KEYS[1], 'status', 'running', 'started_at', ARGV[4])
end
return 1
"""
)

# The record fields a retry clears and an undone retry puts back (kept in the stash as `_name`).
_RETRY_SAVED = "{'finished_at', 'webhook', 'webhook_queued_at'}"

# KEYS: batch, items, failed, stash. ARGV: ttl.
# Re-opens every failed item of a finished batch: its result moves to the stash (so an undo can
# put it back), it leaves the failed index, the failed count goes down by as many, the batch
# reads `running` with no `finished_at`, webhook state cleared (the next end is a new event), and
# `retries` (the run number) goes up by one. Returns {'ok', run, {indexes}}, {'none'} when
# nothing failed (nothing changes), or {status} when the batch has not finished ('missing').
RETRY_FAILED = (
    """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing'} end
if status ~= 'succeeded' and status ~= 'failed' then return {status} end
local failed = redis.call('ZRANGE', KEYS[3], 0, -1)
if #failed == 0 then return {'none'} end
redis.call('DEL', KEYS[4])
for _, name in ipairs("""
    + _RETRY_SAVED
    + """) do
  local value = redis.call('HGET', KEYS[1], name)
  if value then redis.call('HSET', KEYS[4], '_' .. name, value) end
  redis.call('HDEL', KEYS[1], name)
end
for _, index in ipairs(failed) do
  local raw = redis.call('HGET', KEYS[2], index)
  if raw then redis.call('HSET', KEYS[4], index, raw) end
  redis.call('HDEL', KEYS[2], index)
end
redis.call('DEL', KEYS[3])
redis.call('EXPIRE', KEYS[4], ARGV[1])
redis.call('HINCRBY', KEYS[1], 'failed', -#failed)
redis.call('HSET', KEYS[1], 'status', 'running')
local run = redis.call('HINCRBY', KEYS[1], 'retries', 1)
return {'ok', run, failed}
"""
)

# KEYS: batch, items, failed, stash, outbox. ARGV: run, job id, now (epoch seconds), the done
# channel.
# Undoes RETRY_FAILED when its re-run could not be queued (broker down): only while that run is
# still the batch's current one and the batch was not cancelled meanwhile. Every re-opened item
# without a result gets its old one back; `retries` stays, so any message of the undone run that
# did reach the broker is dropped as another run's. Returns 1 when undone, 0 otherwise.
UNDO_RETRY = (
    """
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'running' and status ~= 'retrying' then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'retries') or '0') ~= tonumber(ARGV[1]) then return 0 end
local saved = redis.call('HGETALL', KEYS[4])
if #saved == 0 then return 0 end
local previous = {}
local restored = 0
for k = 1, #saved, 2 do
  local name, value = saved[k], saved[k + 1]
  if string.sub(name, 1, 1) == '_' then
    previous[string.sub(name, 2)] = value
  elseif redis.call('HSETNX', KEYS[2], name, value) == 1 then
    redis.call('ZADD', KEYS[3], name, name)
    restored = restored + 1
  end
end
redis.call('HINCRBY', KEYS[1], 'failed', restored)
local succeeded = tonumber(redis.call('HGET', KEYS[1], 'succeeded') or '0')
local final = 'succeeded'
if succeeded == 0 then final = 'failed' end
redis.call('HSET', KEYS[1], 'status', final)
for _, name in ipairs("""
    + _RETRY_SAVED
    + """) do
  if previous[name] then redis.call('HSET', KEYS[1], name, previous[name]) end
end
if redis.call('HEXISTS', KEYS[1], 'webhook_url') == 1
    and redis.call('HEXISTS', KEYS[1], 'webhook_queued_at') == 0 then
  redis.call('ZADD', KEYS[5], ARGV[3], ARGV[2])
end
redis.call('DEL', KEYS[4])
-- Ended again: a `?wait` on the batch is woken like by any end.
redis.call('PUBLISH', ARGV[4], final)
return 1
"""
)
