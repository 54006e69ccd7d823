/**
 * The `EventLog` port (DESIGN §2): the one contract every engine implements for events. Everything
 * above it — hub, HTTP, jobs, webhooks — is engine-agnostic.
 */
import type { TidingsEvent } from './envelope.js'
import { TidingsError } from './errors.js'

/** One event at its place in the log. */
export interface LogEntry {
  /** Opaque, totally ordered within one epoch of one log (compare with {@link EventLog.comparePositions}). */
  readonly position: string
  readonly event: TidingsEvent
  /** The envelope's canonical JSON when the engine already holds it, so the hub need not serialise again. */
  readonly json?: string
}

/** Channels a read is limited to: exact names and `*` patterns. Engines may push it down or ignore it. */
export interface ChannelFilter {
  readonly exact: readonly string[]
  readonly patterns: readonly string[]
}

/** Options for {@link EventLog.read}. */
export interface ReadOptions {
  /** Most entries to return. */
  readonly limit: number
  /** Only entries on these channels; a hint — callers filter again. */
  readonly channels?: ChannelFilter
}

/** The result of {@link EventLog.read}. */
export interface ReadResult {
  readonly entries: readonly LogEntry[]
  /**
   * True when events after the requested position were removed by retention before they could be
   * read: the reader has a gap it cannot fill. Never a silent skip (DESIGN §3.3).
   */
  readonly truncated: boolean
  /**
   * Where the next page starts: the last position this read covered, which may lie past the last
   * entry when a channel filter skipped events. Null when the log is empty.
   */
  readonly next: string | null
}

/** The result of {@link EventLog.appendWithEpoch}. */
export interface AppendResult {
  /** The epoch the log had when it took the events. */
  readonly epoch: string
  /** The events' positions, in order. */
  readonly positions: string[]
}

/** What an engine can and cannot do; conformance tests skip what is declared missing, with the reason. */
export interface EventLogCapabilities {
  /** `read` applies the channel filter inside the engine (an index, subject filters). */
  readonly filteredRead: boolean
  /** Events survive a process restart. */
  readonly durable: boolean
}

/** Retention limits common to every engine. */
export interface RetentionOptions {
  /** Keep at most this many events. */
  maxEvents?: number
  /** Drop events older than this many milliseconds. */
  maxAgeMs?: number
}

/** The ordered, durable, bounded log of events. */
export interface EventLog {
  /** Engine name, for logs and metrics: `memory`, `redis`, … */
  readonly engine: string
  readonly capabilities: EventLogCapabilities
  /** Connects and creates what the engine needs. Idempotent. */
  ready(): Promise<void>
  /**
   * A position before every entry of any epoch (memory `0`, Redis `0-0`), when the engine has one:
   * `read` and `tail` after it start at the log's first entry. The hub uses it to follow a
   * recreated log from its very start; without it, from the head.
   */
  readonly origin?: string
  /** The current epoch: positions from another epoch are meaningless here. `[A-Za-z0-9_-]`, ≤ 40 chars. */
  epoch(): Promise<string>
  /** Appends events in order and resolves, once they are durable, with their positions. */
  append(events: readonly TidingsEvent[]): Promise<string[]>
  /**
   * {@link append}, also telling the epoch the positions belong to, read in the same step. Engines
   * whose {@link epoch} costs a round trip implement it (Redis); the publisher then needs one
   * round trip per batch instead of two. Without it the publisher calls `append`, then `epoch`.
   */
  appendWithEpoch?(events: readonly TidingsEvent[]): Promise<AppendResult>
  /**
   * Appends inside a transaction the caller holds (a `pg` client in `BEGIN`, for PostgreSQL): the
   * events exist if and only if that transaction commits, and get their positions after it does.
   * Engines without transactions leave it undefined.
   */
  appendInTransaction?(transaction: unknown, events: readonly TidingsEvent[]): Promise<void>
  /**
   * Entries after `after` (exclusive; null = from the oldest retained), oldest first. A position
   * older than retention yields `truncated: true` and the oldest entries still retained.
   */
  read(after: string | null, options: ReadOptions): Promise<ReadResult>
  /** The newest position, or null for an empty log. */
  head(): Promise<string | null>
  /**
   * Live batches of entries after `after` (null = from the current head), in order, until `signal`
   * aborts. Throws a TidingsError `TIDINGS_ERR_LOG_TRUNCATED` if retention overtakes the reader and
   * `TIDINGS_ERR_EPOCH_CHANGED` if the log is recreated underneath it.
   */
  tail(after: string | null, signal: AbortSignal): AsyncIterable<readonly LogEntry[]>
  /** Negative, zero or positive as `a` comes before, equals or follows `b`. */
  comparePositions(a: string, b: string): number
  /** True when `value` has the syntax of a position of this engine. */
  isPosition(value: string): boolean
  /** Releases connections and ends every tail. */
  close(): Promise<void>
}

/** Cursor separator: `<epoch>.<position>`; epochs never contain it. */
const CURSOR_RE = /^[A-Za-z0-9._:-]{1,128}$/

/** A client's resume point. */
export interface Cursor {
  readonly epoch: string
  readonly position: string
}

/** Encodes a cursor for the SSE `id:` field. */
export function formatCursor(epoch: string, position: string): string {
  return `${epoch}.${position}`
}

/**
 * Parses a cursor string. Throws `TIDINGS_ERR_INVALID_CURSOR` when it breaks the cursor syntax
 * (≤ 128 characters of `[A-Za-z0-9._:-]`); a well-formed cursor may still name an unknown epoch or
 * position, which the hub answers with `tidings.reset`.
 */
export function parseCursor(value: string): Cursor {
  const dot = value.indexOf('.')
  if (!CURSOR_RE.test(value) || dot <= 0 || dot === value.length - 1) {
    throw new TidingsError('TIDINGS_ERR_INVALID_CURSOR')
  }
  return { epoch: value.slice(0, dot), position: value.slice(dot + 1) }
}
