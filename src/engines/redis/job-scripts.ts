/**
 * The Lua of the Redis `JobQueue`: one script per state transition, so Redis applies each one
 * atomically and no two workers can ever see a job half-moved. Every script takes the key prefix
 * as ARGV[1] and builds its keys from it (a job's lane, queue and dedup key are only known once its
 * record is read); KEYS[1] is always the `{prefix}:jobs:all` key, for routing on Redis Cluster,
 * where the prefix must carry a hash tag so that every key shares one slot.
 *
 * Every script answers `{'ok', …}` or `{code, detail}` with a `TIDINGS_ERR_…` code. Times are
 * epoch milliseconds of the Redis server's clock (`TIME`), so leases held by workers on hosts with
 * skewed clocks still expire in the order they were granted.
 *
 * Record invariants every script keeps (see docs/engines/redis.md#jobs-on-redis):
 * - a `delayed`, `queued` or `retrying` job is in exactly one of its lane's sets: `ready` (due;
 *   member = its `rank`) or `delayed` (not due; score = runAt); no other job is in either;
 * - a `running` job is in its queue's `running` set, scored by `leaseExpiresAt`, and holds `token`;
 * - a finished job is in `finished`, scored by `finishedAt`, and is in no lane or running set;
 * - every retained job is in `all` (score = enqueue sequence), and its dedup key, if any, names it.
 */
import { LuaScript } from './scripts.js'

/** Key helpers, clock, and the moves shared by several scripts. */
const COMMON = `
local P = ARGV[1]
local ALL = P .. ':jobs:all'
local FINISHED = P .. ':jobs:finished'
local WAKE = P .. ':jobs:wake'
local LOST = {'TIDINGS_ERR_JOB_LEASE_LOST', 'job ' .. tostring(ARGV[2])}
local function jkey(id) return P .. ':job:' .. id end
local function readyKey(lane) return P .. ':jobs:ready:' .. lane end
local function delayedKey(lane) return P .. ':jobs:delayed:' .. lane end
local function runningKey(qk) return P .. ':jobs:running:' .. qk end
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Puts a waiting job in its lane: ready when due, else delayed; wakes the workers of the lane.
-- The rank orders a lane's ready set among equal priorities (the score): runAt, then enqueue
-- order, as fixed-width digits so that byte order is numeric order.
local function park(id, now)
  local k = jkey(id)
  local f = redis.call('HMGET', k, 'lane', 'priority', 'runAt', 'seq')
  local runAt = tonumber(f[3])
  local rank = string.format('%015.0f:%016.0f:', runAt, tonumber(f[4])) .. id
  redis.call('HSET', k, 'rank', rank)
  if runAt <= now then
    redis.call('ZADD', readyKey(f[1]), -tonumber(f[2]), rank)
  else
    redis.call('ZADD', delayedKey(f[1]), runAt, id)
  end
  redis.call('PUBLISH', WAKE, f[1])
end

-- Takes a waiting job out of its lane.
local function unpark(id)
  local k = jkey(id)
  local f = redis.call('HMGET', k, 'lane', 'rank')
  if f[2] then redis.call('ZREM', readyKey(f[1]), f[2]) end
  redis.call('ZREM', delayedKey(f[1]), id)
  redis.call('HDEL', k, 'rank')
end

-- Ends a job (succeeded, failed or cancelled): out of the running set, into the retention set.
local function finish(id, status, now, withDuration)
  local k = jkey(id)
  local f = redis.call('HMGET', k, 'qk', 'startedAt')
  redis.call('ZREM', runningKey(f[1]), id)
  redis.call('HSET', k, 'status', status, 'finishedAt', now, 'updatedAt', now)
  if withDuration and f[2] then
    redis.call('HSET', k, 'durationMs', now - tonumber(f[2]))
  else
    redis.call('HDEL', k, 'durationMs')
  end
  redis.call('HDEL', k, 'workerId', 'token', 'leaseExpiresAt')
  redis.call('ZADD', FINISHED, now, id)
end

local function held(id, token)
  local f = redis.call('HMGET', jkey(id), 'status', 'token')
  return f[1] == 'running' and f[2] == token
end
`

/**
 * Stores a new job unless a retained record has its dedup key. ARGV from `o`: id, '1' when it has a
 * key, the key, the number of field pairs, then the pairs. Returns the id stored (or found) and
 * whether it was created; nil for a duplicate id.
 */
