/**
 * The Redis {@link WebhookStore}: endpoints, dispatch claims, cursors, deliveries and the attempt
 * log under the engine's prefix. A record is a hash of JSON-encoded fields, so a script changes
 * fields without decoding the record (and an event's body keeps its key order). Every change is
 * one Lua script, hence atomic across every process sharing the prefix: the (endpoint, event)
 * index and the delivery are written together, a claim is a compare-and-set, an attempt and its
 * delivery's counters change in one step.
 *
 * ioredis is an optional peer dependency, imported when the store first connects.
 */
import type { Redis, RedisOptions } from 'ioredis'
import { loadRedisClass } from './client.js'
import { TidingsError } from '../../core/errors.js'
import type { TidingsEvent } from '../../core/envelope.js'
import { createLogger, type Logger } from '../../core/logger.js'
import type { DisabledReason, EndpointHealth, WebhookEndpoint } from '../../webhooks/endpoints.js'
import type {
  AttemptOutcome,
  AttemptTrigger,
  DeliveryChange,
  DeliveryPage,
  DeliveryQuery,
  DeliveryStatus,
  EndpointChange,
  EndpointQuery,
  NewDelivery,
  WebhookAttempt,
  WebhookDelivery,
  WebhookStore,
  WebhookStoreCapabilities,
} from '../../webhooks/store.js'
import { DEFAULT_REDIS_PREFIX, DEFAULT_REDIS_URL } from './event-log.js'
import { LuaScript } from './scripts.js'

/** Default most deliveries kept per endpoint; the oldest finished ones go first. */
export const DEFAULT_REDIS_DELIVERIES_PER_ENDPOINT = 10_000
/** Default most attempts kept per delivery; the oldest go first. */
export const DEFAULT_REDIS_ATTEMPTS_PER_DELIVERY = 100
/** Most of an endpoint's oldest deliveries one `createDelivery` examines when trimming. */
const TRIM_SCAN = 100
/** Deliveries read per round trip while listing. */
const LIST_BATCH = 100

const PREFIX_RE = /^[A-Za-z0-9_:.{}-]{1,100}$/
/** Hash fields of an endpoint that hold its health, one per health field. */
const HEALTH = 'h:'

/** Options of {@link RedisWebhookStore}. */
export interface RedisWebhookStoreOptions {
  /** An ioredis client to use (it stays yours: `close()` does not quit it). */
  client?: Redis
  /** Redis URL, when no `client` is given. @defaultValue `process.env.REDIS_URL`, else {@link DEFAULT_REDIS_URL} */
  url?: string
  /** ioredis options for the client the store creates (ignored with `client`). */
  redis?: RedisOptions
  /**
   * Prefix of every key; the same as the event log's and job queue's is fine (the store's keys sit
   * under `{prefix}:wh:`). Use a hash tag (`{tidings}`) on Redis Cluster. @defaultValue {@link DEFAULT_REDIS_PREFIX}
   */
  prefix?: string
  /** Name the store's connection carries in `CLIENT LIST`: `{clientName}:webhooks`. @defaultValue the prefix */
  clientName?: string
  /** Most deliveries kept per endpoint; the oldest finished ones go first. @defaultValue {@link DEFAULT_REDIS_DELIVERIES_PER_ENDPOINT} */
  deliveriesPerEndpoint?: number
  /** Most attempts kept per delivery; the oldest go first. @defaultValue {@link DEFAULT_REDIS_ATTEMPTS_PER_DELIVERY} */
  attemptsPerDelivery?: number
  /** Where connection errors go. @defaultValue a pino logger at `TIDINGS_LOG_LEVEL` */
  logger?: Logger
}

