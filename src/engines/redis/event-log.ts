/**
 * The Redis `EventLog` (DESIGN §2): one Stream per log. Positions are stream ids (`ms-seq`); the
 * epoch lives in a key beside the stream; a trim marker records the newest id retention removed, so
 * a reader behind it is told it lost events. Every change is one Lua script, hence atomic. Each
 * tail blocks in `XREAD` on a connection of its own and reads its pages with a script that returns
 * entries, epoch and marker together, so it can never step over a gap or into a new epoch unseen.
 *
 * ioredis is an optional peer dependency, imported when a log first connects.
 */
import { randomBytes } from 'node:crypto'
import type { Redis, RedisOptions } from 'ioredis'
import { isEnvelope, normalizeEvent, serializeEvent, type TidingsEvent } from '../../core/envelope.js'
import { loadRedisClass } from './client.js'
import { TidingsError, isTidingsError } from '../../core/errors.js'
import type { AppendResult, EventLog, EventLogCapabilities, LogEntry, ReadOptions, ReadResult, RetentionOptions } from '../../core/event-log.js'
import { createLogger, type Logger } from '../../core/logger.js'
import { ALL_SCRIPTS, APPEND, HEAD, READ, TRIM } from './scripts.js'

/** Where the engine connects when neither `client`, `url` nor `REDIS_URL` says otherwise. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379'
/** Default prefix of every key the engine writes. */
export const DEFAULT_REDIS_PREFIX = 'tidings'
/** Default most events the stream keeps. */
export const DEFAULT_REDIS_MAX_EVENTS = 100_000
/** Default age after which events are trimmed: one day. */
export const DEFAULT_REDIS_MAX_AGE_MS = 24 * 60 * 60 * 1000
/** Default most entries one tail batch carries. */
export const DEFAULT_REDIS_TAIL_BATCH = 1_000
/** Default longest `XREAD BLOCK`; also how soon an idle tail notices a vanished log. */
export const DEFAULT_REDIS_BLOCK_MS = 5_000
/** Default most entries one append (or trim) removes; a larger backlog is trimmed over later calls. */
export const DEFAULT_REDIS_TRIM_BATCH = 1_000
/** Default interval at which each tail trims, for logs that other processes append to. */
export const DEFAULT_REDIS_TRIM_INTERVAL_MS = 30_000
/** Default first pause before a tail retries after a Redis error; it doubles up to {@link MAX_TAIL_RETRY_MS}. */
export const DEFAULT_REDIS_TAIL_RETRY_MS = 100
/** Longest pause between a tail's retries. */
const MAX_TAIL_RETRY_MS = 5_000

const POSITION_RE = /^(0|[1-9][0-9]{0,19})-(0|[1-9][0-9]{0,19})$/
const EPOCH_RE = /^[A-Za-z0-9_-]{1,40}$/
const PREFIX_RE = /^[A-Za-z0-9_:.{}-]{1,100}$/

/** Options of {@link RedisEventLog}. */
export interface RedisEventLogOptions extends RetentionOptions {
  /**
   * An ioredis client to use (it stays yours: `close()` does not quit it). Tails and the ingester
   * open their own connections with `client.duplicate()`.
   */
  client?: Redis
  /** Redis URL, when no `client` is given. @defaultValue `process.env.REDIS_URL`, else {@link DEFAULT_REDIS_URL} */
  url?: string
  /** ioredis options for the client the log creates (ignored with `client`). */
  redis?: RedisOptions
  /** Prefix of every key; use a hash tag (`{tidings}`) on Redis Cluster. @defaultValue {@link DEFAULT_REDIS_PREFIX} */
  prefix?: string
  /**
   * Names this log's connections carry in `CLIENT LIST`: `{clientName}:log`, `:tail` and `:ingest`.
   * @defaultValue the prefix
   */
  clientName?: string
  /** Keep at most this many events. @defaultValue {@link DEFAULT_REDIS_MAX_EVENTS} */
  maxEvents?: number
  /** Trim events older than this many milliseconds (by the Redis server's clock). @defaultValue {@link DEFAULT_REDIS_MAX_AGE_MS} */
  maxAgeMs?: number
  /** Most entries per tail batch. @defaultValue {@link DEFAULT_REDIS_TAIL_BATCH} */
  tailBatchSize?: number
  /** Longest `XREAD BLOCK`, in milliseconds. @defaultValue {@link DEFAULT_REDIS_BLOCK_MS} */
  blockMs?: number
  /** Most entries one call trims. @defaultValue {@link DEFAULT_REDIS_TRIM_BATCH} */
  trimBatchSize?: number
  /** How often each tail trims, in milliseconds. @defaultValue {@link DEFAULT_REDIS_TRIM_INTERVAL_MS} */
  trimIntervalMs?: number
  /** First pause before a tail retries after a Redis error. @defaultValue {@link DEFAULT_REDIS_TAIL_RETRY_MS} */
  tailRetryMs?: number
  /** Where warnings go (skipped entries, tail retries). @defaultValue a pino logger at `TIDINGS_LOG_LEVEL` */
  logger?: Logger
}

