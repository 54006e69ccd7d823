/**
 * The seed 001 bridge: services that publish JSON status messages to a topic exchange
 * (`events.topic`, routing keys like `team.{team}.job.{job}.status`) keep working unchanged, and
 * their messages become Tidings events on `team:{team}:job:{job}` for tenant `{team}`.
 *
 * Seed 001's SSE broker consumed one shared queue from every API instance, so RabbitMQ handed each
 * message to one instance only and the others' clients never saw it. Giving each hub a queue of its
 * own would fix that and break the next thing: every hub would append every message, once per hub.
 * The bridge does neither: all bridges consume ONE shared durable quorum queue, which appends each
 * message to the log once — and the log, not the queue, fans it out to every hub. The queue has
 * `x-single-active-consumer`, so one bridge at a time takes messages, in publish order, and another
 * takes over when it goes away. A message is acknowledged only after the log confirmed its append:
 * a bridge that dies in between leaves it to be delivered again (`redelivered`), and such messages
 * are checked against the event ids the log holds from the last `dedupWindowMs` before they are
 * appended, so each one is in the log once.
 */
import { createHash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import type { Channel, ConsumeMessage } from 'amqplib'
import { CHANNEL_RE, DEFAULT_MAX_EVENT_BYTES, EVENT_TYPE_RE, ID_RE, normalizeEvent, type TidingsEvent } from '../../core/envelope.js'
import { TidingsError } from '../../core/errors.js'
import { createLogger, type Logger } from '../../core/logger.js'
import { AmqpLink, abortableDelay, amqpUrl } from './connection.js'
import type { RabbitEventLog } from './event-log.js'

/** Default topic exchange the bridge binds (seed 001's). */
export const DEFAULT_BRIDGE_EXCHANGE = 'events.topic'
/** Default name of the one queue every bridge shares. */
export const DEFAULT_BRIDGE_QUEUE = 'tidings.bridge'
/** Default binding keys (seed 001's job status messages). */
export const DEFAULT_BRIDGE_BINDINGS: readonly string[] = ['team.*.job.*.status']
/** Default prefetch of the bridge's consumer: the most messages one append batch takes. */
export const DEFAULT_BRIDGE_PREFETCH = 100
/** Default window within which a redelivered message is recognised as already appended: ten minutes. */
export const DEFAULT_BRIDGE_DEDUP_WINDOW_MS = 10 * 60 * 1000
/** Default first pause before the bridge reconnects or retries a failed append; doubles up to a minute. */
export const DEFAULT_BRIDGE_RETRY_MS = 500
/** Ids of messages this bridge appended that it remembers, to drop a publisher's repeats without asking the log. */
const RECENT_IDS = 10_000
const MAX_RETRY_MS = 60_000

/** What the bridge needs from the log. */
export type BridgeLog = Pick<RabbitEventLog, 'append' | 'eventIdsSince'>

/** A message as the bridge received it. */
export interface BridgeMessage {
  readonly routingKey: string
  readonly content: Buffer
  readonly messageId: string | null
  /** The AMQP `timestamp` property, in seconds, when the publisher set one. */
  readonly timestamp: number | null
}

/** Options of {@link RabbitBridge}. */
export interface RabbitBridgeOptions {
  /** AMQP URL. @defaultValue `process.env.AMQP_URL`, else `amqp://guest:guest@127.0.0.1:5672` */
  url?: string
  /** The topic exchange to bind (declared durable if missing). @defaultValue {@link DEFAULT_BRIDGE_EXCHANGE} */
  exchange?: string
  /** The shared queue. Every bridge of one deployment must use the same name. @defaultValue {@link DEFAULT_BRIDGE_QUEUE} */
  queue?: string
  /** Binding keys. @defaultValue {@link DEFAULT_BRIDGE_BINDINGS} */
  bindings?: readonly string[]
  /** Consumer prefetch. @defaultValue {@link DEFAULT_BRIDGE_PREFETCH} */
  prefetch?: number
  /** How far back a redelivered message is looked for in the log. @defaultValue {@link DEFAULT_BRIDGE_DEDUP_WINDOW_MS} */
  dedupWindowMs?: number
  /** Largest event accepted. @defaultValue {@link DEFAULT_MAX_EVENT_BYTES} */
  maxEventBytes?: number
  /** Maps a message to an event; throw to reject it as malformed. @defaultValue {@link eventFromTopicMessage} */
  map?: (message: BridgeMessage, options: { maxEventBytes: number }) => TidingsEvent
  /** First pause before reconnecting or retrying an append. @defaultValue {@link DEFAULT_BRIDGE_RETRY_MS} */
  retryMs?: number
  /** Connection name shown by RabbitMQ. @defaultValue `tidings:bridge:<queue>` */
  connectionName?: string
  /** Where malformed messages and failures are reported. @defaultValue a pino logger at `TIDINGS_LOG_LEVEL` */
  logger?: Logger
}

/** A message the bridge appended, or found in the log already. */
export interface BridgedMessage {
  readonly routingKey: string
  readonly event: TidingsEvent
  /** Its position in the log; null for a duplicate. */
  readonly position: string | null
}

/** A message the bridge did not append. */
export interface RejectedBridgeMessage {
  readonly routingKey: string
  /** The body, cut to 200 characters. */
  readonly message: string
  readonly error: Error
}

/** Events of a {@link RabbitBridge}. */
export interface RabbitBridgeEvents {
  ingested: [BridgedMessage]
  duplicate: [BridgedMessage]
  /** Not a message the mapping accepts; logged, counted and acknowledged (dropped). */
  malformed: [RejectedBridgeMessage]
  /** An append that failed; the batch goes back to the queue and is delivered again. */
  failed: [RejectedBridgeMessage]
}

/** Counts of what a bridge did since it started. */
export interface BridgeCounts {
  ingested: number
  duplicate: number
  malformed: number
  failed: number
}

/** A deterministic event id for a message that carries none, so a redelivery gets the same one. */
function derivedId(message: BridgeMessage): string {
  const hash = createHash('sha256').update(message.routingKey).update('\n').update(String(message.timestamp ?? '')).update('\n').update(message.content).digest('hex')
  return `amqp-${hash.slice(0, 40)}`
}

/**
 * Seed 001's mapping: routing key `team.{team}.{kind}.{id}.{what…}` becomes channel
 * `team:{team}:{kind}:{id}`, type `{kind}.{what…}` (`job.status`) and tenant `{team}`; the JSON
 * body is the event's `data`. The id is the message's `message_id`, else the body's `event_id` or
 * `id`, else a hash of the message. `occurredAt` is the body's `occurred_at` (Unix seconds or ISO
 * 8601), else the message's timestamp, else the time of ingestion.
 */
export function eventFromTopicMessage(message: BridgeMessage, options: { maxEventBytes?: number } = {}): TidingsEvent {
  const parts = message.routingKey.split('.')
  const [root, team, kind, subject, ...what] = parts
  if (root !== 'team' || team === undefined || kind === undefined || subject === undefined || what.length === 0) {
    throw new TidingsError('TIDINGS_ERR_INVALID_CHANNEL', { detail: `routing key ${JSON.stringify(message.routingKey.slice(0, 80))} is not team.{team}.{kind}.{id}.{what}` })
  }
  const channel = `team:${team}:${kind}:${subject}`
  const type = [kind, ...what].join('.')
  if (!CHANNEL_RE.test(channel) || !ID_RE.test(team) || !EVENT_TYPE_RE.test(type)) {
    throw new TidingsError('TIDINGS_ERR_INVALID_CHANNEL', { detail: `routing key ${JSON.stringify(message.routingKey.slice(0, 80))} does not make a valid channel, tenant and type` })
  }
  let data: unknown
  try {
    data = JSON.parse(message.content.toString('utf8'))
  } catch {
    throw new TidingsError('TIDINGS_ERR_INVALID_JSON', { detail: 'the message body is not JSON' })
  }
  const body = typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>) : {}
  const bodyId = [message.messageId, body.event_id, body.id].find((v): v is string => typeof v === 'string' && ID_RE.test(v))
  const at = body.occurred_at
  const occurredAt =
    typeof at === 'number' && Number.isFinite(at)
      ? new Date(at * 1000).toISOString()
      : typeof at === 'string' && !Number.isNaN(Date.parse(at))
        ? new Date(at).toISOString()
        : message.timestamp !== null
          ? new Date(message.timestamp * 1000).toISOString()
          : undefined
  return normalizeEvent(
    { id: bodyId ?? derivedId(message), type, channels: [channel], tenant: team, data, ...(occurredAt === undefined ? {} : { occurredAt }) },
    { maxEventBytes: options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES },
  )
}

