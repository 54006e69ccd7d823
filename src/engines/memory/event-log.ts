/**
 * The embedded memory `EventLog`: an array of entries with in-process wake-ups. Positions are
 * decimal sequence numbers; the epoch is random per instance, so a restarted process is a new epoch
 * and every old cursor gets an honest `tidings.reset`.
 */
import { randomBytes } from 'node:crypto'
import type { TidingsEvent } from '../../core/envelope.js'
import { serializeEvent } from '../../core/envelope.js'
import { TidingsError } from '../../core/errors.js'
import type {
  EventLog,
  EventLogCapabilities,
  LogEntry,
  ReadOptions,
  ReadResult,
  RetentionOptions,
} from '../../core/event-log.js'
import { ChannelMatcher } from '../../core/channels.js'

/** Default most events the memory log keeps. */
export const DEFAULT_MEMORY_MAX_EVENTS = 100_000
/** Default age after which the memory log drops events: one hour. */
export const DEFAULT_MEMORY_MAX_AGE_MS = 60 * 60 * 1000
/** Most entries one tail batch carries. */
const TAIL_BATCH = 1024

/** Options for {@link MemoryEventLog}. */
export interface MemoryEventLogOptions extends RetentionOptions {
  /** @defaultValue {@link DEFAULT_MEMORY_MAX_EVENTS} */
  maxEvents?: number
  /** @defaultValue {@link DEFAULT_MEMORY_MAX_AGE_MS} */
  maxAgeMs?: number
  /** Clock, for tests. @defaultValue `Date.now` */
  now?: () => number
}

interface StoredEntry extends LogEntry {
  readonly seq: number
  readonly appendedAt: number
}

const POSITION_RE = /^(0|[1-9][0-9]{0,15})$/

/** In-process event log; share one instance between several Tidings to stand in for processes. */
export class MemoryEventLog implements EventLog {
  readonly engine = 'memory'
  readonly capabilities: EventLogCapabilities = { filteredRead: true, durable: false }
  readonly origin = '0'
  readonly #epoch = randomBytes(6).toString('base64url').replace(/[^A-Za-z0-9]/g, 'x')
  readonly #maxEvents: number
  readonly #maxAgeMs: number
  readonly #now: () => number
  /** Live entries are `#entries[#start ..]`; the prefix is compacted away lazily. */
  #entries: StoredEntry[] = []
  #start = 0
  #lastSeq = 0
  #wake: (() => void)[] = []
  #closed = false

  constructor(options: MemoryEventLogOptions = {}) {
    this.#maxEvents = options.maxEvents ?? DEFAULT_MEMORY_MAX_EVENTS
    this.#maxAgeMs = options.maxAgeMs ?? DEFAULT_MEMORY_MAX_AGE_MS
    this.#now = options.now ?? Date.now
    if (!Number.isInteger(this.#maxEvents) || this.#maxEvents < 1) {
      throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: 'maxEvents must be a positive integer' })
    }
    if (!(this.#maxAgeMs > 0)) {
      throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: 'maxAgeMs must be positive' })
    }
  }

  async ready(): Promise<void> {}

  async epoch(): Promise<string> {
    return this.#epoch
  }

  async append(events: readonly TidingsEvent[]): Promise<string[]> {
    if (this.#closed) throw new TidingsError('TIDINGS_ERR_CLOSED')
    const at = this.#now()
    const positions: string[] = []
    for (const event of events) {
      const seq = ++this.#lastSeq
      const position = String(seq)
      this.#entries.push({ seq, position, event, json: serializeEvent(event), appendedAt: at })
      positions.push(position)
    }
    this.#trim()
    if (positions.length > 0) this.#notify()
    return positions
  }

  async read(after: string | null, options: ReadOptions): Promise<ReadResult> {
    this.#trim()
    const afterSeq = after === null ? 0 : this.#seq(after)
    const first = this.#firstSeq()
    const truncated = afterSeq < first - 1
    let i = this.#indexAfter(afterSeq)
    const matcher = options.channels ? new ChannelMatcher(options.channels.exact, options.channels.patterns) : null
    const entries: LogEntry[] = []
    let next: string | null = after
    const end = this.#entries.length
    for (; i < end && entries.length < options.limit; i++) {
      const e = this.#entries[i]!
      next = e.position
      if (matcher === null || matcher.matchesAny(e.event.channels)) entries.push(e)
    }
    if (next === null && this.#lastSeq > 0 && end === this.#start) next = String(this.#lastSeq)
    return { entries, truncated, next }
  }

  async head(): Promise<string | null> {
    return this.#lastSeq === 0 ? null : String(this.#lastSeq)
  }

  async *tail(after: string | null, signal: AbortSignal): AsyncIterable<readonly LogEntry[]> {
    let pos = after === null ? this.#lastSeq : this.#seq(after)
    while (!signal.aborted && !this.#closed) {
      this.#trim()
      if (pos < this.#firstSeq() - 1) {
        throw new TidingsError('TIDINGS_ERR_LOG_TRUNCATED', { detail: `memory log no longer holds position ${pos + 1}` })
      }
      if (pos < this.#lastSeq) {
        const i = this.#indexAfter(pos)
        const batch = this.#entries.slice(i, i + TAIL_BATCH)
        pos = batch[batch.length - 1]!.seq
        yield batch
        continue
      }
      await this.#waitForAppend(signal)
    }
  }

  comparePositions(a: string, b: string): number {
    return this.#seq(a) - this.#seq(b)
  }

  isPosition(value: string): boolean {
    return POSITION_RE.test(value)
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#notify()
  }

  #seq(position: string): number {
    if (!POSITION_RE.test(position)) {
      throw new TidingsError('TIDINGS_ERR_INVALID_CURSOR', { detail: `${JSON.stringify(position.slice(0, 40))} is not a memory log position` })
    }
    return Number(position)
  }

  #firstSeq(): number {
    const e = this.#entries[this.#start]
    return e === undefined ? this.#lastSeq + 1 : e.seq
  }

  /** Index of the first entry with seq > `seq`; entries are contiguous, so this is arithmetic. */
  #indexAfter(seq: number): number {
    const first = this.#firstSeq()
    return this.#start + Math.max(0, seq + 1 - first)
  }

  #trim(): void {
    const cutoff = this.#now() - this.#maxAgeMs
    let start = this.#start
    const end = this.#entries.length
    if (end - start > this.#maxEvents) start = end - this.#maxEvents
    while (start < end && this.#entries[start]!.appendedAt < cutoff) start++
    this.#start = start
    if (start > 4096 && start * 2 > end) {
      this.#entries = this.#entries.slice(start)
      this.#start = 0
    }
  }

  #notify(): void {
    const wake = this.#wake
    this.#wake = []
    for (const w of wake) w()
  }

  #waitForAppend(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        signal.removeEventListener('abort', done)
        resolve()
      }
      signal.addEventListener('abort', done, { once: true })
      this.#wake.push(done)
    })
  }
}
