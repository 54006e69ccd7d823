/**
 * The NATS JetStream `EventLog` (DESIGN §2): one stream per log. Each event is one message, so one
 * position: its stream sequence. The subject is `<subjectPrefix>.<first channel, encoded>`; the
 * other channels live in the envelope (see docs/engines/nats.md#subjects for why replays are not
 * filtered by subject). Retention is the stream's own limits (messages, age); the epoch is the
 * stream's `created` time, so a stream deleted and created again is a new epoch.
 *
 * JetStream stores a stream's messages under contiguous sequences and only ever removes them, so a
 * reader that asks for p+1 and finds something later (or nothing, below the stream's first
 * sequence) knows exactly that events were removed after p: that is the loss it reports.
 *
 * Appends publish every event of a batch without waiting in between (one connection keeps them in
 * order) and resolve on the JetStream acks. The event id is the `Nats-Msg-Id`, so the server drops
 * a repeated publish inside its duplicate window and answers with the first one's sequence. Reads
 * fetch sequences with direct gets; a tail is an ordered consumer from a sequence, watched for
 * gaps and for a recreated stream.
 *
 * `@nats-io/*` are optional peer dependencies, imported when a log first connects.
 */
import type { JetStreamClient, JetStreamManager, StreamConfig, StreamInfo } from '@nats-io/jetstream'
import { isEnvelope, normalizeEvent, serializeEvent, type TidingsEvent } from '../../core/envelope.js'
import { TidingsError, isTidingsError } from '../../core/errors.js'
import type { AppendResult, EventLog, EventLogCapabilities, LogEntry, ReadOptions, ReadResult, RetentionOptions } from '../../core/event-log.js'
import { createLogger, type Logger } from '../../core/logger.js'
import {
  DEFAULT_NATS_API_TIMEOUT_MS,
  DEFAULT_NATS_REPLICAS,
  closeConnection,
  encodeToken,
  epochFromCreated,
  isStreamNotFound,
  loadNats,
  nanos,
  openConnection,
  type NatsConnectionOptions,
  type OpenConnection,
} from './connection.js'

/** Default name of the stream that holds the log. */
export const DEFAULT_NATS_EVENT_STREAM = 'TIDINGS_EVENTS'
/** Default subject prefix: events go to `tidings.events.<channel>`. */
export const DEFAULT_NATS_EVENT_SUBJECT_PREFIX = 'tidings.events'
/** Default most events the stream keeps. */
export const DEFAULT_NATS_MAX_EVENTS = 100_000
/** Default age after which the stream drops events: one day. */
export const DEFAULT_NATS_MAX_AGE_MS = 24 * 60 * 60 * 1000
/** Default JetStream duplicate window: a publish repeated within it (same event id) is dropped. */
export const DEFAULT_NATS_DUPLICATE_WINDOW_MS = 2 * 60 * 1000
/** Default most entries one tail batch carries. */
export const DEFAULT_NATS_TAIL_BATCH = 1_000
/** Default interval at which an idle tail makes sure its stream is still the one it started on. */
export const DEFAULT_NATS_CHECK_INTERVAL_MS = 5_000
/** Default most direct gets one read has in flight. */
export const DEFAULT_NATS_READ_CONCURRENCY = 256
/** First pause before a tail tries again after a connection error; doubles up to {@link MAX_TAIL_RETRY_MS}. */
const TAIL_RETRY_MS = 100
const MAX_TAIL_RETRY_MS = 5_000
/** How long an ordered consumer's pull waits on the server; its idle heartbeat is half of it. */
const TAIL_PULL_EXPIRES_MS = 5_000

const POSITION_RE = /^(0|[1-9][0-9]{0,19})$/
const STREAM_RE = /^[A-Za-z0-9_-]{1,64}$/
const SUBJECT_PREFIX_RE = /^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,7}$/
const MAX_SEQUENCE = 18446744073709551615n