/** The keys one log uses. */
export interface RedisLogKeys {
  /** The Stream of events. */
  readonly stream: string
  /** The epoch (a string key). */
  readonly epoch: string
  /** The newest stream id that retention removed (absent until the first trim). */
  readonly trimmed: string
  /** The dedup key of an event id, for appends that must happen once. */
  ingested(eventId: string): string
}

/** The keys of the log with this prefix. */
export function redisLogKeys(prefix: string): RedisLogKeys {
  return {
    stream: `${prefix}:events`,
    epoch: `${prefix}:epoch`,
    trimmed: `${prefix}:trimmed`,
    ingested: (id) => `${prefix}:ingested:${id}`,
  }
}

/** Compares two canonical decimal strings (no leading zeros). */
function compareDigits(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length
  return a < b ? -1 : a > b ? 1 : 0
}

function splitPosition(position: string): [string, string] {
  if (!POSITION_RE.test(position)) {
    throw new TidingsError('TIDINGS_ERR_INVALID_CURSOR', { detail: `${JSON.stringify(position.slice(0, 40))} is not a Redis stream id` })
  }
  const dash = position.indexOf('-')
  return [position.slice(0, dash), position.slice(dash + 1)]
}

/** Compares two stream ids numerically, part by part. */
export function compareStreamIds(a: string, b: string): number {
  const [am, as] = splitPosition(a)
  const [bm, bs] = splitPosition(b)
  return compareDigits(am, bm) || compareDigits(as, bs)
}

/** `epoch` when it is one; else the key holding it was written by something else. */
function checkEpoch(epoch: string, key: string): string {
  if (!EPOCH_RE.test(epoch)) {
    throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: `the Redis key ${key} holds ${JSON.stringify(epoch.slice(0, 60))}, not an epoch; delete it` })
  }
  return epoch
}

/** This process's part of every epoch it proposes; a counter makes each proposal unique. */
const EPOCH_STEM = randomBytes(9).toString('base64url')
let epochCounter = 0

/**
 * A fresh epoch to propose when the log has none. Every append proposes one (`SET NX`, a no-op while
 * an epoch exists), so it must cost no system call: a random stem per process and a counter, never
 * the same string twice, so a log recreated by this very process still gets a new epoch.
 */
function newEpoch(): string {
  return `${EPOCH_STEM}${(epochCounter++).toString(36)}`
}

/** One page as the READ script returns it. */
interface Page {
  readonly epoch: string | null
  readonly trimmed: string | null
  readonly entries: LogEntry[]
  /** Position of the last stream entry in the page, decodable or not. */
  readonly last: string | null
}

/** An EventLog on a Redis Stream. */
export class RedisEventLog implements EventLog {
  readonly engine = 'redis'
  readonly capabilities: EventLogCapabilities = { filteredRead: false, durable: true }
  readonly origin = '0-0'
  /** The prefix of every key this log uses. */
  readonly prefix: string
  /** The keys this log uses. */
  readonly keys: RedisLogKeys
  /** Base of the names of this log's connections. */
  readonly clientName: string
  readonly #options: RedisEventLogOptions
  readonly #maxEvents: number
  readonly #maxAgeMs: number
  readonly #tailBatch: number
  readonly #blockMs: number
  readonly #trimBatch: number
  readonly #trimIntervalMs: number
  readonly #tailRetryMs: number
  readonly #logger: Logger
  #client: Redis | undefined
  /** Set once {@link ready} resolved: the client with its scripts loaded and an epoch known. */
  #live: Redis | undefined
  #ownsClient = false
  #ready: Promise<void> | undefined
  /** The epoch this instance last reported; readers compare what they find against it. */
  #epoch: string | undefined
  readonly #tails = new Set<Redis>()
  #closed = false
  #skipped = 0

