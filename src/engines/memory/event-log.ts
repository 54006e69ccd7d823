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

/** The sequence numbers of one channel's retained entries, ascending; `seqs[head ..]` are live. */
interface ChannelIndex {
  seqs: number[]
  head: number
}

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
  /**
   * Channel → its entries, so a filtered read (a client resuming on a few channels of a busy log)
   * costs what it returns, not what the log holds. Kept in step with appends and trimming.
   */
  readonly #byChannel = new Map<string, ChannelIndex>()
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
      for (const channel of event.channels) {
        const index = this.#byChannel.get(channel)
        if (index === undefined) this.#byChannel.set(channel, { seqs: [seq], head: 0 })
        else index.seqs.push(seq)
      }
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
    if (options.channels !== undefined && options.channels.patterns.length === 0) return this.#readIndexed(after, afterSeq, options.channels.exact, options.limit, truncated)
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

  /**
   * A read of exact channels through {@link #byChannel}: each channel's entries after `afterSeq`,
   * found by binary search, merged in log order. Patterns can match any channel, so they scan.
   */
  #readIndexed(after: string | null, afterSeq: number, channels: readonly string[], limit: number, truncated: boolean): ReadResult {
    const cursors: { seqs: number[]; at: number }[] = []
    for (const channel of new Set(channels)) {
      const index = this.#byChannel.get(channel)
      if (index === undefined) continue
      const at = firstAbove(index.seqs, index.head, Math.max(afterSeq, this.#firstSeq() - 1))
      if (at < index.seqs.length) cursors.push({ seqs: index.seqs, at })
    }
    const entries: LogEntry[] = []
    let last = 0
    while (entries.length < limit) {
      let best = -1
      for (let c = 0; c < cursors.length; c++) {
        const cur = cursors[c]!
        if (cur.at < cur.seqs.length && (best === -1 || cur.seqs[cur.at]! < cursors[best]!.seqs[cursors[best]!.at]!)) best = c
      }
      if (best === -1) break
      const seq = cursors[best]!.seqs[cursors[best]!.at]!
      // An event on several of the channels is in several lists: take it once.
      for (const cur of cursors) if (cur.at < cur.seqs.length && cur.seqs[cur.at] === seq) cur.at++
      entries.push(this.#entries[this.#indexAfter(seq - 1)]!)
      last = seq
    }
    // A full page covers up to its last entry; a short one covers the whole log.
    const covered = entries.length >= limit ? last : this.#lastSeq
    const next = covered > afterSeq ? String(covered) : after
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
    // Removed entries leave their channels' lists in order: each is the head of each of its lists.
    for (let i = this.#start; i < start; i++) {
      for (const channel of this.#entries[i]!.event.channels) {
        const index = this.#byChannel.get(channel)
        if (index === undefined) continue
        index.head++
        if (index.head >= index.seqs.length) this.#byChannel.delete(channel)
        else if (index.head > 1024 && index.head * 2 > index.seqs.length) {
          index.seqs = index.seqs.slice(index.head)
          index.head = 0
        }
      }
    }
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

/** The first index ≥ `from` in ascending `seqs` whose value exceeds `seq` (`seqs.length` if none). */
function firstAbove(seqs: readonly number[], from: number, seq: number): number {
  let lo = from
  let hi = seqs.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (seqs[mid]! <= seq) lo = mid + 1
    else hi = mid
  }
  return lo
}
