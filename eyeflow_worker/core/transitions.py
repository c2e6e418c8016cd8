"""The Lua scripts that change a job record. Every state change that must not race (start,
finish, cancel, a batch item landing) is one script, so a cancel and a finishing worker can
never both win. `records.JobStore` registers and calls them; the key layout is described there.
"""

# Shared by the scripts that end a job. KEYS: job, intents, items, outbox.
# It keeps a batch's lists as long as its record, and puts a job with a webhook in the outbox
# (a sorted set by end time) in the same atomic step: if the worker dies before it queues the
# delivery, the beat sweep finds the job there (see `pending_webhooks`).
ENDED = """
local function ended(status, ttl, channel, job_id, now_epoch)
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
  redis.call('EXPIRE', KEYS[3], ttl)
  if redis.call('HEXISTS', KEYS[1], 'webhook_url') == 1 then
    redis.call('ZADD', KEYS[4], now_epoch, job_id)
  end
  redis.call('PUBLISH', channel, status)
end
"""

# KEYS[1] job key. ARGV: now. Returns 1 when the job may run, 0 when it is already terminal.
START = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'succeeded' or status == 'failed' or status == 'cancelled' then
  return 0
end
redis.call('HSET', KEYS[1], 'status', 'running')
if not redis.call('HGET', KEYS[1], 'started_at') then
  redis.call('HSET', KEYS[1], 'started_at', ARGV[1])
end
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
return 1
"""

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

# KEYS: job, intents, items, outbox. ARGV: status, now, field ('result'|'error'), JSON, ttl,
# channel, job id, now (epoch seconds). Returns 1 when this call made the terminal transition.
FINISH = (
    ENDED
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'succeeded' or status == 'failed' or status == 'cancelled' then
  return 0
end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'finished_at', ARGV[2], ARGV[3], ARGV[4])
if not redis.call('HGET', KEYS[1], 'started_at') then
  redis.call('HSET', KEYS[1], 'started_at', ARGV[2])
end
ended(ARGV[1], ARGV[5], ARGV[6], ARGV[7], ARGV[8])
return 1
"""
)

# KEYS: batch, intents, items, outbox. ARGV: index, item JSON, 'succeeded'|'failed', now, ttl,
# channel, job id, now (epoch seconds). Stores the item once; when it is the last one, the batch
# finishes in the same step. Returns: 0 item dropped (batch cancelled/gone or item already
# stored), 1 stored, 2 stored and the batch is now complete.
ITEM_DONE = (
    ENDED
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'cancelled' then return 0 end
if redis.call('HSETNX', KEYS[3], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('EXPIRE', KEYS[3], ARGV[5])
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