const ENQUEUE_FUNCTION = `
local function enqueue(now, o)
  local id = ARGV[o]
  local dedup = nil
  if ARGV[o + 1] == '1' then
    dedup = P .. ':jobs:key:' .. ARGV[o + 2]
    local existing = redis.call('GET', dedup)
    if existing and redis.call('EXISTS', jkey(existing)) == 1 then return existing, false end
  end
  local k = jkey(id)
  if redis.call('EXISTS', k) == 1 then return nil, false end
  local n = tonumber(ARGV[o + 3])
  local fields = {}
  for i = 1, 2 * n do fields[i] = ARGV[o + 3 + i] end
  redis.call('HSET', k, unpack(fields))
  local seq = redis.call('INCR', P .. ':jobs:seq')
  local runAt = tonumber(redis.call('HGET', k, 'runAt'))
  redis.call('HSET', k, 'seq', seq, 'status', runAt > now and 'delayed' or 'queued', 'attempts', 0, 'updatedAt', now)
  if dedup then redis.call('SET', dedup, id) end
  redis.call('ZADD', ALL, seq, id)
  park(id, now)
  return id, true
end
`

/**
 * Enqueue. ARGV: prefix, then the enqueue arguments. Invariant: a dedup key that a retained record
 * holds never goes to a second record, and a new job enters exactly one of its lane's sets.
 * → ok, now, created (0/1), record.
 */
export const ENQUEUE = new LuaScript(`${COMMON}${ENQUEUE_FUNCTION}
local now = clock()
local id, created = enqueue(now, 2)
if not id then return {'TIDINGS_ERR_INTERNAL', 'duplicate job id ' .. ARGV[2]} end
return {'ok', now, created and 1 or 0, redis.call('HGETALL', jkey(id))}
`)

/**
 * Lease. ARGV: prefix, workerId, leaseMs, limit, token prefix, batch, lost-error JSON, number of
 * queues, the queues' keys, then the lanes. Invariant: a job leaves a ready set only here, and
 * only into `running` with a fresh token and one more attempt; an expired lease is either given
 * back to its lane or ended failed, never left running. → ok, now, leases, lost.
 */
export const LEASE = new LuaScript(`${COMMON}
local now = clock()
local leaseMs = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local batch = tonumber(ARGV[6])
local nq = tonumber(ARGV[8])
local lost = {}
for i = 9, 8 + nq do
  local rk = runningKey(ARGV[i])
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', rk, '-inf', now, 'LIMIT', 0, batch)) do
    local k = jkey(id)
    local f = redis.call('HMGET', k, 'status', 'attempts', 'maxAttempts')
    if f[1] ~= 'running' then
      redis.call('ZREM', rk, id)
    elseif tonumber(f[2]) >= tonumber(f[3]) then
      redis.call('HSET', k, 'error', ARGV[7])
      finish(id, 'failed', now, true)
      lost[#lost + 1] = redis.call('HGETALL', k)
    else
      redis.call('ZREM', rk, id)
      redis.call('HSET', k, 'status', 'queued', 'runAt', now, 'updatedAt', now)
      redis.call('HDEL', k, 'workerId', 'token', 'leaseExpiresAt')
      park(id, now)
    end
  end
end
local lanes = {}
for i = 9 + nq, #ARGV do lanes[#lanes + 1] = ARGV[i] end
for _, lane in ipairs(lanes) do
  local dk = delayedKey(lane)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', dk, '-inf', now, 'LIMIT', 0, batch)) do
    local f = redis.call('HMGET', jkey(id), 'priority', 'rank')
    redis.call('ZADD', readyKey(lane), -tonumber(f[1]), f[2])
    redis.call('ZREM', dk, id)
  end
end
local tops = {}
local function top(i)
  local r = redis.call('ZRANGE', readyKey(lanes[i]), 0, 0, 'WITHSCORES')
  if r[1] then tops[i] = {r[1], tonumber(r[2])} else tops[i] = false end
end
for i = 1, #lanes do top(i) end
local leases = {}
while #leases < limit do
  local best = nil
  for i = 1, #lanes do
    local t = tops[i]
    if t and (best == nil or t[2] < tops[best][2] or (t[2] == tops[best][2] and t[1] < tops[best][1])) then best = i end
  end
  if best == nil then break end
  local member = tops[best][1]
  redis.call('ZREM', readyKey(lanes[best]), member)
  top(best)
  local id = string.sub(member, 34)
  local k = jkey(id)
  local f = redis.call('HMGET', k, 'status', 'qk')
  if f[1] == 'delayed' or f[1] == 'queued' or f[1] == 'retrying' then
    local attempts = redis.call('HINCRBY', k, 'attempts', 1)
    local exp = now + leaseMs
    redis.call('HSET', k, 'status', 'running', 'startedAt', now, 'updatedAt', now, 'workerId', ARGV[2],
      'token', ARGV[5] .. '.' .. (#leases + 1), 'leaseExpiresAt', exp)
    redis.call('HDEL', k, 'finishedAt', 'durationMs', 'progress', 'rank')
    redis.call('ZADD', runningKey(f[2]), exp, id)
    leases[#leases + 1] = redis.call('HGETALL', k)
  end
end
return {'ok', now, leases, lost}
`)

