/**
 * The seed 000 bridge: services that `PUBLISH` seed 000's snake_case JSON to `sse:user:{id}` or
 * `sse:broadcast` keep working unchanged. Every hub may run an ingester; each message is appended
 * to the log once however many receive it, because the append and a `SET NX EX` on the event id
 * are one script. Pub/sub is fire-and-forget: a message published while no ingester is subscribed
 * is lost, which is why docs/engines/redis.md also gives a durable wire contract.
 */
import { EventEmitter } from 'node:events'
import type { Redis } from 'ioredis'
import { DEFAULT_MAX_EVENT_BYTES, CHANNEL_RE, normalizeEvent, type TidingsEvent } from '../../core/envelope.js'
import { TidingsError } from '../../core/errors.js'
import { createLogger, type Logger } from '../../core/logger.js'
import { watchConnection, type RedisEventLog } from './event-log.js'

/** Default prefix of the pub/sub channels ingested (seed 000's). */
export const DEFAULT_INGEST_CHANNEL_PREFIX = 'sse:'
/** Default time an event id is remembered for deduplication: one hour. */
export const DEFAULT_INGEST_DEDUP_TTL_SECONDS = 60 * 60
/** The pub/sub channel (after the prefix) that maps to the Tidings channel `broadcast`. */
const BROADCAST = 'broadcast'
/** Pub/sub channels (after the prefix) `user:{id}` map to the Tidings channel of the same name. */
const USER_CHANNEL_RE = /^user:[A-Za-z0-9._:@-]{1,128}$/

/** Options of {@link PubSubIngester}. */
export interface PubSubIngesterOptions {
  /** Channels `{prefix}user:{id}` and `{prefix}broadcast` are ingested. @defaultValue {@link DEFAULT_INGEST_CHANNEL_PREFIX} */
  channelPrefix?: string
  /** How long an event id blocks a second append of the same id, in seconds. @defaultValue {@link DEFAULT_INGEST_DEDUP_TTL_SECONDS} */
  dedupTtlSeconds?: number
  /** Largest serialised event accepted. @defaultValue {@link DEFAULT_MAX_EVENT_BYTES} */
  maxEventBytes?: number
  /** Where malformed messages and failures are reported. @defaultValue a pino logger at `TIDINGS_LOG_LEVEL` */
  logger?: Logger
}

/** A message this ingester appended, or found already appended (by another hub, or published twice). */
export interface IngestedMessage {
  /** The pub/sub channel it came on. */
  readonly channel: string
  readonly event: TidingsEvent
  /** Its position in the log; null for a duplicate. */
  readonly position: string | null
}

/** A message that was not ingested. */
export interface RejectedMessage {
  readonly channel: string
  /** The message, cut to 200 characters. */
  readonly message: string
  readonly error: Error
}

/** Events of a {@link PubSubIngester}. */
export interface PubSubIngesterEvents {
  /** Appended to the log by this ingester. */
  ingested: [IngestedMessage]
  /** Already in the log: another ingester was first, or the id was published twice. */
  duplicate: [IngestedMessage]
  /** Not a seed 000 message on an ingested channel; logged and counted, never appended. */
  malformed: [RejectedMessage]
  /** Valid, but the log did not accept it (Redis error); logged and counted. */
  failed: [RejectedMessage]
}

/** Counts of what an ingester did since it started. */
export interface IngestCounts {
  ingested: number
  duplicate: number
  malformed: number
  failed: number
}

/**
 * The Tidings channel a seed 000 pub/sub channel maps to: `sse:broadcast` → `broadcast`,
 * `sse:user:{id}` → `user:{id}`; null for any other channel.
 */
export function channelFromPubSub(channel: string, prefix: string = DEFAULT_INGEST_CHANNEL_PREFIX): string | null {
  if (!channel.startsWith(prefix)) return null
  const rest = channel.slice(prefix.length)
  if (rest === BROADCAST) return BROADCAST
  return USER_CHANNEL_RE.test(rest) && CHANNEL_RE.test(rest) ? rest : null
}

/**
 * Normalises one seed 000 message into an event on the channel its pub/sub channel names (which
 * wins over the body's `user_id`). Throws when the channel is not ingested, the body is not JSON,
 * has no `event_id` (the dedup key) or fails the envelope schema.
 */