  constructor(options: RedisEventLogOptions = {}) {
    this.#options = options
    this.prefix = options.prefix ?? DEFAULT_REDIS_PREFIX
    this.#maxEvents = options.maxEvents ?? DEFAULT_REDIS_MAX_EVENTS
    this.#maxAgeMs = options.maxAgeMs ?? DEFAULT_REDIS_MAX_AGE_MS
    this.#tailBatch = options.tailBatchSize ?? DEFAULT_REDIS_TAIL_BATCH
    this.#blockMs = options.blockMs ?? DEFAULT_REDIS_BLOCK_MS
    this.#trimBatch = options.trimBatchSize ?? DEFAULT_REDIS_TRIM_BATCH
    this.#trimIntervalMs = options.trimIntervalMs ?? DEFAULT_REDIS_TRIM_INTERVAL_MS
    this.#tailRetryMs = options.tailRetryMs ?? DEFAULT_REDIS_TAIL_RETRY_MS
    this.#logger = options.logger ?? createLogger().child({ engine: 'redis' })
    const invalid = (detail: string): TidingsError => new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail })
    if (!PREFIX_RE.test(this.prefix)) throw invalid('redis prefix must be 1–100 characters of [A-Za-z0-9_:.{}-]')
    for (const [name, value] of [
      ['maxEvents', this.#maxEvents],
      ['tailBatchSize', this.#tailBatch],
      ['blockMs', this.#blockMs],
      ['trimBatchSize', this.#trimBatch],
      ['trimIntervalMs', this.#trimIntervalMs],
      ['tailRetryMs', this.#tailRetryMs],
    ] as const) {
      if (!Number.isInteger(value) || value < 1) throw invalid(`redis ${name} must be a positive integer`)
    }
    if (!Number.isInteger(this.#maxAgeMs) || this.#maxAgeMs < 1) throw invalid('redis maxAgeMs must be a positive integer')
    this.keys = redisLogKeys(this.prefix)
    this.clientName = options.clientName ?? this.prefix
    if (!PREFIX_RE.test(this.clientName)) throw invalid('redis clientName must be 1–100 characters of [A-Za-z0-9_:.{}-]')
  }

  /** Entries skipped because they did not hold a valid event (each one logged). */
  get skippedEntries(): number {
    return this.#skipped
  }

  /** Connects, loads the scripts and makes sure an epoch exists. Idempotent. */
  ready(): Promise<void> {
    this.#ready ??= (async () => {
      const client = await this.#connect()
      const pipeline = client.pipeline()
      for (const s of ALL_SCRIPTS) pipeline.script('LOAD', s.lua)
      const results = await pipeline.exec()
      const failed = results?.find(([err]) => err !== null)
      if (failed) throw failed[0]
      await this.epoch()
      this.#live = client
    })()
    // A failed start (Redis down) must not stick: the next call tries again.
    this.#ready.catch(() => {
      this.#ready = undefined
    })
    return this.#ready
  }

  /**
   * The main connection, once {@link ready} resolved: appends and reads go through it. For tools that
   * share it (the pub/sub ingester duplicates it); do not close it.
   */
  async connection(): Promise<Redis> {
    return this.#live ?? this.#readyClient()
  }

  /** Reads the epoch, creating one (`SET NX`) if the log has none: a new or vanished log. */
  async epoch(): Promise<string> {
    const client = await this.#connect()
    const candidate = newEpoch()
    const existing = await client.set(this.keys.epoch, candidate, 'NX', 'GET')
    const epoch = checkEpoch(existing ?? candidate, this.keys.epoch)
    this.#epoch = epoch
    return epoch
  }

  async append(events: readonly TidingsEvent[]): Promise<string[]> {
    return (await this.appendWithEpoch(events)).positions
  }

  async appendWithEpoch(events: readonly TidingsEvent[]): Promise<AppendResult> {
    if (this.#closed) throw new TidingsError('TIDINGS_ERR_CLOSED')
    if (events.length === 0) return { epoch: this.#epoch ?? (await this.epoch()), positions: [] }
    const client = this.#live ?? (await this.#readyClient())
    const reply = (await APPEND.run(client, [this.keys.stream, this.keys.epoch, this.keys.trimmed], [
      newEpoch(),
      this.#maxEvents,
      this.#maxAgeMs,
      Math.max(this.#trimBatch, events.length),
      0,
      ...events.map(serializeEvent),
    ])) as string[]
    return { epoch: checkEpoch(reply[0]!, this.keys.epoch), positions: reply.slice(1) }
  }

  /**
   * Appends one event unless an event with the same id went through `appendOnce` in the last
   * `ttlSeconds` (a `SET NX EX` on {@link RedisLogKeys.ingested} in the same script as the `XADD`).
   * Resolves to the position, or null for a duplicate.
   */
  async appendOnce(event: TidingsEvent, ttlSeconds: number): Promise<string | null> {
    if (this.#closed) throw new TidingsError('TIDINGS_ERR_CLOSED')
    const client = this.#live ?? (await this.#readyClient())
    const reply = await APPEND.run(client, [this.keys.stream, this.keys.epoch, this.keys.trimmed, this.keys.ingested(event.id)], [
      newEpoch(),
      this.#maxEvents,
      this.#maxAgeMs,
      this.#trimBatch,
      ttlSeconds,
      serializeEvent(event),
    ])
    return Array.isArray(reply) ? (reply[1] as string) : null
  }

  async read(after: string | null, options: ReadOptions): Promise<ReadResult> {
    if (after !== null) splitPosition(after)
    const client = this.#live ?? (await this.#readyClient())
    const page = await this.#page(client, after, options.limit)
    // A log recreated underneath this reader: everything after `after` is gone, which is a gap.
    const truncated = page.epoch !== this.#epoch || this.#behind(after, page.trimmed)
    let next = page.last ?? after
    if (next === null && page.entries.length === 0) next = page.trimmed
    return { entries: page.entries, truncated, next }
  }

  async head(): Promise<string | null> {
    const client = this.#live ?? (await this.#readyClient())
    return this.#head(client)
  }

  async *tail(after: string | null, signal: AbortSignal): AsyncIterable<readonly LogEntry[]> {
    if (after !== null) splitPosition(after)
    const client = this.#live ?? (await this.#readyClient())
    // Issued before any other await, so "from the head" means the head at the call.
    const startAt = after === null ? this.#head(client) : Promise.resolve(after)
    const epoch = this.#epoch!
    let pos = await startAt
    if (signal.aborted || this.#closed) return
    const conn = client.duplicate({
      connectionName: `${this.clientName}:tail`,
      lazyConnect: false,
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      autoResendUnfulfilledCommands: true,
      commandTimeout: undefined,
    })
    watchConnection(conn, this.#logger, 'tail')
    this.#tails.add(conn)
    const onAbort = (): void => conn.disconnect()
    signal.addEventListener('abort', onAbort, { once: true })
    let failures = 0
    let lastTrim = Date.now()
    try {
      while (!signal.aborted && !this.#closed) {
        let page: Page
        try {
          if (Date.now() - lastTrim >= this.#trimIntervalMs) {
            lastTrim = Date.now()
            await this.#trim(conn)
          }
          page = await this.#page(conn, pos, this.#tailBatch)
          if (page.epoch !== epoch) {
            throw new TidingsError('TIDINGS_ERR_EPOCH_CHANGED', { detail: `the Redis log ${this.keys.stream} now has epoch ${page.epoch ?? '(none)'}, not ${epoch}` })
          }
          if (this.#behind(pos, page.trimmed)) {
            throw new TidingsError('TIDINGS_ERR_LOG_TRUNCATED', { detail: `retention removed entries up to ${page.trimmed} after position ${pos ?? '(start)'}` })
          }
          if (page.last === null) {
            await conn.xread('COUNT', 1, 'BLOCK', this.#blockMs, 'STREAMS', this.keys.stream, pos ?? '0-0')
            continue
          }
        } catch (err) {
          if (isTidingsError(err)) throw err
          if (signal.aborted || this.#closed) return
          const delay = Math.min(this.#tailRetryMs * 2 ** failures, MAX_TAIL_RETRY_MS)
          failures++
          this.#logger.warn({ err, position: pos, retryInMs: delay }, 'redis tail failed; retrying from its last position')
          await abortableDelay(delay, signal)
          continue
        }
        failures = 0
        pos = page.last
        if (page.entries.length > 0) yield page.entries
      }
    } finally {
      signal.removeEventListener('abort', onAbort)
      this.#tails.delete(conn)
      conn.disconnect()
    }
  }

  comparePositions(a: string, b: string): number {
    return compareStreamIds(a, b)
  }

  isPosition(value: string): boolean {
    return POSITION_RE.test(value)
  }

  /** Trims now, by length and age, as appends do. Resolves to the number of entries removed. */
  async trim(): Promise<number> {
    const client = this.#live ?? (await this.#readyClient())
    return this.#trim(client)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const conn of this.#tails) conn.disconnect()
    this.#tails.clear()
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

  /** True when retention removed something after `pos` (null = the log's start). */
  #behind(pos: string | null, trimmed: string | null): boolean {
    return trimmed !== null && (pos === null || compareStreamIds(pos, trimmed) < 0)
  }

  async #readyClient(): Promise<Redis> {
    await this.ready()
    return this.#live!
  }

  async #connect(): Promise<Redis> {
    if (this.#closed) throw new TidingsError('TIDINGS_ERR_CLOSED')
    if (this.#client !== undefined) return this.#client
    if (this.#options.client !== undefined) {
      this.#client = this.#options.client
      return this.#client
    }
    const RedisClient = await loadRedisClass()
    // Another caller may have connected while the import was pending.
    if (this.#client !== undefined) return this.#client
    const url = this.#options.url ?? process.env.REDIS_URL ?? DEFAULT_REDIS_URL
    const client = new RedisClient(url, { connectionName: `${this.clientName}:log`, ...this.#options.redis })
    watchConnection(client, this.#logger, 'log')
    this.#client = client
    this.#ownsClient = true
    return client
  }

  #head(conn: Redis): Promise<string | null> {
    return HEAD.run(conn, [this.keys.stream, this.keys.trimmed], []) as Promise<string | null>
  }

  async #trim(conn: Redis): Promise<number> {
    return (await TRIM.run(conn, [this.keys.stream, this.keys.trimmed], [this.#maxEvents, this.#maxAgeMs, this.#trimBatch])) as number
  }

  async #page(conn: Redis, after: string | null, limit: number): Promise<Page> {
    const reply = (await READ.run(conn, [this.keys.stream, this.keys.epoch, this.keys.trimmed], [after === null ? '-' : `(${after}`, limit])) as (string | null)[]
    const entries: LogEntry[] = []
    let last: string | null = null
    for (let i = 2; i < reply.length; i += 2) {
      const position = reply[i]!
      last = position
      const entry = this.#decode(position, reply[i + 1] ?? null)
      if (entry !== null) entries.push(entry)
    }
    return { epoch: reply[0] ?? null, trimmed: reply[1] ?? null, entries, last }
  }

  /** A stream entry as a log entry; null (logged, counted) when it holds no valid event. */
  #decode(position: string, raw: string | null): LogEntry | null {
    try {
      if (raw === null) throw new Error(`the entry has no "event" field`)
      const value: unknown = JSON.parse(raw)
      if (isEnvelope(value)) return { position, event: value, json: /[\r\n]/.test(raw) ? serializeEvent(value) : raw }
      const event = normalizeWireEvent(value, position)
      return { position, event, json: serializeEvent(event) }
    } catch (err) {
      this.#skipped++
      this.#logger.warn({ err, position, stream: this.keys.stream }, 'skipping a stream entry that is not a valid Tidings event (see docs/engines/redis.md#wire-contract)')
      return null
    }
  }
}

/**
 * An event another process wrote straight into the stream (the wire contract): the camelCase
 * publish form or seed 000's snake_case form, with its id, which every hub must agree on. A missing
 * `occurredAt` becomes the entry's own time, so it too is the same for every reader.
 */
function normalizeWireEvent(value: unknown, position: string): TidingsEvent {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('the event is not a JSON object')
  const v = value as Record<string, unknown>
  const snake = 'event_type' in v || 'event_id' in v || 'user_id' in v
  if (v[snake ? 'event_id' : 'id'] === undefined) throw new Error(`the event has no ${snake ? 'event_id' : 'id'}; the wire contract requires one`)
  const ms = Number(position.slice(0, position.indexOf('-')))
  return normalizeEvent(value, { maxEventBytes: Number.POSITIVE_INFINITY, now: () => new Date(ms) })
}

/**
 * Logs a connection's outages once each (a warning when it is lost, info when it is back) instead
 * of every failed reconnection attempt; ioredis reconnects by itself.
 */
export function watchConnection(conn: Redis, logger: Logger, role: string): void {
  let down = false
  conn.on('error', (err: unknown) => {
    if (down) return
    down = true
    logger.warn({ err, role }, 'redis connection lost; reconnecting')
  })
  conn.on('ready', () => {
    if (!down) return
    down = false
    logger.info({ role }, 'redis connection back')
  })
}

function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}