/** Ingests a topic exchange into the log, exactly once however many bridges run. */
export class RabbitBridge extends EventEmitter<RabbitBridgeEvents> {
  /** The shared queue's name. */
  readonly queue: string
  readonly exchange: string
  readonly #log: BridgeLog
  readonly #bindings: readonly string[]
  readonly #prefetch: number
  readonly #dedupWindowMs: number
  readonly #maxEventBytes: number
  readonly #map: (message: BridgeMessage, options: { maxEventBytes: number }) => TidingsEvent
  readonly #retryMs: number
  readonly #logger: Logger
  readonly #link: AmqpLink
  readonly #counts: BridgeCounts = { ingested: 0, duplicate: 0, malformed: 0, failed: 0 }
  /** Ids this bridge appended, oldest first. */
  readonly #recent = new Set<string>()
  readonly #inbox: { readonly channel: Channel; readonly message: ConsumeMessage }[] = []
  #draining: Promise<void> | undefined
  #channel: Channel | undefined
  #started: Promise<void> | undefined
  #closed = false
  #failures = 0

  constructor(log: BridgeLog, options: RabbitBridgeOptions = {}) {
    super()
    this.#log = log
    this.exchange = options.exchange ?? DEFAULT_BRIDGE_EXCHANGE
    this.queue = options.queue ?? DEFAULT_BRIDGE_QUEUE
    this.#bindings = options.bindings ?? DEFAULT_BRIDGE_BINDINGS
    this.#prefetch = options.prefetch ?? DEFAULT_BRIDGE_PREFETCH
    this.#dedupWindowMs = options.dedupWindowMs ?? DEFAULT_BRIDGE_DEDUP_WINDOW_MS
    this.#maxEventBytes = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES
    this.#map = options.map ?? eventFromTopicMessage
    this.#retryMs = options.retryMs ?? DEFAULT_BRIDGE_RETRY_MS
    this.#logger = options.logger ?? createLogger().child({ engine: 'rabbitmq', component: 'bridge' })
    const invalid = (detail: string): TidingsError => new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail })
    for (const [name, value] of [
      ['prefetch', this.#prefetch],
      ['dedupWindowMs', this.#dedupWindowMs],
      ['retryMs', this.#retryMs],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < 1) throw invalid(`rabbitmq bridge ${name} must be a positive integer`)
    }
    if (this.#prefetch > 65_535) throw invalid('rabbitmq bridge prefetch must be at most 65535')
    if (this.#bindings.length === 0) throw invalid('rabbitmq bridge needs at least one binding key')
    for (const name of [this.exchange, this.queue]) {
      if (!/^(?!amq\.)[A-Za-z0-9._:-]{1,200}$/.test(name)) throw invalid(`rabbitmq bridge exchange and queue names are 1–200 characters of [A-Za-z0-9._:-]; got ${JSON.stringify(name.slice(0, 40))}`)
    }
    this.#link = new AmqpLink({ url: amqpUrl(options.url), name: options.connectionName ?? `tidings:bridge:${this.queue}`, logger: this.#logger })
  }

  /** What this bridge did so far. */
  get counts(): Readonly<BridgeCounts> {
    return { ...this.#counts }
  }

  /**
   * Declares the exchange, the shared queue and its bindings, and starts consuming. Resolves once
   * the consumer is registered (it may be the standby of another bridge). Idempotent; after a lost
   * connection the bridge reconnects by itself.
   */
  start(): Promise<void> {
    this.#started ??= this.#attach()
    this.#started.catch(() => {
      this.#started = undefined
    })
    return this.#started
  }

  /** Stops consuming and waits for the batch under way; unacknowledged messages go back to the queue. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#draining?.catch(() => undefined)
    await this.#link.close()
  }

  async #attach(): Promise<void> {
    const ch = await this.#link.channel()
    try {
      await ch.assertExchange(this.exchange, 'topic', { durable: true })
      await ch.assertQueue(this.queue, { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-single-active-consumer': true } })
      for (const key of this.#bindings) await ch.bindQueue(this.queue, this.exchange, key)
      await ch.prefetch(this.#prefetch)
      ch.on('close', () => {
        if (this.#channel === ch) this.#channel = undefined
        if (!this.#closed) void this.#reattach()
      })
      await ch.consume(
        this.queue,
        (msg) => {
          if (msg === null) {
            // The queue was deleted: close the channel, and the reattachment declares it again.
            void ch.close().catch(() => undefined)
            return
          }
          this.#inbox.push({ channel: ch, message: msg })
          this.#drain()
        },
        { noAck: false },
      )
      this.#channel = ch
    } catch (err) {
      await ch.close().catch(() => undefined)
      throw err
    }
  }

  async #reattach(): Promise<void> {
    let failures = 0
    while (!this.#closed) {
      await abortableDelay(Math.min(this.#retryMs * 2 ** failures++, MAX_RETRY_MS))
      if (this.#closed) return
      try {
        await this.#attach()
        return
      } catch (err) {
        this.#logger.debug({ err, queue: this.queue }, 'rabbitmq bridge could not reattach yet')
      }
    }
  }

  #drain(): void {
    this.#draining ??= (async () => {
      try {
        while (this.#inbox.length > 0 && !this.#closed) await this.#ingest(this.#inbox.splice(0, this.#prefetch))
      } finally {
        this.#draining = undefined
      }
    })()
  }

  /** Appends one batch in arrival order, then acknowledges it; on failure gives it back. */
  async #ingest(batch: readonly { readonly channel: Channel; readonly message: ConsumeMessage }[]): Promise<void> {
    const live = batch.filter((b) => b.channel === this.#channel)
    if (live.length === 0) return
    const items = live.map(({ message }) => {
      const m: BridgeMessage = {
        routingKey: message.fields.routingKey,
        content: message.content,
        messageId: typeof message.properties.messageId === 'string' ? message.properties.messageId : null,
        timestamp: typeof message.properties.timestamp === 'number' ? message.properties.timestamp : null,
      }
      try {
        return { m, event: this.#map(m, { maxEventBytes: this.#maxEventBytes }), redelivered: message.fields.redelivered }
      } catch (err) {
        this.#reject('malformed', m, err)
        return { m, event: null, redelivered: false }
      }
    })
    const channel = live[0]!.channel
    const last = live[live.length - 1]!.message
    try {
      const inLog = items.some((i) => i.event !== null && i.redelivered) ? await this.#log.eventIdsSince(this.#dedupWindowMs) : new Set<string>()
      const fresh: { m: BridgeMessage; event: TidingsEvent }[] = []
      const duplicates: { m: BridgeMessage; event: TidingsEvent }[] = []
      const batchIds = new Set<string>()
      for (const i of items) {
        if (i.event === null) continue
        const seen = this.#recent.has(i.event.id) || inLog.has(i.event.id) || batchIds.has(i.event.id)
        ;(seen ? duplicates : fresh).push({ m: i.m, event: i.event })
        batchIds.add(i.event.id)
      }
      const positions = fresh.length > 0 ? await this.#log.append(fresh.map((f) => f.event)) : []
      try {
        channel.ack(last, true)
      } catch {
        // The channel closed after the append: the batch comes back marked redelivered and is found in the log.
      }
      this.#failures = 0
      fresh.forEach((f, k) => {
        this.#remember(f.event.id)
        this.#counts.ingested++
        this.emit('ingested', { routingKey: f.m.routingKey, event: f.event, position: positions[k] ?? null })
      })
      for (const d of duplicates) {
        this.#counts.duplicate++
        this.emit('duplicate', { routingKey: d.m.routingKey, event: d.event, position: null })
      }
    } catch (err) {
      for (const i of items) if (i.event !== null) this.#reject('failed', i.m, err)
      await abortableDelay(Math.min(this.#retryMs * 2 ** this.#failures++, MAX_RETRY_MS))
      try {
        // Back to the queue, in order, for this bridge or the next active one.
        channel.nack(last, true, true)
      } catch {
        // The channel is gone: the broker requeued them already.
      }
    }
  }

  #remember(id: string): void {
    this.#recent.add(id)
    if (this.#recent.size > RECENT_IDS) this.#recent.delete(this.#recent.values().next().value!)
  }

  #reject(kind: 'malformed' | 'failed', m: BridgeMessage, err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err))
    this.#counts[kind]++
    const message = m.content.toString('utf8').slice(0, 200)
    this.#logger.warn({ err: error, routingKey: m.routingKey, message }, kind === 'malformed' ? 'dropping a message the bridge cannot map to an event' : 'could not append bridged messages; they go back to the queue')
    this.emit(kind, { routingKey: m.routingKey, message, error })
  }
}