/**
 * What a waiting worker needs: whether a job of its lanes is due now, else the earliest time one
 * may be (a delayed job's runAt, a lease's expiry). ARGV: prefix, number of lanes, the lanes, then
 * the queues' keys. Read-only. → ok, now, earliest (or -1 for none).
 */
export const WAIT_INFO = new LuaScript(`${COMMON}
local now = clock()
local n = tonumber(ARGV[2])
local earliest = -1
local function consider(key)
  local r = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if r[2] then
    local t = tonumber(r[2])
    if earliest < 0 or t < earliest then earliest = t end
  end
end
for i = 3, 2 + n do
  if redis.call('ZCARD', readyKey(ARGV[i])) > 0 then return {'ok', now, now} end
  consider(delayedKey(ARGV[i]))
end
for i = 3 + n, #ARGV do consider(runningKey(ARGV[i])) end
return {'ok', now, earliest}
`)

/**
 * Heartbeat. ARGV: prefix, leaseMs, then id/token pairs. Invariant: only the token holder moves a
 * lease's expiry. → ok, then per job 0 (not held), 1 (held), 2 (held, cancel requested).
 */
export const HEARTBEAT = new LuaScript(`${COMMON}
local now = clock()
local exp = now + tonumber(ARGV[2])
local out = {'ok'}
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  local k = jkey(id)
  local f = redis.call('HMGET', k, 'status', 'token', 'qk', 'cancelRequestedAt')
  if f[1] == 'running' and f[2] == ARGV[i + 1] then
    redis.call('HSET', k, 'leaseExpiresAt', exp, 'updatedAt', now)
    redis.call('ZADD', runningKey(f[3]), exp, id)
    out[#out + 1] = f[4] and 2 or 1
  else
    out[#out + 1] = 0
  end
end
return out
`)

/** Progress of a held job. ARGV: prefix, id, token, progress JSON. Invariant: only the token holder writes it. → ok. */
export const SET_PROGRESS = new LuaScript(`${COMMON}
if not held(ARGV[2], ARGV[3]) then return LOST end
redis.call('HSET', jkey(ARGV[2]), 'progress', ARGV[4], 'updatedAt', clock())
return {'ok'}
`)

/**
 * Success of held jobs, several at once (the completions of one event-loop turn). ARGV: prefix,
 * then id, token, result JSON and reply form for each job: `r` answers the whole record, `s` only
 * what can have changed since the lease (durationMs, progress, cancelRequestedAt), for a caller
 * that holds the leased record. Invariant (shared by FAIL, CONFIRM_CANCEL and RELEASE): only the
 * token holder ends a lease, and ending it drops the token, so a second call or a worker whose
 * lease was taken over is refused. → ok, now, then per job its answer, or false when its lease is
 * lost (the others still complete: each job is its own transition).
 */
export const COMPLETE = new LuaScript(`${COMMON}
local now = clock()
local out = {'ok', now}
for i = 2, #ARGV, 4 do
  local id = ARGV[i]
  if held(id, ARGV[i + 1]) then
    local k = jkey(id)
    redis.call('HSET', k, 'result', ARGV[i + 2])
    redis.call('HDEL', k, 'error')
    finish(id, 'succeeded', now, true)
    if ARGV[i + 3] == 's' then
      out[#out + 1] = redis.call('HMGET', k, 'durationMs', 'progress', 'cancelRequestedAt')
    else
      out[#out + 1] = redis.call('HGETALL', k)
    end
  else
    out[#out + 1] = false
  end
end
return out
`)

