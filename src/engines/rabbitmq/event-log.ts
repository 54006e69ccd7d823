/**
 * The RabbitMQ `EventLog` (DESIGN §2): one stream queue (`x-queue-type: stream`), read over AMQP
 * 0.9.1 by consumers that start at an offset (`x-stream-offset`) with manual acks and a prefetch.
 *
 * Positions are stream offsets plus one, so `origin` is `'0'`: the position of the record at offset
 * `o` is `o + 1`, and "after position p" is "from offset p". Offsets are not dense — RabbitMQ puts
 * an internal tracking record at the start of every segment — so a gap alone never means loss.
 *
 * AMQP tells a consumer neither where a stream ends nor which offset a confirmed publish got, so
 * every log instance runs one follower: a consumer that starts on the stream's last chunk at
 * `ready()` and then sees every new record. A message this instance publishes carries its writer
 * id and a sequence number; `append` resolves once the broker confirmed the batch and the follower
 * has seen it, which yields its offsets. At `ready()` the instance publishes a fence (a marker
 * record) and waits for the follower to see it: from then on the newest offset this instance has
 * seen (`knownEnd`) is at least the end of the stream as it was when the instance started, and it
 * only grows. `head()` answers from it; `read()` stops at it. A record another process appended a
 * moment ago may be past it — the hub waits for its own tail in that case (`catchUpWaitMs`).
 *
 * Loss is reported, never skipped: a reader whose next offset is below the first offset still
 * retained (found by consuming from `first`) lost events; `maxEvents`, which streams do not have,
 * is enforced here as a horizon `maxEvents` offsets behind `knownEnd`.
 *
 * The epoch comes from the stream itself: every event record carries the epoch of the instance that
 * appended it, and the epoch of a stream is that of its first record that carries one. A new stream
 * has none until an instance writes an epoch marker with a fresh random epoch; all instances read
 * the same first stamped record, so they agree. Deleting the stream deletes every stamp: the stream
 * declared again gets a new marker and a new epoch, and the consumers of the old one are cancelled
 * by the broker, which is how tails notice (`TIDINGS_ERR_EPOCH_CHANGED`).
 */
import { randomBytes } from 'node:crypto'
import type { Channel, ConfirmChannel, ConsumeMessage, Message } from 'amqplib'
import { isEnvelope, normalizeEvent, serializeEvent, type TidingsEvent } from '../../core/envelope.js'
import { TidingsError } from '../../core/errors.js'
import type { EventLog, EventLogCapabilities, LogEntry, ReadOptions, ReadResult, RetentionOptions } from '../../core/event-log.js'
import { createLogger, type Logger } from '../../core/logger.js'
import { AmqpLink, abortableDelay, amqpUrl, isAmqpError } from './connection.js'

/** Default name of the stream queue. */
export const DEFAULT_RABBIT_STREAM = 'tidings.events'
/** Default age after which RabbitMQ removes events (`x-max-age`), a segment at a time: one day. */
export const DEFAULT_RABBIT_MAX_AGE_MS = 24 * 60 * 60 * 1000
/** Default most bytes the stream keeps on disk (`x-max-length-bytes`), a segment at a time. */
export const DEFAULT_RABBIT_MAX_BYTES = 1_000_000_000
/** Default size of one stream segment (`x-stream-max-segment-size-bytes`): the grain of retention. */
export const DEFAULT_RABBIT_SEGMENT_BYTES = 100_000_000
/** Default most unacknowledged records one tail holds (its consumer prefetch), and the most per batch. */
export const DEFAULT_RABBIT_TAIL_BATCH = 1_000
/** Default first pause before a tail or the follower retries after a lost connection; doubles up to {@link MAX_RETRY_MS}. */
export const DEFAULT_RABBIT_RETRY_MS = 100
/** Default longest wait for the broker, per record during a read, and for a confirmed append's offset. */
export const DEFAULT_RABBIT_TIMEOUT_MS = 15_000

/** Longest pause between retries. */
const MAX_RETRY_MS = 5_000
/** Prefetch of the follower: it only acknowledges, so it can run well ahead. */
const FOLLOWER_PREFETCH = 2_000
/** Most records a short-lived read consumer is sent beyond the page it was asked for. */
const READ_SLACK = 32
/** Most records any read consumer holds unacknowledged. */
const MAX_READ_PREFETCH = 1_000