/** The keys one webhook store uses. */
export interface RedisWebhookKeys {
  /** Every endpoint id, scored by creation order (sorted set). */
  readonly endpoints: string
  /** The creation-order counter of endpoints and deliveries. */
  readonly seq: string
  /** An endpoint (hash of JSON fields; health under `h:`). */
  endpoint(id: string): string
  /** An endpoint's dispatch claim (hash: `holder`, `expiresAt`). */
  claim(id: string): string
  /** An endpoint's deliveries, scored by creation order (sorted set). */
  deliveries(endpointId: string): string
  /** An endpoint's event id → delivery id (hash). */
  events(endpointId: string): string
  /** A delivery (hash of JSON fields). */
  delivery(id: string): string
  /** A delivery's attempts, oldest first (list of JSON). */
  attempts(deliveryId: string): string
}

/** The keys of the webhook store with this prefix. Scripts build the same names from `ARGV[1]`. */
export function redisWebhookKeys(prefix: string): RedisWebhookKeys {
  const p = `${prefix}:wh`
  return {
    endpoints: `${p}:endpoints`,
    seq: `${p}:seq`,
    endpoint: (id) => `${p}:ep:${id}`,
    claim: (id) => `${p}:claim:${id}`,
    deliveries: (id) => `${p}:dls:${id}`,
    events: (id) => `${p}:events:${id}`,
    delivery: (id) => `${p}:dl:${id}`,
    attempts: (id) => `${p}:at:${id}`,
  }
}

/** `HSET key ARGV[from..]` pairs, as a Lua helper. */
const HSET_FROM = `
local function hsetFrom(key, from)
  for i = from, #ARGV, 2 do redis.call('HSET', key, ARGV[i], ARGV[i + 1]) end
end
`

/** KEYS: endpoints index, seq, endpoint. ARGV: prefix, id, then field pairs. Replaces any record of that id. */
const INSERT_ENDPOINT = new LuaScript(`${HSET_FROM}
redis.call('DEL', KEYS[3])
hsetFrom(KEYS[3], 3)
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  redis.call('ZADD', KEYS[1], redis.call('INCR', KEYS[2]), ARGV[2])
end
return 1
`)

/** KEYS: endpoint. ARGV: prefix, updatedAt (JSON), then field pairs. The record, or nil when unknown. */
const UPDATE_ENDPOINT = new LuaScript(`${HSET_FROM}
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
hsetFrom(KEYS[1], 3)
redis.call('HSET', KEYS[1], 'updatedAt', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'revision', 1)
return redis.call('HGETALL', KEYS[1])
`)

/** KEYS: endpoint. ARGV: prefix, at (JSON), reason (JSON). The record when this call disabled it, else nil. */
const DISABLE_ENDPOINT = new LuaScript(`
if redis.call('HGET', KEYS[1], 'enabled') ~= 'true' then return false end
redis.call('HSET', KEYS[1], 'enabled', 'false', '${HEALTH}disabledAt', ARGV[2], '${HEALTH}disabledReason', ARGV[3], 'updatedAt', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'revision', 1)
return redis.call('HGETALL', KEYS[1])
`)

/** KEYS: endpoints index, endpoint, claim, deliveries, events. ARGV: prefix, id. 1 when it existed. */
const DELETE_ENDPOINT = new LuaScript(`
local existed = redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[3])
local ids = redis.call('ZRANGE', KEYS[4], 0, -1)
for _, id in ipairs(ids) do
  redis.call('DEL', ARGV[1] .. ':wh:dl:' .. id, ARGV[1] .. ':wh:at:' .. id)
end
redis.call('DEL', KEYS[4], KEYS[5])
return existed
`)

/** KEYS: endpoint. ARGV: prefix, ok (1/0), status, at (JSON). The record, or nil when unknown. */
const RECORD_OUTCOME = new LuaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], '${HEALTH}lastSuccessAt', ARGV[4], '${HEALTH}lastStatus', ARGV[3], '${HEALTH}failureStreak', '0', '${HEALTH}failingSince', 'null')
else
  redis.call('HSET', KEYS[1], '${HEALTH}lastFailureAt', ARGV[4], '${HEALTH}lastStatus', ARGV[3])
  redis.call('HINCRBY', KEYS[1], '${HEALTH}failureStreak', 1)
  local since = redis.call('HGET', KEYS[1], '${HEALTH}failingSince')
  if not since or since == 'null' then redis.call('HSET', KEYS[1], '${HEALTH}failingSince', ARGV[4]) end
