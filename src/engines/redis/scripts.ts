/**
 * The Lua the Redis engine runs, and how it runs it: `EVALSHA`, falling back to `EVAL` when the
 * server has lost its script cache (a restart, `SCRIPT FLUSH`). Every multi-step change of the log
 * is one script, so Redis applies it atomically: a batch never interleaves with another, and the
 * trim marker never disagrees with the stream.
 */
import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'

/** The stream field that holds an event's envelope JSON; part of the wire contract. */
export const EVENT_FIELD = 'event'

/** One script, addressed by its SHA-1. */
export class LuaScript {
  readonly sha: string

  constructor(readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex')
  }

  /**
   * Runs the script. The command is issued synchronously, so calls made in order reach Redis in
   * order on one connection.
   */
  async run(conn: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await conn.evalsha(this.sha, keys.length, ...keys, ...args)
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err
      return conn.eval(this.lua, keys.length, ...keys, ...args)
    }
  }
}

/**
 * Removes the oldest entries past `maxEvents` or older than `maxAgeMs` (by the server's clock, the
 * clock `*` ids are made of), at most `cap` per call, and records the newest id removed in the
 * trim marker. Exact trimming, not `~`: the marker must name the last entry actually removed, which
 * is what makes loss reporting exact (XINFO's max-deleted-entry-id does not follow trimming).
 */
const TRIM_FUNCTION = `
local function trim(stream, trimmed, maxEvents, maxAgeMs, cap)
  local victims = {}
  if maxAgeMs > 0 then
    local t = redis.call('TIME')
    local cutoff = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - maxAgeMs
    if cutoff > 0 then
      victims = redis.call('XRANGE', stream, '-', '(' .. string.format('%.0f', cutoff) .. '-0', 'COUNT', cap)
    end
  end
  local excess = redis.call('XLEN', stream) - maxEvents
  if excess > cap then excess = cap end
  if #victims < excess then victims = redis.call('XRANGE', stream, '-', '+', 'COUNT', excess) end
  if #victims == 0 then return 0 end
  local last = victims[#victims][1]
  redis.call('XTRIM', stream, 'MINID', last)
  redis.call('XDEL', stream, last)
  redis.call('SET', trimmed, last)
  return #victims
end
`

/**
 * Appends a batch. KEYS: stream, epoch, trim marker, and optionally a dedup key. ARGV: epoch to
 * create if none exists, maxEvents, maxAgeMs, trim cap, dedup TTL in seconds, then the envelopes.
 * Returns `[epoch, id1, id2, …]`: the epoch the events were appended in, then their ids. With a
 * dedup key that already exists, appends nothing and returns false.
 */
export const APPEND = new LuaScript(`${TRIM_FUNCTION}
if #KEYS > 3 and not redis.call('SET', KEYS[4], '1', 'NX', 'EX', ARGV[5]) then return false end
local out = { redis.call('SET', KEYS[2], ARGV[1], 'NX', 'GET') or ARGV[1] }
for i = 6, #ARGV do
  out[#out + 1] = redis.call('XADD', KEYS[1], '*', '${EVENT_FIELD}', ARGV[i])
end
trim(KEYS[1], KEYS[3], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
return out
`)

/** Trims only (for logs written by other processes). KEYS: stream, trim marker. ARGV: maxEvents, maxAgeMs, cap. */
export const TRIM = new LuaScript(`${TRIM_FUNCTION}
return trim(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
`)

/**
 * One consistent page: `[epoch|false, trim marker|false, id1, json1|false, id2, …]`. KEYS: stream,
 * epoch, trim marker. ARGV: XRANGE start (`-` or `(id`), count.
 */
export const READ = new LuaScript(`
local out = { redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3]) }
local range = redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', ARGV[2])
for _, e in ipairs(range) do
  local json = false
  local f = e[2]
  for j = 1, #f, 2 do
    if f[j] == '${EVENT_FIELD}' then
      json = f[j + 1]
      break
    end
  end
  out[#out + 1] = e[1]
  out[#out + 1] = json
end
return out
`)

/** The newest id: the last entry's, or the trim marker when every entry was trimmed. KEYS: stream, trim marker. */
export const HEAD = new LuaScript(`
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #last > 0 then return last[1][1] end
return redis.call('GET', KEYS[2])
`)

/** Every script, for loading at connect time. */
export const ALL_SCRIPTS: readonly LuaScript[] = [APPEND, TRIM, READ, HEAD]