/** AMQP `type` of the records Tidings writes. */
const RECORD_EVENT = 'tidings.event'
const RECORD_FENCE = 'tidings.fence'
const RECORD_EPOCH = 'tidings.epoch'
/** Headers Tidings writes on its records. */
const H_EPOCH = 'tidings-epoch'
const H_WRITER = 'tidings-writer'
const H_SEQ = 'tidings-seq'
/** The header RabbitMQ puts on every message it delivers from a stream. */
const H_OFFSET = 'x-stream-offset'

const POSITION_RE = /^(0|[1-9][0-9]{0,15})$/
const EPOCH_RE = /^[A-Za-z0-9_-]{1,40}$/
const STREAM_RE = /^(?!amq\.)[A-Za-z0-9._:-]{1,200}$/

/** Options of {@link RabbitEventLog}. */
export interface RabbitEventLogOptions extends RetentionOptions {
  /** AMQP URL. @defaultValue `process.env.AMQP_URL`, else `amqp://guest:guest@127.0.0.1:5672` */
  url?: string
  /** Name of the stream queue; several logs on one broker need different names. @defaultValue {@link DEFAULT_RABBIT_STREAM} */
  stream?: string
  /**
   * Keep at most this many events. Streams have no count limit, so this is a horizon the log
   * enforces when it reads: older events are reported lost, although they stay on disk until
   * `maxBytes` or `maxAgeMs` removes them. @defaultValue no count limit
   */
  maxEvents?: number
  /** `x-max-age`, rounded up to whole seconds; applied a segment at a time. @defaultValue {@link DEFAULT_RABBIT_MAX_AGE_MS} */
  maxAgeMs?: number
  /** `x-max-length-bytes`; applied a segment at a time. @defaultValue {@link DEFAULT_RABBIT_MAX_BYTES} */
  maxBytes?: number
  /** `x-stream-max-segment-size-bytes`. @defaultValue {@link DEFAULT_RABBIT_SEGMENT_BYTES} */
  segmentBytes?: number
  /** Prefetch of each tail's consumer, and its largest batch. @defaultValue {@link DEFAULT_RABBIT_TAIL_BATCH} */
  tailBatchSize?: number
  /** First pause before reconnecting a tail or the follower. @defaultValue {@link DEFAULT_RABBIT_RETRY_MS} */
  retryMs?: number
  /** Longest wait for the broker: per record while reading, and for an append's offsets. @defaultValue {@link DEFAULT_RABBIT_TIMEOUT_MS} */
  timeoutMs?: number
  /** Connection name shown by RabbitMQ. @defaultValue `tidings:log:<stream>` */
  connectionName?: string
  /** Where warnings go (skipped records, reconnects). @defaultValue a pino logger at `TIDINGS_LOG_LEVEL` */
  logger?: Logger
}

/** One record as a consumer received it. */
interface StreamRecord {
  readonly offset: number
  readonly message: ConsumeMessage
}

/** A publish this instance waits to see in the stream. */
interface Pending {
  resolve(offset: number): void
  reject(err: Error): void
}

/**
 * What the instance knows about one incarnation of the stream. A deleted stream ends the session;
 * the next operation opens a new one (a new epoch when the stream was recreated).
 */
class Session {
  epoch = ''
  valid = true
  /** Newest offset any consumer of this instance has seen. */
  knownEnd = -1
  /** Newest offset the follower has seen: where it resumes after a lost connection. */
  followed = -1
  /** The stream held nothing before this session's first fence, so `head()` may be null. */
  startedEmpty = false
  /** A record that is not a Tidings marker was seen. */
  sawEvent = false
  follower: Channel | undefined
  readonly pending = new Map<number, Pending>()
  #settled: (() => void)[] = []