end
return redis.call('HGETALL', KEYS[1])
`)

/** KEYS: endpoint, claim. ARGV: prefix, holder, now (ms), expiry (ms). 1 when the holder has the claim now. */
const CLAIM = new LuaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local c = redis.call('HMGET', KEYS[2], 'holder', 'expiresAt')
if c[1] and c[1] ~= ARGV[2] and tonumber(c[2]) > tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[2], 'holder', ARGV[2], 'expiresAt', ARGV[4])
return 1
`)

/** KEYS: claim. ARGV: prefix, holder. */
const RELEASE = new LuaScript(`
if redis.call('HGET', KEYS[1], 'holder') == ARGV[2] then redis.call('DEL', KEYS[1]) end
return 1
`)

/** KEYS: endpoint, claim. ARGV: prefix, holder, cursor (JSON), at (JSON). 1 when stored. */
const SAVE_CURSOR = new LuaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HGET', KEYS[2], 'holder') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'cursor', ARGV[3], 'updatedAt', ARGV[4])
return 1
`)

/**
 * KEYS: endpoint, events, deliveries, seq, delivery. ARGV: prefix, eventId, deliveryId, max
 * deliveries, trim scan, then field pairs. `{created, record}`; `{-1}` when the endpoint is unknown.
 */
const CREATE_DELIVERY = new LuaScript(`${HSET_FROM}
local known = redis.call('HGET', KEYS[2], ARGV[2])
if known then return { 0, redis.call('HGETALL', ARGV[1] .. ':wh:dl:' .. known) } end
if redis.call('EXISTS', KEYS[1]) == 0 then return { -1 } end
hsetFrom(KEYS[5], 6)
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[4]), ARGV[3])
local excess = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[4])
if excess > 0 then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[3], 0, tonumber(ARGV[5]) - 1)) do
    if excess <= 0 then break end
    local key = ARGV[1] .. ':wh:dl:' .. id
    local f = redis.call('HMGET', key, 'status', 'eventId')
    if f[1] ~= '"pending"' then
      if f[2] then redis.call('HDEL', KEYS[2], cjson.decode(f[2])) end
      redis.call('DEL', key, ARGV[1] .. ':wh:at:' .. id)
      redis.call('ZREM', KEYS[3], id)
      excess = excess - 1
    end
  end