/** Options of {@link NatsEventLog}. */
export interface NatsEventLogOptions extends NatsConnectionOptions, RetentionOptions {
  /** Name of the JetStream stream; created if missing. @defaultValue {@link DEFAULT_NATS_EVENT_STREAM} */
  stream?: string
  /**
   * Subject prefix: the stream captures `<subjectPrefix>.>`. Must not overlap another stream's
   * subjects. @defaultValue {@link DEFAULT_NATS_EVENT_SUBJECT_PREFIX}
   */
  subjectPrefix?: string
  /** Keep at most this many events (the stream's `max_msgs`). @defaultValue {@link DEFAULT_NATS_MAX_EVENTS} */
  maxEvents?: number
  /** Drop events older than this (the stream's `max_age`). @defaultValue {@link DEFAULT_NATS_MAX_AGE_MS} */
  maxAgeMs?: number
  /** JetStream's duplicate window (capped at `maxAgeMs`). @defaultValue {@link DEFAULT_NATS_DUPLICATE_WINDOW_MS} */
  duplicateWindowMs?: number
  /** Stream replicas (on a cluster: 1, 3 or 5). @defaultValue {@link DEFAULT_NATS_REPLICAS} */
  replicas?: number
  /** Where the stream keeps messages; `memory` loses them on a server restart. @defaultValue `'file'` */
  storage?: 'file' | 'memory'
  /** Most entries per tail batch. @defaultValue {@link DEFAULT_NATS_TAIL_BATCH} */
  tailBatchSize?: number
  /** How often an idle tail checks its stream's identity. @defaultValue {@link DEFAULT_NATS_CHECK_INTERVAL_MS} */
  checkIntervalMs?: number
  /** Most direct gets one read has in flight. @defaultValue {@link DEFAULT_NATS_READ_CONCURRENCY} */
  readConcurrency?: number
}

/** What a read or a tail needs to know of the stream, from one stream info. */
interface StreamState {
  readonly epoch: string
  /** 0 for a stream that never had a message. */
  readonly firstSeq: number
  readonly lastSeq: number
}

/** One message a tail received: its sequence, and its entry unless it held no valid event. */
interface Slot {
  readonly seq: number
  readonly entry: LogEntry | null
}

/** The parts of a connection this log uses. */
interface Live {
  readonly conn: OpenConnection
  readonly jsm: JetStreamManager
  readonly js: JetStreamClient
}

/** An EventLog on a NATS JetStream stream. */
export class NatsEventLog implements EventLog {
  readonly engine = 'nats'
  /** Replays are not filtered by the engine: an event on several channels is one message on one subject (see the docs). */
  readonly capabilities: EventLogCapabilities
  readonly origin = '0'
  /** The stream's name. */
  readonly stream: string
  /** The subject prefix events are published under. */
  readonly subjectPrefix: string
  readonly #options: NatsEventLogOptions
  readonly #maxEvents: number
  readonly #maxAgeMs: number
  readonly #duplicateWindowMs: number
  readonly #tailBatch: number
  readonly #checkIntervalMs: number
  readonly #readConcurrency: number
  readonly #apiTimeoutMs: number
  readonly #logger: Logger
  #live: Live | undefined
  #ready: Promise<Live> | undefined
  /** The epoch this instance last reported; readers compare what they find against it. */
  #epoch: string | undefined
  readonly #tails = new Set<AbortController>()
  #closed = false
  #skipped = 0