/**
 * Failure of a held job. ARGV: prefix, id, token, error JSON, retryAt ('' = no retry: it ends
 * failed). A retried job goes back to its lane, retrying, until retryAt. → ok, now, record.
 */
export const FAIL = new LuaScript(`${COMMON}
local id = ARGV[2]
if not held(id, ARGV[3]) then return LOST end
local now = clock()
local k = jkey(id)
redis.call('HSET', k, 'error', ARGV[4])
if ARGV[5] == '' then
  finish(id, 'failed', now, true)
else
  local f = redis.call('HMGET', k, 'qk', 'startedAt')
  redis.call('ZREM', runningKey(f[1]), id)
  redis.call('HSET', k, 'status', 'retrying', 'durationMs', now - tonumber(f[2]), 'runAt', ARGV[5], 'updatedAt', now)
  redis.call('HDEL', k, 'workerId', 'token', 'leaseExpiresAt')
  park(id, now)
end
return {'ok', now, redis.call('HGETALL', k)}
`)

/** A held job whose cancel was asked for ends cancelled. ARGV: prefix, id, token. Invariant: as COMPLETE's. → ok, now, record. */
export const CONFIRM_CANCEL = new LuaScript(`${COMMON}
local id = ARGV[2]
if not held(id, ARGV[3]) then return LOST end
local now = clock()
finish(id, 'cancelled', now, true)
return {'ok', now, redis.call('HGETALL', jkey(id))}
`)

/**
 * A held job goes back to its lane, queued, its attempt not counted. ARGV: prefix, id, token.
 * Invariant: as COMPLETE's. → ok, now, record.
 */
export const RELEASE = new LuaScript(`${COMMON}
local id = ARGV[2]
if not held(id, ARGV[3]) then return LOST end
local now = clock()
local k = jkey(id)
local f = redis.call('HMGET', k, 'qk', 'attempts')
redis.call('ZREM', runningKey(f[1]), id)
local attempts = tonumber(f[2]) - 1
if attempts < 0 then attempts = 0 end
redis.call('HSET', k, 'status', 'queued', 'attempts', attempts, 'runAt', now, 'updatedAt', now)
redis.call('HDEL', k, 'workerId', 'token', 'leaseExpiresAt')
park(id, now)
return {'ok', now, redis.call('HGETALL', k)}
`)

/**
 * Cancel. ARGV: prefix, id. Invariant: a waiting job leaves its lane in the same step as it ends
 * cancelled, so no lease can take it in between; a running one only gets `cancelRequestedAt` (the
 * first request's time), and its worker ends it. → ok, 0 for unknown, or ok, now, outcome, record.
 */
export const CANCEL = new LuaScript(`${COMMON}
local id = ARGV[2]
local k = jkey(id)
local status = redis.call('HGET', k, 'status')
if not status then return {'ok', 0} end
local now = clock()
local outcome = 'finished'
if status == 'delayed' or status == 'queued' or status == 'retrying' then
  unpark(id)
  finish(id, 'cancelled', now, false)
  outcome = 'cancelled'
elseif status == 'running' then
  redis.call('HSETNX', k, 'cancelRequestedAt', now)
  redis.call('HSET', k, 'updatedAt', now)
  outcome = 'requested'
end
return {'ok', now, outcome, redis.call('HGETALL', k)}
`)

/**
 * Retry of a failed or cancelled job. ARGV: prefix, id, runAt. Invariant: only a finished job
 * (failed or cancelled) re-enters a lane, leaving the retention set in the same step; attempts,
 * outcome and timings start afresh, and the dedup key stays with it. → ok, now, record.
 */
export const RETRY = new LuaScript(`${COMMON}
local id = ARGV[2]
local k = jkey(id)
local status = redis.call('HGET', k, 'status')
if not status then return {'TIDINGS_ERR_JOB_NOT_FOUND', 'job ' .. id} end
if status ~= 'failed' and status ~= 'cancelled' then return {'TIDINGS_ERR_JOB_NOT_RETRYABLE', 'job ' .. id .. ' is ' .. status} end
local now = clock()
redis.call('HDEL', k, 'error', 'result', 'progress', 'startedAt', 'finishedAt', 'durationMs', 'cancelRequestedAt')
redis.call('HSET', k, 'attempts', 0, 'runAt', ARGV[3], 'status', tonumber(ARGV[3]) > now and 'delayed' or 'queued', 'updatedAt', now)
redis.call('ZREM', FINISHED, id)
park(id, now)
return {'ok', now, redis.call('HGETALL', k)}
`)