end
return { 1, redis.call('HGETALL', KEYS[5]) }
`)

/** KEYS: delivery. ARGV: prefix, updatedAt (JSON), addRuns, then field pairs. The record, or nil when unknown. */
const UPDATE_DELIVERY = new LuaScript(`${HSET_FROM}
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
hsetFrom(KEYS[1], 4)
if tonumber(ARGV[3]) ~= 0 then redis.call('HINCRBY', KEYS[1], 'runs', ARGV[3]) end
redis.call('HSET', KEYS[1], 'updatedAt', ARGV[2])
return redis.call('HGETALL', KEYS[1])
`)

/**
 * KEYS: delivery, attempts. ARGV: prefix, updatedAt (JSON), addRuns, attempt JSON (an object
 * without `attempt`), max attempts, then field pairs. `{number, record}`, or nil when unknown.
 */
const RECORD_ATTEMPT = new LuaScript(`${HSET_FROM}
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local n = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
hsetFrom(KEYS[1], 6)
if tonumber(ARGV[3]) ~= 0 then redis.call('HINCRBY', KEYS[1], 'runs', ARGV[3]) end
redis.call('HSET', KEYS[1], 'updatedAt', ARGV[2])
redis.call('RPUSH', KEYS[2], '{"attempt":' .. n .. ',' .. string.sub(ARGV[4], 2))
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[5]), -1)
return { n, redis.call('HGETALL', KEYS[1]) }
`)

const SCRIPTS: readonly LuaScript[] = [INSERT_ENDPOINT, UPDATE_ENDPOINT, DISABLE_ENDPOINT, DELETE_ENDPOINT, RECORD_OUTCOME, CLAIM, RELEASE, SAVE_CURSOR, CREATE_DELIVERY, UPDATE_DELIVERY, RECORD_ATTEMPT]

type Fields = ReadonlyMap<string, string>

function fieldsOf(reply: unknown): Fields {
  if (!Array.isArray(reply)) throw new TidingsError('TIDINGS_ERR_INTERNAL', { detail: 'unexpected reply from a Redis webhook script' })
  const map = new Map<string, string>()
  for (let i = 0; i + 1 < reply.length; i += 2) map.set(String(reply[i]), String(reply[i + 1]))
  return map
}

function hashOf(reply: Record<string, string>): Fields {
  return new Map(Object.entries(reply))
}

/** Field pairs of a change: absent (undefined) fields are skipped, the rest JSON-encoded. */
function pairs(fields: object, keyPrefix = ''): string[] {
  const out: string[] = []
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out.push(`${keyPrefix}${k}`, JSON.stringify(v))
  return out
}

function endpointOf(f: Fields): WebhookEndpoint {
  const record: Record<string, unknown> = {}
  const health: Record<string, unknown> = {}
  for (const [k, v] of f) {
    if (k.startsWith(HEALTH)) health[k.slice(HEALTH.length)] = JSON.parse(v)
    else record[k] = JSON.parse(v)
  }
  record.health = health
  return record as unknown as WebhookEndpoint
}

function deliveryOf(f: Fields): WebhookDelivery {
  const json = <T>(k: string): T => JSON.parse(f.get(k) ?? 'null') as T
  return {
    id: json<string>('id'),
    endpointId: json<string>('endpointId'),
    eventId: json<string>('eventId'),
    eventType: json<string>('eventType'),
    event: json<TidingsEvent>('event'),
    status: json<DeliveryStatus>('status'),
    attempts: json<number>('attempts'),
    runs: json<number>('runs'),
    jobId: json<string | null>('jobId'),
    nextTrigger: json<AttemptTrigger>('nextTrigger'),
    lastStatus: json<number | null>('lastStatus'),
    lastAttemptAt: json<string | null>('lastAttemptAt'),
    nextAttemptAt: json<string | null>('nextAttemptAt'),
    failureReason: json<string | null>('failureReason'),
    createdAt: json<string>('createdAt'),
    updatedAt: json<string>('updatedAt'),
  }
}

function attemptOf(json: string): WebhookAttempt {
  const a = JSON.parse(json) as WebhookAttempt
  return {
    id: a.id,
    deliveryId: a.deliveryId,
    endpointId: a.endpointId,
    eventId: a.eventId,
    attempt: a.attempt,
    at: a.at,
    url: a.url,
    status: a.status,
    durationMs: a.durationMs,
    responseBody: a.responseBody,
    error: a.error,
    trigger: a.trigger,
  }
}

/** Webhook endpoints, deliveries and attempts in Redis. */
export class RedisWebhookStore implements WebhookStore {
  readonly engine = 'redis'
  readonly capabilities: WebhookStoreCapabilities = { durable: true }
  /** The prefix of every key this store uses. */
  readonly prefix: string
  /** The keys this store uses. */
  readonly keys: RedisWebhookKeys
  /** Base of the name of this store's connection. */
  readonly clientName: string
  readonly #options: RedisWebhookStoreOptions
  readonly #maxDeliveries: number
  readonly #maxAttempts: number
  readonly #logger: Logger
  #client: Redis | undefined
  #live: Redis | undefined
  #ownsClient = false
  #ready: Promise<void> | undefined
  #closed = false

  constructor(options: RedisWebhookStoreOptions = {}) {
    this.#options = options
    this.prefix = options.prefix ?? DEFAULT_REDIS_PREFIX
    this.clientName = options.clientName ?? this.prefix
    this.#maxDeliveries = options.deliveriesPerEndpoint ?? DEFAULT_REDIS_DELIVERIES_PER_ENDPOINT
    this.#maxAttempts = options.attemptsPerDelivery ?? DEFAULT_REDIS_ATTEMPTS_PER_DELIVERY
    this.#logger = options.logger ?? createLogger().child({ engine: 'redis', port: 'webhooks' })
    const invalid = (detail: string): TidingsError => new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail })
    if (!PREFIX_RE.test(this.prefix)) throw invalid('redis prefix must be 1–100 characters of [A-Za-z0-9_:.{}-]')
    if (!PREFIX_RE.test(this.clientName)) throw invalid('redis clientName must be 1–100 characters of [A-Za-z0-9_:.{}-]')
    for (const [name, value] of [['deliveriesPerEndpoint', this.#maxDeliveries], ['attemptsPerDelivery', this.#maxAttempts]] as const) {
      if (!Number.isInteger(value) || value < 1) throw invalid(`redis ${name} must be a positive integer`)
    }
    this.keys = redisWebhookKeys(this.prefix)
  }

  /** Connects and loads the scripts. Idempotent; a failed start is tried again by the next call. */
  ready(): Promise<void> {
    this.#ready ??= (async () => {
      const client = await this.#connect()
      const pipeline = client.pipeline()
      for (const s of SCRIPTS) pipeline.script('LOAD', s.lua)
      const results = await pipeline.exec()
      const failed = results?.find(([err]) => err !== null)
      if (failed) throw failed[0]
      this.#live = client
    })()
    this.#ready.catch(() => {
      this.#ready = undefined
    })
    return this.#ready
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const client = this.#client
    if (client === undefined || !this.#ownsClient) return
    try {
      await Promise.race([client.quit(), new Promise((resolve) => setTimeout(resolve, 1_000).unref())])
    } catch {
      // Already disconnected: nothing to wait for.
    } finally {
      client.disconnect()
    }
  }

  async insertEndpoint(endpoint: WebhookEndpoint): Promise<void> {
    const { health, ...rest } = endpoint
    await this.#run(INSERT_ENDPOINT, [this.keys.endpoints, this.keys.seq, this.keys.endpoint(endpoint.id)], [endpoint.id, ...pairs(rest), ...pairs(health, HEALTH)])
  }

  async getEndpoint(id: string): Promise<WebhookEndpoint | null> {
    const conn = await this.#conn()
    const f = hashOf(await conn.hgetall(this.keys.endpoint(id)))
    return f.size === 0 ? null : endpointOf(f)
  }

  async listEndpoints(query: EndpointQuery = {}): Promise<WebhookEndpoint[]> {
    const conn = await this.#conn()
    const ids = await conn.zrange(this.keys.endpoints, '0', '-1')
    const out: WebhookEndpoint[] = []
    for (let i = 0; i < ids.length; i += LIST_BATCH) {
      const pipeline = conn.pipeline()
      for (const id of ids.slice(i, i + LIST_BATCH)) pipeline.hgetall(this.keys.endpoint(id))
      for (const [err, reply] of (await pipeline.exec()) ?? []) {
        if (err !== null) throw err
        const f = hashOf(reply as Record<string, string>)
        if (f.size === 0) continue
        const e = endpointOf(f)
        if ((query.tenant === undefined || e.tenant === query.tenant) && (query.enabled === undefined || e.enabled === query.enabled)) out.push(e)
      }
    }
    return out
  }

  async updateEndpoint(id: string, change: EndpointChange, at: Date): Promise<WebhookEndpoint | null> {
    const { health, ...config } = change
    const reply = await this.#run(UPDATE_ENDPOINT, [this.keys.endpoint(id)], [JSON.stringify(at.toISOString()), ...pairs(config), ...pairs(health ?? {}, HEALTH)])
    return reply === null ? null : endpointOf(fieldsOf(reply))
  }

  async disableEndpoint(id: string, reason: DisabledReason, at: Date): Promise<WebhookEndpoint | null> {
    const reply = await this.#run(DISABLE_ENDPOINT, [this.keys.endpoint(id)], [JSON.stringify(at.toISOString()), JSON.stringify(reason)])
    return reply === null ? null : endpointOf(fieldsOf(reply))
  }

  async deleteEndpoint(id: string): Promise<boolean> {
    const k = this.keys
    const reply = await this.#run(DELETE_ENDPOINT, [k.endpoints, k.endpoint(id), k.claim(id), k.deliveries(id), k.events(id)], [id])
    return reply === 1
  }

  async recordOutcome(id: string, outcome: AttemptOutcome): Promise<EndpointHealth | null> {
    const reply = await this.#run(RECORD_OUTCOME, [this.keys.endpoint(id)], [outcome.ok ? '1' : '0', JSON.stringify(outcome.status), JSON.stringify(outcome.at.toISOString())])
    return reply === null ? null : { ...endpointOf(fieldsOf(reply)).health }
  }

  async claimEndpoint(id: string, holder: string, leaseMs: number, at: Date): Promise<boolean> {
    const reply = await this.#run(CLAIM, [this.keys.endpoint(id), this.keys.claim(id)], [holder, at.getTime(), at.getTime() + Math.max(0, Math.round(leaseMs))])
    return reply === 1
  }

  async releaseEndpoint(id: string, holder: string): Promise<void> {
    await this.#run(RELEASE, [this.keys.claim(id)], [holder])
  }

  async saveCursor(id: string, holder: string, cursor: string, at: Date): Promise<boolean> {
    const reply = await this.#run(SAVE_CURSOR, [this.keys.endpoint(id), this.keys.claim(id)], [holder, JSON.stringify(cursor), JSON.stringify(at.toISOString())])
    return reply === 1
  }

  async createDelivery(input: NewDelivery): Promise<{ delivery: WebhookDelivery; created: boolean }> {
    const at = JSON.stringify(input.at.toISOString())
    const e = input.event
    const fields = [
      'id', JSON.stringify(input.id),
      'endpointId', JSON.stringify(input.endpointId),
      'eventId', JSON.stringify(e.id),
      'eventType', JSON.stringify(e.type),
      'event', JSON.stringify(e),
      'status', JSON.stringify('pending'),
      'attempts', '0',
      'runs', '1',
      'jobId', 'null',
      'nextTrigger', JSON.stringify(input.trigger),
      'lastStatus', 'null',
      'lastAttemptAt', 'null',
      'nextAttemptAt', 'null',
      'failureReason', 'null',
      'createdAt', at,
      'updatedAt', at,
    ]
    const k = this.keys
    const reply = await this.#run(
      CREATE_DELIVERY,
      [k.endpoint(input.endpointId), k.events(input.endpointId), k.deliveries(input.endpointId), k.seq, k.delivery(input.id)],
      [e.id, input.id, this.#maxDeliveries, TRIM_SCAN, ...fields],
    )
    if (!Array.isArray(reply)) throw new TidingsError('TIDINGS_ERR_INTERNAL', { detail: 'unexpected reply from a Redis webhook script' })
    if (reply[0] === -1) throw new TidingsError('TIDINGS_ERR_WEBHOOK_NOT_FOUND', { detail: `no webhook endpoint ${input.endpointId} to deliver ${e.id} to` })
    return { delivery: deliveryOf(fieldsOf(reply[1])), created: reply[0] === 1 }
  }

  async getDelivery(id: string): Promise<WebhookDelivery | null> {
    const conn = await this.#conn()
    const f = hashOf(await conn.hgetall(this.keys.delivery(id)))
    return f.size === 0 ? null : deliveryOf(f)
  }

  async findDelivery(endpointId: string, eventId: string): Promise<WebhookDelivery | null> {
    const conn = await this.#conn()
    const id = await conn.hget(this.keys.events(endpointId), eventId)
    return id === null ? null : this.getDelivery(id)
  }

  async updateDelivery(id: string, change: DeliveryChange, at: Date): Promise<WebhookDelivery | null> {
    const { addRuns, ...fields } = change
    const reply = await this.#run(UPDATE_DELIVERY, [this.keys.delivery(id)], [JSON.stringify(at.toISOString()), addRuns ?? 0, ...pairs(fields)])
    return reply === null ? null : deliveryOf(fieldsOf(reply))
  }

  async listDeliveries(endpointId: string, query: DeliveryQuery): Promise<DeliveryPage> {
    const conn = await this.#conn()
    const index = this.keys.deliveries(endpointId)
    let max = '+inf'
    if (query.cursor !== undefined && query.cursor !== null) {
      const score = await conn.zscore(index, query.cursor)
      if (score === null) return { deliveries: [], next: null }
      max = `(${score}`
    }
    const since = query.since?.toISOString()
    const out: WebhookDelivery[] = []
    let more = false
    scan: for (;;) {
      const batch = await conn.zrevrangebyscore(index, max, '-inf', 'WITHSCORES', 'LIMIT', 0, LIST_BATCH)
      if (batch.length === 0) break
      const pipeline = conn.pipeline()
      for (let i = 0; i < batch.length; i += 2) pipeline.hgetall(this.keys.delivery(batch[i]!))
      const rows = (await pipeline.exec()) ?? []
      for (let i = 0; i < rows.length; i++) {
        const [err, reply] = rows[i]!
        if (err !== null) throw err
        max = `(${batch[2 * i + 1]!}`
        const f = hashOf(reply as Record<string, string>)
        if (f.size === 0) continue
        const d = deliveryOf(f)
        if (since !== undefined && d.createdAt < since) break scan
        if (out.length >= query.limit) {
          more = true
          break scan
        }
        if (query.status === undefined || d.status === query.status) out.push(d)
      }
      if (batch.length < 2 * LIST_BATCH) break
    }
    return { deliveries: out, next: more && out.length > 0 ? out.at(-1)!.id : null }
  }

  async recordAttempt(attempt: Omit<WebhookAttempt, 'attempt'>, change: DeliveryChange): Promise<{ attempt: WebhookAttempt; delivery: WebhookDelivery } | null> {
    const { addRuns, ...fields } = change
    const reply = await this.#run(
      RECORD_ATTEMPT,
      [this.keys.delivery(attempt.deliveryId), this.keys.attempts(attempt.deliveryId)],
      [JSON.stringify(new Date(attempt.at).toISOString()), addRuns ?? 0, JSON.stringify(attempt), this.#maxAttempts, ...pairs(fields)],
    )
    if (reply === null) return null
    if (!Array.isArray(reply)) throw new TidingsError('TIDINGS_ERR_INTERNAL', { detail: 'unexpected reply from a Redis webhook script' })
    return { attempt: { ...attempt, attempt: Number(reply[0]) }, delivery: deliveryOf(fieldsOf(reply[1])) }
  }

  async listAttempts(deliveryId: string): Promise<WebhookAttempt[]> {
    const conn = await this.#conn()
    return (await conn.lrange(this.keys.attempts(deliveryId), 0, -1)).map(attemptOf)
  }

  async #run(script: LuaScript, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    return script.run(await this.#conn(), keys, [this.prefix, ...args])
  }

  async #conn(): Promise<Redis> {
    if (this.#closed) throw new TidingsError('TIDINGS_ERR_CLOSED', { detail: 'the webhook store is closed' })
    if (this.#live === undefined) await this.ready()
    if (this.#closed) throw new TidingsError('TIDINGS_ERR_CLOSED', { detail: 'the webhook store is closed' })
    return this.#live!
  }

  async #connect(): Promise<Redis> {
    if (this.#closed) throw new TidingsError('TIDINGS_ERR_CLOSED', { detail: 'the webhook store is closed' })
    if (this.#client !== undefined) return this.#client
    if (this.#options.client !== undefined) {
      this.#client = this.#options.client
      return this.#client
    }
    const RedisClient = await loadRedisClass()
    if (this.#client !== undefined) return this.#client
    const url = this.#options.url ?? process.env.REDIS_URL ?? DEFAULT_REDIS_URL
    const client = new RedisClient(url, { connectionName: `${this.clientName}:webhooks`, ...this.#options.redis })
    client.on('error', (err: unknown) => this.#logger.debug({ err }, 'redis webhook store connection error'))
    this.#client = client
    this.#ownsClient = true
    return client
  }
}