export function eventFromPubSub(channel: string, message: string, options: { prefix?: string; maxEventBytes?: number } = {}): TidingsEvent {
  const target = channelFromPubSub(channel, options.prefix)
  if (target === null) {
    throw new TidingsError('TIDINGS_ERR_INVALID_CHANNEL', { detail: `pub/sub channel ${JSON.stringify(channel.slice(0, 80))} is neither sse:user:{id} nor sse:broadcast` })
  }
  let value: unknown
  try {
    value = JSON.parse(message)
  } catch {
    throw new TidingsError('TIDINGS_ERR_INVALID_JSON', { detail: 'the message is not JSON' })
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const v = value as Record<string, unknown>
    if (v.event_id === undefined && v.id === undefined) {
      throw new TidingsError('TIDINGS_ERR_INVALID_EVENT', { detail: 'the message has no event_id, the key that makes its ingestion exactly-once' })
    }
  }
  const event = normalizeEvent(value, { maxEventBytes: options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES })
  return { ...event, channels: [target] }
}

/**
 * Subscribes (`PSUBSCRIBE sse:*`, on a connection of its own) and appends every seed 000 message
 * to the log, exactly once across all ingesters of the log. Malformed messages are logged, counted
 * and reported as `malformed`; nothing a publisher sends can stop it.
 */
export class PubSubIngester extends EventEmitter<PubSubIngesterEvents> {
  readonly #log: RedisEventLog
  readonly #prefix: string
  readonly #ttl: number
  readonly #maxEventBytes: number
  readonly #logger: Logger
  readonly #counts: IngestCounts = { ingested: 0, duplicate: 0, malformed: 0, failed: 0 }
  readonly #pending = new Set<Promise<void>>()
  #conn: Redis | undefined
  #started: Promise<void> | undefined
  #closed = false

  constructor(log: RedisEventLog, options: PubSubIngesterOptions = {}) {
    super()
    this.#log = log
    this.#prefix = options.channelPrefix ?? DEFAULT_INGEST_CHANNEL_PREFIX
    this.#ttl = options.dedupTtlSeconds ?? DEFAULT_INGEST_DEDUP_TTL_SECONDS
    this.#maxEventBytes = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES
    this.#logger = options.logger ?? createLogger().child({ engine: 'redis', component: 'ingest' })
    if (!Number.isInteger(this.#ttl) || this.#ttl < 1) {
      throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: 'ingest dedupTtlSeconds must be a positive integer' })
    }
    if (!/^[A-Za-z0-9_:.-]{1,100}$/.test(this.#prefix)) {
      throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: 'ingest channelPrefix must be 1–100 characters of [A-Za-z0-9_:.-]' })
    }
  }

  /** What this ingester did so far. */
  get counts(): Readonly<IngestCounts> {
    return { ...this.#counts }
  }

  /** Subscribes; resolves once Redis confirmed the subscription. Idempotent. */
  start(): Promise<void> {
    this.#started ??= (async () => {
      const main = await this.#log.connection()
      if (this.#closed) throw new TidingsError('TIDINGS_ERR_CLOSED')
      const conn = main.duplicate({ connectionName: `${this.#log.clientName}:ingest`, maxRetriesPerRequest: null, autoResubscribe: true })
      watchConnection(conn, this.#logger, 'ingest')
      conn.on('pmessage', (_pattern: string, channel: string, message: string) => this.#receive(channel, message))
      this.#conn = conn
      await conn.psubscribe(`${this.#prefix}*`)
    })()
    this.#started.catch(() => {
      this.#conn?.disconnect()
      this.#conn = undefined
      this.#started = undefined
    })
    return this.#started
  }

  /** Unsubscribes and waits for the appends already under way. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const conn = this.#conn
    if (conn !== undefined) {
      try {
        await Promise.race([conn.punsubscribe(), new Promise((resolve) => setTimeout(resolve, 1_000).unref())])
      } catch {
        // The connection is gone already; nothing more arrives on it.
      }
      conn.disconnect()
    }
    await Promise.allSettled([...this.#pending])
  }

  #receive(channel: string, message: string): void {
    if (this.#closed) return
    let event: TidingsEvent
    try {
      event = eventFromPubSub(channel, message, { prefix: this.#prefix, maxEventBytes: this.#maxEventBytes })
    } catch (err) {
      this.#reject('malformed', channel, message, err)
      return
    }
    // Not awaited: appends go out in arrival order on one connection, so the log keeps that order.
    const done = this.#log
      .appendOnce(event, this.#ttl)
      .then((position) => {
        const outcome = position === null ? 'duplicate' : 'ingested'
        this.#counts[outcome]++
        this.emit(outcome, { channel, event, position })
      })
      .catch((err: unknown) => this.#reject('failed', channel, message, err))
      .finally(() => this.#pending.delete(done))
    this.#pending.add(done)
  }

  #reject(kind: 'malformed' | 'failed', channel: string, message: string, err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err))
    this.#counts[kind]++
    const cut = message.slice(0, 200)
    this.#logger.warn({ err: error, channel, message: cut }, kind === 'malformed' ? 'ignoring a malformed pub/sub message' : 'could not append a pub/sub message to the log')
    this.emit(kind, { channel, message: cut, error })
  }
}