/** One record with the server's time (which decides whether a delayed job reads as queued). ARGV: prefix, id. Read-only. → ok, now, record. */
export const GET = new LuaScript(`${COMMON}
return {'ok', clock(), redis.call('HGETALL', jkey(ARGV[2]))}
`)

/**
 * One page of the list, newest first. ARGV: prefix, cursor ('' = newest; else the sequence to
 * start below), limit, most entries to examine, then filters: has-name, name, has-queue, queue,
 * has-user, user, tenant mode ('' any, '0' none, '1' this one), tenant, statuses (comma-separated,
 * '' = any). Examines at most the given number of entries, so a sparse filter returns a short
 * page with a cursor rather than scanning everything. Read-only. → ok, now, next cursor or nil, records.
 */
export const LIST = new LuaScript(`${COMMON}
local now = clock()
local limit = tonumber(ARGV[3])
local budget = tonumber(ARGV[4])
local wantName = ARGV[5] == '1' and ARGV[6]
local wantQueue = ARGV[7] == '1' and ARGV[8]
local wantUser = ARGV[9] == '1' and ARGV[10]
local tenantMode = ARGV[11]
local tenant = ARGV[12]
local statuses = nil
if ARGV[13] ~= '' then
  statuses = {}
  for s in string.gmatch(ARGV[13], '[^,]+') do statuses[s] = true end
end
local max = ARGV[2] == '' and '+inf' or ('(' .. ARGV[2])
local jobs = {}
local next = false
local lastIncluded = false
local scanned = 0
local finished = false
while not finished and scanned < budget do
  local page = redis.call('ZREVRANGEBYSCORE', ALL, max, '-inf', 'WITHSCORES', 'LIMIT', 0, math.min(100, budget - scanned))
  if #page == 0 then
    finished = true
    break
  end
  for i = 1, #page, 2 do
    local id = page[i]
    local seq = page[i + 1]
    scanned = scanned + 1
    max = '(' .. seq
    local f = redis.call('HMGET', jkey(id), 'name', 'queue', 'user', 'tenant', 'status', 'runAt')
    local ok = f[5] ~= false
    if ok and wantName and f[1] ~= wantName then ok = false end
    if ok and wantQueue and f[2] ~= wantQueue then ok = false end
    if ok and wantUser and f[3] ~= wantUser then ok = false end
    if ok and tenantMode == '0' and f[4] then ok = false end
    if ok and tenantMode == '1' and f[4] ~= tenant then ok = false end
    if ok and statuses then
      local st = f[5]
      if st == 'delayed' and tonumber(f[6]) <= now then st = 'queued' end
      ok = statuses[st] == true
    end
    if ok then
      if #jobs == limit then
        next = lastIncluded
        finished = true
        break
      end
      jobs[#jobs + 1] = redis.call('HGETALL', jkey(id))
      lastIncluded = seq
    end
  end
end
if not finished then next = string.sub(max, 2) end
return {'ok', now, next, jobs}
`)

/**
 * Removes finished records that finished before ARGV[2], at most ARGV[3] of them. Invariant: a
 * record and the dedup key naming it go together, and only finished records go. → ok, removed,
 * examined.
 */
export const PRUNE = new LuaScript(`${COMMON}
local ids = redis.call('ZRANGEBYSCORE', FINISHED, '-inf', '(' .. ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local removed = 0
for _, id in ipairs(ids) do
  local k = jkey(id)
  local f = redis.call('HMGET', k, 'status', 'key')
  redis.call('ZREM', FINISHED, id)
  if f[1] == 'succeeded' or f[1] == 'failed' or f[1] == 'cancelled' then
    redis.call('DEL', k)
    redis.call('ZREM', ALL, id)
    if f[2] then
      local dk = P .. ':jobs:key:' .. f[2]
      if redis.call('GET', dk) == id then redis.call('DEL', dk) end
    end
    removed = removed + 1
  end
end
return {'ok', removed, #ids}
`)