  /** Resolves once the follower is attached again, or the session ended. */
  settled(): Promise<void> {
    if (!this.valid || this.follower !== undefined) return Promise.resolve()
    return new Promise((resolve) => this.#settled.push(resolve))
  }

  notify(): void {
    const waiting = this.#settled
    this.#settled = []
    for (const w of waiting) w()
  }
}

/** An outgoing record. */
interface OutgoingRecord {
  readonly content: Buffer
  readonly type: string
  readonly messageId: string
  readonly epoch: string | null
  readonly seq: number
}

function newEpoch(): string {
  return randomBytes(9).toString('base64url')
}

/** Compares two canonical decimal strings (no leading zeros). */
function compareDigits(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length
  return a < b ? -1 : a > b ? 1 : 0
}

function offsetOf(message: ConsumeMessage): number {
  const value: unknown = message.properties.headers?.[H_OFFSET]
  if (typeof value !== 'number') throw new Error(`a stream delivery has no numeric ${H_OFFSET} header`)
  return value
}

function headerString(message: Message, name: string): string | null {
  const value: unknown = message.properties.headers?.[name]
  if (typeof value === 'string') return value
  return Buffer.isBuffer(value) ? value.toString('utf8') : null
}

function isMarker(message: ConsumeMessage): boolean {
  const type: unknown = message.properties.type
  return type === RECORD_FENCE || type === RECORD_EPOCH
}

/** An EventLog on a RabbitMQ stream queue. */
export class RabbitEventLog implements EventLog {
  readonly engine = 'rabbitmq'
  readonly capabilities: EventLogCapabilities = { filteredRead: false, durable: true }
  readonly origin = '0'
  /** Name of the stream queue. */
  readonly stream: string
  readonly #maxEvents: number | undefined
  readonly #maxAgeMs: number
  readonly #maxBytes: number
  readonly #segmentBytes: number
  readonly #tailBatch: number
  readonly #retryMs: number
  readonly #timeoutMs: number
  readonly #logger: Logger
  readonly #link: AmqpLink
  /** Marks the records this instance publishes, so the follower can tell it their offsets. */
  readonly #writerId = randomBytes(9).toString('base64url')
  #seq = 0
  #session: Session | undefined
  #opening: Promise<Session> | undefined
  #publisher: Promise<ConfirmChannel> | undefined
  /** Sequence numbers of publishes the broker returned as unroutable (the stream is gone). */
  readonly #returned = new Set<number>()
  readonly #channels = new Set<Channel>()
  #closed = false
  #skipped = 0