  constructor(options: NatsEventLogOptions = {}) {
    this.#options = options
    this.stream = options.stream ?? DEFAULT_NATS_EVENT_STREAM
    this.subjectPrefix = options.subjectPrefix ?? DEFAULT_NATS_EVENT_SUBJECT_PREFIX
    this.#maxEvents = options.maxEvents ?? DEFAULT_NATS_MAX_EVENTS
    this.#maxAgeMs = options.maxAgeMs ?? DEFAULT_NATS_MAX_AGE_MS
    this.#duplicateWindowMs = Math.min(options.duplicateWindowMs ?? DEFAULT_NATS_DUPLICATE_WINDOW_MS, this.#maxAgeMs)
    this.#tailBatch = options.tailBatchSize ?? DEFAULT_NATS_TAIL_BATCH
    this.#checkIntervalMs = options.checkIntervalMs ?? DEFAULT_NATS_CHECK_INTERVAL_MS
    this.#readConcurrency = options.readConcurrency ?? DEFAULT_NATS_READ_CONCURRENCY
    this.#apiTimeoutMs = options.apiTimeoutMs ?? DEFAULT_NATS_API_TIMEOUT_MS
    this.#logger = options.logger ?? createLogger().child({ engine: 'nats' })
    this.capabilities = { filteredRead: false, durable: (options.storage ?? 'file') === 'file' }
    const invalid = (detail: string): TidingsError => new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail })
    if (!STREAM_RE.test(this.stream)) throw invalid('nats stream must be 1–64 characters of [A-Za-z0-9_-]')
    if (!SUBJECT_PREFIX_RE.test(this.subjectPrefix)) throw invalid('nats subjectPrefix must be 1–8 dot-separated tokens of [A-Za-z0-9_-]')
    for (const [name, value] of [
      ['maxEvents', this.#maxEvents],
      ['maxAgeMs', this.#maxAgeMs],
      ['duplicateWindowMs', this.#duplicateWindowMs],
      ['tailBatchSize', this.#tailBatch],
      ['checkIntervalMs', this.#checkIntervalMs],
      ['readConcurrency', this.#readConcurrency],
      ['apiTimeoutMs', this.#apiTimeoutMs],
      ['replicas', options.replicas ?? DEFAULT_NATS_REPLICAS],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < 1) throw invalid(`nats ${name} must be a positive integer`)
    }
  }

  /** Entries skipped because they did not hold a valid event (each one logged). */
  get skippedEntries(): number {
    return this.#skipped
  }

  /** Connects and creates the stream if it is missing (or updates its limits). Idempotent; a failed start is tried again by the next call. */
  async ready(): Promise<void> {
    await this.#connect()
  }

  /** The stream's identity: its `created` time. Creates the stream if it is missing (a new epoch). */
  async epoch(): Promise<string> {
    const live = await this.#connect()
    const info = await this.#ensureStream(live)
    this.#epoch = epochFromCreated(info.created)
    return this.#epoch
  }

  /** The subject an event is published on: the prefix and its first channel, encoded. */
  subjectOf(event: TidingsEvent): string {
    return `${this.subjectPrefix}.${encodeToken(event.channels[0] ?? '')}`
  }

  async append(events: readonly TidingsEvent[]): Promise<string[]> {
    if (this.#closed) throw new TidingsError('TIDINGS_ERR_CLOSED')
    if (events.length === 0) return []
    const live = await this.#connect()
    try {
      return await this.#publish(live, events)
    } catch (err) {
      if (!isNoStream(err)) throw err
      // The stream was deleted under us: like Redis's missing epoch, that starts a new log.
      this.#epoch = epochFromCreated((await this.#ensureStream(live)).created)
      return this.#publish(live, events)
    }
  }

  /**
   * {@link append} with the epoch this log last read (at connect, or when an append found the
   * stream gone) instead of a stream-info request per append. A stream that another process
   * recreated meanwhile leaves it stale until then; a client resuming from such a cursor gets an
   * honest `tidings.reset`, never a silent gap.
   */
  async appendWithEpoch(events: readonly TidingsEvent[]): Promise<AppendResult> {
    const positions = await this.append(events)
    return { epoch: this.#epoch ?? (await this.epoch()), positions }
  }

  async read(after: string | null, options: ReadOptions): Promise<ReadResult> {
    const from = after === null ? null : this.#sequence(after)
    const live = await this.#connect()
    const state = await this.#state(live)
    const start = from === null ? Math.max(state.firstSeq, 1) : from + 1
    let truncated = (this.#epoch !== undefined && state.epoch !== this.#epoch) || (from === null ? state.firstSeq > 1 : state.firstSeq > start)
    const first = Math.max(start, state.firstSeq)
    const last = Math.min(state.lastSeq, first + Math.max(0, Math.floor(options.limit)) - 1)
    const entries: LogEntry[] = []
    for (let lo = first; lo <= last; lo += this.#readConcurrency) {
      const seqs = Array.from({ length: Math.min(this.#readConcurrency, last - lo + 1) }, (_, i) => lo + i)
      const got = await Promise.all(seqs.map((seq) => live.jsm.direct.getMessage(this.stream, { seq })))
      got.forEach((m, i) => {
        // Missing although below the last sequence: removed between the stream info and the get.
        if (m === null) truncated = true
        else {
          const entry = this.#decode(seqs[i]!, m.string(), m.time.getTime())
          if (entry !== null) entries.push(entry)
        }
      })
    }
    let next: string | null = last >= first ? String(last) : after
    if (next === null && state.lastSeq > 0) next = String(state.lastSeq)
    return { entries, truncated, next }
  }

  async head(): Promise<string | null> {
    const state = await this.#state(await this.#connect())
    return state.lastSeq > 0 ? String(state.lastSeq) : null
  }

  async *tail(after: string | null, signal: AbortSignal): AsyncIterable<readonly LogEntry[]> {
    const from = after === null ? null : this.#sequence(after)
    const live = await this.#connect()
    const state = await this.#state(live)
    const epoch = this.#epoch ?? state.epoch
    if (state.epoch !== epoch) throw this.#epochChanged(state.epoch, epoch)
    let pos = from ?? state.lastSeq
    if (state.firstSeq > pos + 1) throw this.#truncated(pos, state.firstSeq)
    const ac = new AbortController()
    const onAbort = (): void => ac.abort()
    signal.addEventListener('abort', onAbort, { once: true })
    this.#tails.add(ac)
    let failures = 0
    try {
      while (!ac.signal.aborted) {
        try {
          for await (const batch of this.#follow(live, pos, epoch, ac.signal)) {
            failures = 0
            pos = batch[batch.length - 1]!.seq
            const entries = batch.flatMap((s) => (s.entry === null ? [] : [s.entry]))
            if (entries.length > 0) yield entries
          }
          return
        } catch (err) {
          if (isTidingsError(err) || ac.signal.aborted) throw err
          const delay = Math.min(TAIL_RETRY_MS * 2 ** failures, MAX_TAIL_RETRY_MS)
          failures++
          this.#logger.warn({ err, position: pos, retryInMs: delay }, 'nats tail failed; retrying from its last position')
          await abortableDelay(delay, ac.signal)
        }
      }
    } finally {
      signal.removeEventListener('abort', onAbort)
      this.#tails.delete(ac)
    }
  }

  comparePositions(a: string, b: string): number {
    const x = BigInt(this.#checked(a))
    const y = BigInt(this.#checked(b))
    return x < y ? -1 : x > y ? 1 : 0
  }

  isPosition(value: string): boolean {
    return POSITION_RE.test(value) && BigInt(value) <= MAX_SEQUENCE
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const ac of this.#tails) ac.abort()
    this.#tails.clear()
    const ready = this.#ready
    this.#ready = undefined
    const live = this.#live ?? (await ready?.catch(() => undefined))
    await closeConnection(live?.conn)
  }

  /**
   * One ordered consumer from `pos + 1`, yielding batches of slots (a message that holds no event
   * still moves the position). Throws `TIDINGS_ERR_LOG_TRUNCATED` on a sequence gap and
   * `TIDINGS_ERR_EPOCH_CHANGED` when the stream is not the one the tail started on; any other error
   * is a connection problem that the caller retries from its position.
   */
  async *#follow(live: Live, pos: number, epoch: string, signal: AbortSignal): AsyncIterable<readonly Slot[]> {
    const { jetstream } = await loadNats()
    const consumer = await live.js.consumers.get(this.stream, { deliver_policy: jetstream.DeliverPolicy.StartSequence, opt_start_seq: pos + 1 })
    let buffer: Slot[] = []
    let failure: unknown
    let verifying: Promise<void> | null = null
    let wake: (() => void) | null = null
    const poke = (): void => {
      const w = wake
      wake = null
      w?.()
    }
    let expected = pos + 1
    let deliveredBy: string | undefined
    /** The sequence that was expected when a later one arrived: everything from it on was removed. */
    let gap: number | undefined
    const fail = (err: unknown): void => {
      failure ??= err
      poke()
    }
    /** Holds delivery until the stream is known to be the same one; a different one ends the tail, and so does a gap. */
    const verify = (): void => {
      verifying ??= this.#state(live)
        .then((s) => {
          if (s.epoch !== epoch) fail(this.#epochChanged(s.epoch, epoch))
          else if (gap !== undefined) fail(this.#truncated(gap - 1, s.firstSeq))
        })
        .catch((err: unknown) => {
          if (!isStreamNotFound(err)) throw err
          fail(this.#epochChanged(null, epoch))
        })
        .catch((err: unknown) => this.#logger.debug({ err }, 'nats tail could not check its stream; checking again later'))
        .finally(() => {
          verifying = null
          if (gap !== undefined && failure === undefined) verify()
          poke()
        })
    }
    const messages = await consumer.consume({
      max_messages: this.#tailBatch,
      expires: TAIL_PULL_EXPIRES_MS,
      callback: (m) => {
        if (failure !== undefined || gap !== undefined || m.seq < expected) return
        // The first message of every consumer the library (re)created waits for a look at the stream.
        if (m.info.consumer !== deliveredBy) {
          deliveredBy = m.info.consumer
          verify()
        }
        if (m.seq > expected) {
          gap ??= expected
          verify()
          return
        }
        expected = m.seq + 1
        buffer.push({ seq: m.seq, entry: this.#decode(m.seq, m.string(), Math.floor(m.info.timestampNanos / 1e6)) })
        if (buffer.length === 1) poke()
      },
    })
    void (async () => {
      for await (const s of messages.status()) {
        // A consumer created again may sit on a stream created again: look before delivering more.
        if (s.type === 'reset' || s.type === 'ordered_consumer_recreated' || s.type === 'consumer_deleted' || s.type === 'stream_not_found') verify()
      }
    })().catch(() => undefined)
    void messages.closed().then((err) => {
      if (err) fail(err)
      else if (!signal.aborted) fail(new Error('the ordered consumer stopped'))
    })
    const timer = setInterval(() => verify(), this.#checkIntervalMs)
    const onAbort = (): void => poke()
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      while (!signal.aborted) {
        if (failure !== undefined) throw failure
        if (buffer.length > 0 && verifying === null) {
          const batch = buffer
          buffer = []
          yield batch
          continue
        }
        await new Promise<void>((resolve) => (wake = resolve))
      }
    } finally {
      clearInterval(timer)
      signal.removeEventListener('abort', onAbort)
      messages.stop()
    }
  }

  async #publish(live: Live, events: readonly TidingsEvent[]): Promise<string[]> {
    // Every publish leaves before the first ack is awaited: one connection keeps them in order.
    const acks = events.map((e) =>
      live.js.publish(this.subjectOf(e), serializeEvent(e), { msgID: e.id, expect: { streamName: this.stream }, timeout: this.#apiTimeoutMs }),
    )
    const settled = await Promise.allSettled(acks)
    const failed = settled.find((s) => s.status === 'rejected')
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason
    return settled.map((s) => String((s as PromiseFulfilledResult<{ seq: number }>).value.seq))
  }

  async #connect(): Promise<Live> {
    if (this.#closed) throw new TidingsError('TIDINGS_ERR_CLOSED')
    if (this.#live !== undefined) return this.#live
    this.#ready ??= (async () => {
      const { jetstream } = await loadNats()
      const conn = await openConnection(this.#options, this.#logger, `tidings:${this.stream}:log`)
      try {
        const jsm = await jetstream.jetstreamManager(conn.nc, { timeout: this.#apiTimeoutMs })
        const live: Live = { conn, jsm, js: jsm.jetstream() }
        const info = await this.#ensureStream(live)
        this.#epoch = epochFromCreated(info.created)
        if (this.#closed) throw new TidingsError('TIDINGS_ERR_CLOSED')
        this.#live = live
        return live
      } catch (err) {
        await closeConnection(conn)
        throw err
      }
    })()
    this.#ready.catch(() => {
      this.#ready = undefined
    })
    return this.#ready
  }

  /** The stream's info; creates it if missing, and brings its limits in line with this log's options. */
  async #ensureStream(live: Live): Promise<StreamInfo> {
    const { jetstream } = await loadNats()
    const wanted: Partial<StreamConfig> = {
      subjects: [`${this.subjectPrefix}.>`],
      max_msgs: this.#maxEvents,
      max_age: nanos(this.#maxAgeMs),
      duplicate_window: nanos(this.#duplicateWindowMs),
      allow_direct: true,
    }
    try {
      const info = await live.jsm.streams.info(this.stream)
      const c = info.config
      if (c.max_msgs !== wanted.max_msgs || c.max_age !== wanted.max_age || c.duplicate_window !== wanted.duplicate_window || !c.allow_direct || !(c.subjects ?? []).includes(wanted.subjects![0]!)) {
        this.#logger.info({ stream: this.stream }, 'updating the nats stream to this log\'s limits')
        return await live.jsm.streams.update(this.stream, { ...c, ...wanted, subjects: [...new Set([...(c.subjects ?? []), ...wanted.subjects!])] })
      }
      return info
    } catch (err) {
      if (!isStreamNotFound(err)) throw err
    }
    try {
      return await live.jsm.streams.add({
        name: this.stream,
        ...wanted,
        retention: jetstream.RetentionPolicy.Limits,
        discard: jetstream.DiscardPolicy.Old,
        storage: this.#options.storage === 'memory' ? jetstream.StorageType.Memory : jetstream.StorageType.File,
        num_replicas: this.#options.replicas ?? DEFAULT_NATS_REPLICAS,
      })
    } catch (err) {
      // Another process created it first.
      return live.jsm.streams.info(this.stream).catch(() => Promise.reject(err))
    }
  }

  async #state(live: Live): Promise<StreamState> {
    const info = await live.jsm.streams.info(this.stream)
    return { epoch: epochFromCreated(info.created), firstSeq: info.state.first_seq, lastSeq: info.state.last_seq }
  }

  #sequence(position: string): number {
    const n = Number(this.#checked(position))
    if (!Number.isSafeInteger(n)) throw new TidingsError('TIDINGS_ERR_INVALID_CURSOR', { detail: `position ${position} is past what this engine reads` })
    return n
  }

  #checked(position: string): string {
    if (!this.isPosition(position)) {
      throw new TidingsError('TIDINGS_ERR_INVALID_CURSOR', { detail: `${JSON.stringify(position.slice(0, 40))} is not a JetStream sequence` })
    }
    return position
  }

  #epochChanged(found: string | null, had: string): TidingsError {
    return new TidingsError('TIDINGS_ERR_EPOCH_CHANGED', { detail: `the NATS stream ${this.stream} is ${found === null ? 'gone' : `now epoch ${found}`}, not ${had}` })
  }

  #truncated(pos: number, firstSeq: number): TidingsError {
    return new TidingsError('TIDINGS_ERR_LOG_TRUNCATED', { detail: `the NATS stream ${this.stream} no longer holds the events after ${pos} (it starts at ${firstSeq})` })
  }

  /** A stored message as a log entry; null (logged, counted) when it holds no valid event. */
  #decode(seq: number, raw: string, storedAtMs: number): LogEntry | null {
    const position = String(seq)
    try {
      const value: unknown = JSON.parse(raw)
      if (isEnvelope(value)) return { position, event: value, json: /[\r\n]/.test(raw) ? serializeEvent(value) : raw }
      const event = normalizeWireEvent(value, storedAtMs)
      return { position, event, json: serializeEvent(event) }
    } catch (err) {
      this.#skipped++
      this.#logger.warn({ err, position, stream: this.stream }, 'skipping a stream message that is not a valid Tidings event (see docs/engines/nats.md#publishing-from-other-languages)')
      return null
    }
  }
}

/**
 * An event another process published straight to the stream: the camelCase publish form or seed
 * 000's snake_case form, with its id, which every hub must agree on. A missing `occurredAt` becomes
 * the message's stored time, so it too is the same for every reader.
 */
function normalizeWireEvent(value: unknown, storedAtMs: number): TidingsEvent {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('the event is not a JSON object')
  const v = value as Record<string, unknown>
  const snake = 'event_type' in v || 'event_id' in v || 'user_id' in v
  if (v[snake ? 'event_id' : 'id'] === undefined) throw new Error(`the event has no ${snake ? 'event_id' : 'id'}; the wire contract requires one`)
  return normalizeEvent(value, { maxEventBytes: Number.POSITIVE_INFINITY, now: () => new Date(storedAtMs) })
}

/** A publish that no stream answered: the stream is gone. */
function isNoStream(err: unknown): boolean {
  if (isStreamNotFound(err)) return true
  const e = err as { name?: unknown; message?: unknown; cause?: unknown } | null
  const text = `${String(e?.name ?? '')} ${String(e?.message ?? '')} ${String((e?.cause as { message?: unknown } | undefined)?.message ?? '')}`
  return /no responders|jetstream is not enabled|expected stream does not match/i.test(text)
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