/**
 * Creates or replaces a schedule. ARGV: prefix, name, cron, has-timezone, timezone, job, payload
 * JSON, enabled ('1'/'0'), nextRunAt ('' = none). Storing what is already stored changes nothing
 * (not even the revision); any change bumps the revision and keeps lastRunAt, lastJobId and
 * createdAt. → ok, record.
 */
export const PUT_SCHEDULE = new LuaScript(`${COMMON}
local s = P .. ':schedule:' .. ARGV[2]
local old = redis.call('HMGET', s, 'cron', 'timezone', 'job', 'enabled', 'payload', 'revision')
local tz = ARGV[4] == '1' and ARGV[5] or false
local same = old[6] and old[1] == ARGV[3] and old[2] == tz and old[3] == ARGV[6] and old[4] == ARGV[8] and old[5] == ARGV[7]
if not same then
  local now = clock()
  redis.call('HSET', s, 'name', ARGV[2], 'cron', ARGV[3], 'job', ARGV[6], 'payload', ARGV[7], 'enabled', ARGV[8],
    'revision', (tonumber(old[6]) or 0) + 1, 'updatedAt', now)
  if tz then redis.call('HSET', s, 'timezone', tz) else redis.call('HDEL', s, 'timezone') end
  if ARGV[9] == '' then redis.call('HDEL', s, 'nextRunAt') else redis.call('HSET', s, 'nextRunAt', ARGV[9]) end
  redis.call('HSETNX', s, 'createdAt', now)
  redis.call('SADD', P .. ':schedules', ARGV[2])
end
return {'ok', redis.call('HGETALL', s)}
`)

/**
 * Claims one tick. ARGV: prefix, name, revision, tick, nextRunAt ('' = none), then the enqueue
 * arguments. Invariant: the check (same revision, enabled, tick later than lastRunAt), the enqueue
 * and the move of lastRunAt happen in one step, so of any number of claims of a tick one wins.
 * → ok, 0 when nothing was enqueued, else ok, now, record.
 */
export const CLAIM_TICK = new LuaScript(`${COMMON}${ENQUEUE_FUNCTION}
local s = P .. ':schedule:' .. ARGV[2]
local f = redis.call('HMGET', s, 'revision', 'enabled', 'lastRunAt')
if not f[1] or tonumber(f[1]) ~= tonumber(ARGV[3]) or f[2] ~= '1' then return {'ok', 0} end
if f[3] and tonumber(f[3]) >= tonumber(ARGV[4]) then return {'ok', 0} end
local now = clock()
local id, created = enqueue(now, 6)
if not id then return {'TIDINGS_ERR_INTERNAL', 'duplicate job id ' .. ARGV[6]} end
redis.call('HSET', s, 'lastRunAt', ARGV[4], 'lastJobId', id, 'updatedAt', now)
if ARGV[5] == '' then redis.call('HDEL', s, 'nextRunAt') else redis.call('HSET', s, 'nextRunAt', ARGV[5]) end
if not created then return {'ok', 0} end
return {'ok', now, redis.call('HGETALL', jkey(id))}
`)

/** Every schedule, read in one step. ARGV: prefix. → ok, records. */
export const LIST_SCHEDULES = new LuaScript(`${COMMON}
local out = {}
for _, name in ipairs(redis.call('SMEMBERS', P .. ':schedules')) do
  local h = redis.call('HGETALL', P .. ':schedule:' .. name)
  if #h > 0 then out[#out + 1] = h end
end
return {'ok', out}
`)

/** Deletes a schedule. ARGV: prefix, name. Invariant: the hash and the set of names change together. → ok, 1 when it existed. */
export const DELETE_SCHEDULE = new LuaScript(`${COMMON}
local existed = redis.call('DEL', P .. ':schedule:' .. ARGV[2])
redis.call('SREM', P .. ':schedules', ARGV[2])
return {'ok', existed}
`)

/** Every job script, for loading at connect time. */
export const JOB_SCRIPTS: readonly LuaScript[] = [
  ENQUEUE,
  LEASE,
  WAIT_INFO,
  HEARTBEAT,
  SET_PROGRESS,
  COMPLETE,
  FAIL,
  CONFIRM_CANCEL,
  RELEASE,
  CANCEL,
  RETRY,
  GET,
  LIST,
  PRUNE,
  PUT_SCHEDULE,
  CLAIM_TICK,
  LIST_SCHEDULES,
  DELETE_SCHEDULE,
]