  constructor(options: RabbitEventLogOptions = {}) {
    this.stream = options.stream ?? DEFAULT_RABBIT_STREAM
    this.#maxEvents = options.maxEvents
    this.#maxAgeMs = options.maxAgeMs ?? DEFAULT_RABBIT_MAX_AGE_MS
    this.#maxBytes = options.maxBytes ?? DEFAULT_RABBIT_MAX_BYTES
    this.#segmentBytes = options.segmentBytes ?? DEFAULT_RABBIT_SEGMENT_BYTES
    this.#tailBatch = options.tailBatchSize ?? DEFAULT_RABBIT_TAIL_BATCH
    this.#retryMs = options.retryMs ?? DEFAULT_RABBIT_RETRY_MS
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_RABBIT_TIMEOUT_MS
    this.#logger = options.logger ?? createLogger().child({ engine: 'rabbitmq' })
    const invalid = (detail: string): TidingsError => new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail })
    if (!STREAM_RE.test(this.stream)) throw invalid('rabbitmq stream must be 1–200 characters of [A-Za-z0-9._:-], not starting with amq.')
    for (const [name, value] of [
      ['maxAgeMs', this.#maxAgeMs],
      ['maxBytes', this.#maxBytes],
      ['segmentBytes', this.#segmentBytes],
      ['tailBatchSize', this.#tailBatch],
      ['retryMs', this.#retryMs],
      ['timeoutMs', this.#timeoutMs],
      ['maxEvents', this.#maxEvents ?? 1],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < 1) throw invalid(`rabbitmq ${name} must be a positive integer`)
    }
    if (this.#tailBatch > 65_535) throw invalid('rabbitmq tailBatchSize must be at most 65535 (the AMQP prefetch limit)')
    this.#link = new AmqpLink({ url: amqpUrl(options.url), name: options.connectionName ?? `tidings:log:${this.stream}`, logger: this.#logger })
  }

  /** Records skipped because they did not hold a valid event (each one logged). */
  get skippedRecords(): number {
    return this.#skipped
  }

  /** The stream's arguments as the log declares them. */
  get queueArguments(): Record<string, string | number> {
    return {
      'x-queue-type': 'stream',
      'x-max-age': `${Math.ceil(this.#maxAgeMs / 1000)}s`,
      'x-max-length-bytes': this.#maxBytes,
      'x-stream-max-segment-size-bytes': this.#segmentBytes,
    }
  }

  /** Declares the stream, starts the follower and settles the epoch. Idempotent. */
  async ready(): Promise<void> {
    await this.#ensure()
  }

  /** The epoch of the stream this instance follows; after the stream was recreated, the new one. */
  async epoch(): Promise<string> {
    return (await this.#ensure()).epoch
  }

  async append(events: readonly TidingsEvent[]): Promise<string[]> {
    if (this.#closed) throw new TidingsError('TIDINGS_ERR_CLOSED')
    if (events.length === 0) return []
    const session = await this.#ensure()
    const records = events.map((event) => ({
      content: Buffer.from(serializeEvent(event)),
      type: RECORD_EVENT,
      messageId: event.id,
      epoch: session.epoch,
      seq: ++this.#seq,
    }))
    const offsets = await this.#publishTracked(session, records)
    return offsets.map((o) => String(o + 1))
  }

  async read(after: string | null, options: ReadOptions): Promise<ReadResult> {
    const wanted = after === null ? 0 : this.#offsetOf(after)
    const session = await this.#ensure()
    const end = session.knownEnd
    const horizon = this.#horizon(session)
    let truncated = wanted < horizon
    const from = Math.max(wanted, horizon)
    const entries: LogEntry[] = []
    let next = after
    if (from > end || options.limit < 1) return { entries, truncated, next }
    let first = -1
    try {
      await this.#scan(from, Math.min(options.limit + READ_SLACK, MAX_READ_PREFETCH), (record) => {
        if (record.offset < from) return true
        if (first < 0) first = record.offset
        const entry = this.#observe(session, record)
        if (entry !== null) entries.push(entry)
        next = String(record.offset + 1)
        return entries.length < options.limit && record.offset < end
      })
    } catch (err) {
      if (!(err instanceof StreamDeleted)) throw err
      this.#endSession(session, 'the stream was deleted')
      return { entries: [], truncated: true, next: after }
    }
    // A jump past the first offset asked for is either an internal record or retention: only the
    // first offset still retained tells which.
    if (!truncated && first > from) truncated = (await this.#firstOffset()) > from
    return { entries, truncated, next }
  }

  async head(): Promise<string | null> {
    return this.#headOf(await this.#ensure())
  }

  async *tail(after: string | null, signal: AbortSignal): AsyncIterable<readonly LogEntry[]> {
    const wanted = after === null ? null : this.#offsetOf(after)
    const session = this.#session?.valid === true ? this.#session : await this.#ensure()
    // Taken before any other await, so "from the head" means the head at the call.
    let next = wanted ?? session.knownEnd + 1
    const epochChanged = (): TidingsError =>
      new TidingsError('TIDINGS_ERR_EPOCH_CHANGED', { detail: `the RabbitMQ stream ${this.stream} was deleted or recreated (epoch ${session.epoch})` })
    const buffer: ConsumeMessage[] = []
    let ch: Channel | undefined
    /** Set by the consumer's callbacks: `cancelled` when the broker cancelled it (stream deleted), `lost` when its channel closed. */
    const consumer: { state: 'open' | 'cancelled' | 'lost' } = { state: 'open' }
    let wake: (() => void) | null = null
    const notify = (): void => {
      const w = wake
      wake = null
      w?.()
    }
    const onAbort = (): void => {
      notify()
      void ch?.close().catch(() => undefined)
    }
    signal.addEventListener('abort', onAbort, { once: true })
    let failures = 0
    let checkedAt = -1
    try {
      while (!signal.aborted && !this.#closed) {
        if (!session.valid) throw epochChanged()
        this.#assertWithinHorizon(session, next)
        if (ch === undefined) {
          try {
            const channel = await this.#link.channel()
            this.#channels.add(channel)
            ch = channel
            consumer.state = 'open'
            channel.on('close', () => {
              this.#channels.delete(channel)
              if (consumer.state === 'open') consumer.state = 'lost'
              notify()
            })
            await channel.prefetch(this.#tailBatch)
            await channel.consume(
              this.stream,
              (msg) => {
                if (msg === null) consumer.state = 'cancelled'
                else buffer.push(msg)
                notify()
              },
              { noAck: false, arguments: { [H_OFFSET]: next } },
            )
            failures = 0
          } catch (err) {
            if (signal.aborted || this.#closed) return
            void ch?.close().catch(() => undefined)
            ch = undefined
            const delay = Math.min(this.#retryMs * 2 ** failures++, MAX_RETRY_MS)
            this.#logger.warn({ err, stream: this.stream, position: String(next), retryInMs: delay }, 'rabbitmq tail could not attach; retrying from its last position')
            await abortableDelay(delay, signal)
            await session.settled()
            continue
          }
        }
        if (buffer.length === 0) {
          if (consumer.state === 'cancelled') {
            this.#endSession(session, 'the stream was deleted')
            throw epochChanged()
          }
          if (consumer.state === 'lost') {
            ch = undefined
            buffer.length = 0
            await abortableDelay(Math.min(this.#retryMs * 2 ** failures++, MAX_RETRY_MS), signal)
            // The follower checks that the stream is still the same one before it resumes.
            await session.settled()
            continue
          }
          await new Promise<void>((resolve) => (wake = resolve))
          continue
        }
        const batch = buffer.splice(0, this.#tailBatch)
        const entries: LogEntry[] = []
        for (const msg of batch) {
          const offset = offsetOf(msg)
          if (offset < next) continue
          if (offset > next && checkedAt !== next) {
            checkedAt = next
            const first = await this.#firstOffset()
            if (first > next) {
              throw new TidingsError('TIDINGS_ERR_LOG_TRUNCATED', { detail: `retention removed the stream's records before offset ${first}; this reader needed offset ${next}` })
            }
          }
          const entry = this.#observe(session, { offset, message: msg })
          if (entry !== null) entries.push(entry)
          next = offset + 1
        }
        const last = batch[batch.length - 1]
        if (last !== undefined && consumer.state === 'open') ch.ack(last, true)
        if (entries.length > 0) yield entries
      }
    } finally {
      signal.removeEventListener('abort', onAbort)
      consumer.state = 'cancelled'
      if (ch !== undefined) {
        this.#channels.delete(ch)
        await ch.close().catch(() => undefined)
      }
    }
  }

  comparePositions(a: string, b: string): number {
    this.#offsetOf(a)
    this.#offsetOf(b)
    return compareDigits(a, b)
  }

  isPosition(value: string): boolean {
    return POSITION_RE.test(value)
  }

  /**
   * The ids of the events appended since `sinceMs` milliseconds ago (by the broker's chunk
   * timestamps), up to a fence published now: a record appended by any process before the call
   * is included. For deduplicating ingestion after a redelivery.
   */
  async eventIdsSince(sinceMs: number): Promise<Set<string>> {
    const session = await this.#ensure()
    const [fence] = await this.#publishTracked(session, [this.#fence()])
    const ids = new Set<string>()
    const from = { '!': 'timestamp', value: Math.floor((Date.now() - sinceMs) / 1000) }
    try {
      await this.#scan(from, MAX_READ_PREFETCH, (record) => {
        if (!isMarker(record.message) && record.message.properties.messageId !== undefined) ids.add(String(record.message.properties.messageId))
        return record.offset < fence!
      })
    } catch (err) {
      if (err instanceof StreamDeleted) this.#endSession(session, 'the stream was deleted')
      throw err
    }
    return ids
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#session !== undefined) this.#endSession(this.#session, 'the log was closed', 'TIDINGS_ERR_CLOSED')
    await Promise.allSettled([...this.#channels].map((ch) => ch.close()))
    this.#channels.clear()
    await this.#link.close()
  }

  #headOf(session: Session): string | null {
    return session.startedEmpty && !session.sawEvent ? null : String(session.knownEnd + 1)
  }

  /** The first offset still readable under `maxEvents` (0 without it). */
  #horizon(session: Session): number {
    return this.#maxEvents === undefined ? 0 : Math.max(0, session.knownEnd - this.#maxEvents + 1)
  }

  #assertWithinHorizon(session: Session, next: number): void {
    const horizon = this.#horizon(session)
    if (next < horizon) {
      throw new TidingsError('TIDINGS_ERR_LOG_TRUNCATED', { detail: `maxEvents (${this.#maxEvents}) keeps offsets from ${horizon}; this reader needed offset ${next}` })
    }
  }

  #offsetOf(position: string): number {
    if (!POSITION_RE.test(position)) {
      throw new TidingsError('TIDINGS_ERR_INVALID_CURSOR', { detail: `${JSON.stringify(position.slice(0, 40))} is not a RabbitMQ stream position` })
    }
    return Number(position)
  }

  #ensure(): Promise<Session> {
    if (this.#closed) return Promise.reject(new TidingsError('TIDINGS_ERR_CLOSED'))
    const session = this.#session
    if (session?.valid === true) return Promise.resolve(session)
    const opening = this.#opening ?? this.#open()
    this.#opening = opening
    void opening.then(
      () => {
        if (this.#opening === opening) this.#opening = undefined
      },
      () => {
        if (this.#opening === opening) this.#opening = undefined
      },
    )
    return opening
  }

  async #open(): Promise<Session> {
    await this.#declare()
    const session = new Session()
    try {
      await this.#follow(session, 'last')
      const [fence] = await this.#publishTracked(session, [this.#fence()])
      session.startedEmpty = fence === 0
      let epoch = await this.#firstEpoch(fence!)
      if (epoch === null) {
        const candidate = newEpoch()
        const [marker] = await this.#publishTracked(session, [{ content: Buffer.from('{}'), type: RECORD_EPOCH, messageId: `epoch-${candidate}`, epoch: candidate, seq: ++this.#seq }])
        epoch = (await this.#firstEpoch(marker!)) ?? candidate
      }
      session.epoch = epoch
    } catch (err) {
      this.#endSession(session, 'the log could not start')
      throw err
    }
    if (this.#closed) {
      this.#endSession(session, 'the log was closed', 'TIDINGS_ERR_CLOSED')
      throw new TidingsError('TIDINGS_ERR_CLOSED')
    }
    this.#session = session
    return session
  }

  /** Declares the stream; an existing one declared with other retention arguments is used as it is. */
  async #declare(): Promise<void> {
    const ch = await this.#link.channel()
    try {
      await ch.assertQueue(this.stream, { durable: true, arguments: this.queueArguments })
      return
    } catch (err) {
      if (!isAmqpError(err, 406)) throw err
      this.#logger.warn({ err, stream: this.stream }, 'the stream exists with other arguments (retention is fixed when a stream is declared; change it with a policy); using it as it is')
    } finally {
      await ch.close().catch(() => undefined)
    }
    const check = await this.#link.channel()
    try {
      const ok = await check.checkQueue(this.stream)
      if (ok.queue !== this.stream) throw new Error(`checkQueue answered for ${ok.queue}`)
    } finally {
      await check.close().catch(() => undefined)
    }
  }

  /** Attaches the follower at `from`; after a lost connection it reattaches by itself. */
  async #follow(session: Session, from: 'last' | number): Promise<void> {
    const ch = await this.#link.channel()
    try {
      await ch.prefetch(FOLLOWER_PREFETCH)
      ch.on('close', () => {
        if (session.follower !== ch) return
        session.follower = undefined
        if (session.valid && !this.#closed) void this.#refollow(session)
      })
      session.follower = ch
      await ch.consume(
        this.stream,
        (msg) => {
          if (msg === null) {
            this.#endSession(session, 'the stream was deleted')
            return
          }
          ch.ack(msg)
          const offset = offsetOf(msg)
          if (offset <= session.followed) return
          session.followed = offset
          this.#observe(session, { offset, message: msg }, false)
          const seq: unknown = msg.properties.headers?.[H_SEQ]
          if (typeof seq === 'number' && headerString(msg, H_WRITER) === this.#writerId) {
            const waiting = session.pending.get(seq)
            session.pending.delete(seq)
            waiting?.resolve(offset)
          }
        },
        { noAck: false, arguments: { [H_OFFSET]: from } },
      )
    } catch (err) {
      if (session.follower === ch) session.follower = undefined
      await ch.close().catch(() => undefined)
      throw err
    }
    session.notify()
  }

  /** Reattaches the follower after its channel closed, once the stream is known to be the same one. */
  async #refollow(session: Session): Promise<void> {
    let failures = 0
    while (session.valid && !this.#closed) {
      await abortableDelay(Math.min(this.#retryMs * 2 ** failures++, MAX_RETRY_MS))
      if (!session.valid || this.#closed) return
      try {
        if (!(await this.#sameStream(session))) {
          this.#endSession(session, 'the stream was recreated while the connection was down')
          return
        }
        await this.#follow(session, session.followed + 1)
        return
      } catch (err) {
        if (!session.valid || this.#closed) return
        this.#logger.debug({ err, stream: this.stream }, 'rabbitmq follower could not reattach yet')
      }
    }
  }

  /**
   * After a lost connection: is the stream the one this session followed? It is when it still
   * exists and its first stamped record carries the session's epoch, or, with no stamped record
   * left, when offsets did not start again from zero.
   */
  async #sameStream(session: Session): Promise<boolean> {
    const ch = await this.#link.channel()
    try {
      await ch.checkQueue(this.stream)
    } catch (err) {
      if (isAmqpError(err, 404)) return false
      throw err
    } finally {
      await ch.close().catch(() => undefined)
    }
    const probe = this.#fence()
    await this.#publish([probe])
    let epoch: string | null = null
    let probeOffset = -1
    await this.#scan('first', 64, (record) => {
      epoch = this.#stampOf(record.message)
      if (epoch !== null) return false
      if (record.message.properties.messageId === probe.messageId) {
        probeOffset = record.offset
        return false
      }
      return true
    })
    return epoch !== null ? epoch === session.epoch : probeOffset > session.followed
  }

  /** The epoch of the first stamped record at or before offset `until`; null when there is none. */
  async #firstEpoch(until: number): Promise<string | null> {
    let epoch: string | null = null
    await this.#scan('first', 64, (record) => {
      epoch = this.#stampOf(record.message)
      return epoch === null && record.offset < until
    })
    return epoch
  }

  #stampOf(message: ConsumeMessage): string | null {
    const type: unknown = message.properties.type
    if (type !== RECORD_EVENT && type !== RECORD_EPOCH) return null
    const epoch = headerString(message, H_EPOCH)
    return epoch !== null && EPOCH_RE.test(epoch) ? epoch : null
  }

  /** The offset of the first record the stream still retains. */
  async #firstOffset(): Promise<number> {
    let first = -1
    await this.#scan('first', 1, (record) => {
      first = record.offset
      return false
    })
    return first
  }

  /**
   * Consumes from `from` on a channel of its own, calling `visit` for each record in order until it
   * returns false. Rejects with {@link StreamDeleted} when the broker cancels the consumer, and
   * when no record arrives within the timeout.
   */
  async #scan(from: number | string | { '!': string; value: number }, prefetch: number, visit: (record: StreamRecord) => boolean): Promise<void> {
    const ch = await this.#link.channel()
    this.#channels.add(ch)
    try {
      await ch.prefetch(Math.max(1, prefetch))
      await new Promise<void>((resolve, reject) => {
        let done = false
        const finish = (err?: Error): void => {
          if (done) return
          done = true
          clearTimeout(timer)
          if (err === undefined) resolve()
          else reject(err)
        }
        const timer = setTimeout(() => finish(new TidingsError('TIDINGS_ERR_INTERNAL', { detail: `RabbitMQ sent no record of stream ${this.stream} within ${this.#timeoutMs} ms` })), this.#timeoutMs)
        ch.on('close', () => finish(new Error(`the channel reading stream ${this.stream} closed`)))
        ch.consume(
          this.stream,
          (msg) => {
            if (done) return
            if (msg === null) {
              finish(new StreamDeleted(this.stream))
              return
            }
            ch.ack(msg)
            timer.refresh()
            let more: boolean
            try {
              more = visit({ offset: offsetOf(msg), message: msg })
            } catch (err) {
              finish(err instanceof Error ? err : new Error(String(err)))
              return
            }
            if (!more) finish()
          },
          { noAck: false, arguments: { [H_OFFSET]: from } },
        ).catch((err: unknown) => finish(err instanceof Error ? err : new Error(String(err))))
      })
    } finally {
      this.#channels.delete(ch)
      await ch.close().catch(() => undefined)
    }
  }

  /** Notes a record a consumer of this instance saw; its entry, or null for a marker or an invalid record. */
  #observe(session: Session, record: StreamRecord, decode = true): LogEntry | null {
    if (record.offset > session.knownEnd) session.knownEnd = record.offset
    if (isMarker(record.message)) return null
    session.sawEvent = true
    return decode ? this.#decode(record) : null
  }

  #decode(record: StreamRecord): LogEntry | null {
    const position = String(record.offset + 1)
    const raw = record.message.content.toString('utf8')
    try {
      const value: unknown = JSON.parse(raw)
      if (isEnvelope(value)) return { position, event: value, json: /[\r\n]/.test(raw) ? serializeEvent(value) : raw }
      const event = normalizeWireEvent(value, record.message)
      return { position, event, json: serializeEvent(event) }
    } catch (err) {
      this.#skipped++
      this.#logger.warn({ err, position, stream: this.stream }, 'skipping a stream record that is not a valid Tidings event (see docs/engines/rabbitmq.md#wire-contract)')
      return null
    }
  }

  #fence(): OutgoingRecord {
    const seq = ++this.#seq
    return { content: Buffer.from('{}'), type: RECORD_FENCE, messageId: `fence-${this.#writerId}-${seq}`, epoch: null, seq }
  }

  /** Publishes `records` and resolves with their offsets, once confirmed and seen by the follower. */
  async #publishTracked(session: Session, records: readonly OutgoingRecord[]): Promise<number[]> {
    const seen = records.map(
      (r) =>
        new Promise<number>((resolve, reject) => {
          session.pending.set(r.seq, { resolve, reject })
        }),
    )
    for (const s of seen) s.catch(() => undefined)
    try {
      await this.#publish(records)
    } catch (err) {
      for (const r of records) session.pending.delete(r.seq)
      throw err instanceof TidingsError ? err : new TidingsError('TIDINGS_ERR_PUBLISH_FAILED', { detail: `RabbitMQ did not confirm the append to stream ${this.stream}`, cause: err })
    }
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        for (const r of records) session.pending.delete(r.seq)
        reject(new TidingsError('TIDINGS_ERR_PUBLISH_FAILED', { detail: `RabbitMQ confirmed the append, but its offsets were not seen within ${this.#timeoutMs} ms; the events may be in the stream` }))
      }, this.#timeoutMs)
    })
    try {
      return await Promise.race([Promise.all(seen), timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  /** Publishes on the confirm channel and resolves once the broker confirmed every record. */
  async #publish(records: readonly OutgoingRecord[]): Promise<void> {
    const ch = await this.#confirmChannel()
    const timestamp = Math.floor(Date.now() / 1000)
    await Promise.all(
      records.map(
        (r) =>
          new Promise<void>((resolve, reject) => {
            const headers: Record<string, string | number> = { [H_WRITER]: this.#writerId, [H_SEQ]: r.seq }
            if (r.epoch !== null) headers[H_EPOCH] = r.epoch
            ch.sendToQueue(
              this.stream,
              r.content,
              { persistent: true, mandatory: true, type: r.type, messageId: r.messageId, contentType: 'application/json', timestamp, headers },
              (err: unknown) => {
                if (this.#returned.delete(r.seq)) reject(new TidingsError('TIDINGS_ERR_PUBLISH_FAILED', { detail: `the RabbitMQ stream ${this.stream} does not exist (it was deleted)` }))
                else if (err) reject(err instanceof Error ? err : new Error(String(err)))
                else resolve()
              },
            )
          }),
      ),
    )
  }

  #confirmChannel(): Promise<ConfirmChannel> {
    const existing = this.#publisher
    if (existing !== undefined) return existing
    const opening = (async () => {
      const ch = await this.#link.confirmChannel()
      ch.on('return', (msg: Message) => {
        const seq: unknown = msg.properties.headers?.[H_SEQ]
        if (typeof seq === 'number' && headerString(msg, H_WRITER) === this.#writerId) this.#returned.add(seq)
      })
      ch.on('close', () => {
        if (this.#publisher === opening) this.#publisher = undefined
      })
      return ch
    })()
    this.#publisher = opening
    opening.catch(() => {
      if (this.#publisher === opening) this.#publisher = undefined
    })
    return opening
  }

  #endSession(session: Session, why: string, code: 'TIDINGS_ERR_PUBLISH_FAILED' | 'TIDINGS_ERR_CLOSED' = 'TIDINGS_ERR_PUBLISH_FAILED'): void {
    if (!session.valid) return
    session.valid = false
    if (this.#session === session) this.#session = undefined
    const err = new TidingsError(code, { detail: `${why} (stream ${this.stream})` })
    for (const waiting of session.pending.values()) waiting.reject(err)
    session.pending.clear()
    const follower = session.follower
    session.follower = undefined
    void follower?.close().catch(() => undefined)
    session.notify()
  }
}

/** The broker cancelled a consumer: the stream was deleted. */
class StreamDeleted extends Error {
  constructor(stream: string) {
    super(`the RabbitMQ stream ${stream} was deleted`)
  }
}

/**
 * An event another process published straight into the stream (the wire contract): the camelCase
 * publish form or seed 000's snake_case form, with its id. Every hub must decode it the same way, so
 * a missing `occurredAt` comes from the message's AMQP `timestamp` and is refused without one.
 */
function normalizeWireEvent(value: unknown, message: ConsumeMessage): TidingsEvent {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('the record is not a JSON object')
  const v = value as Record<string, unknown>
  const snake = 'event_type' in v || 'event_id' in v || 'user_id' in v
  if (v[snake ? 'event_id' : 'id'] === undefined) throw new Error(`the event has no ${snake ? 'event_id' : 'id'}; the wire contract requires one`)
  const timestamp: unknown = message.properties.timestamp
  if (v[snake ? 'occurred_at' : 'occurredAt'] === undefined && typeof timestamp !== 'number') {
    throw new Error('the event has neither occurredAt nor an AMQP timestamp property')
  }
  return normalizeEvent(value, { maxEventBytes: Number.POSITIVE_INFINITY, now: () => new Date(Number(timestamp) * 1000) })
}
