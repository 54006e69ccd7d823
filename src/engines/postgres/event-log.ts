/**
 * The PostgreSQL `EventLog`: events in a table, positions assigned under one advisory lock,
 * `LISTEN/NOTIFY` as a wake-up only, and publishing inside the caller's own transaction.
 *
 * Commit order is the classic trap (DESIGN §2): with positions from a sequence, transaction A can
 * take position 7, transaction B position 8, and B can commit first; a reader that sees 8 and moves
 * its cursor past it never sees 7. Here every writer — `append`, the inbox sequencer and retention —
 * runs server-side under `pg_advisory_xact_lock`, which PostgreSQL releases only after the commit
 * is visible. Position p+1 is therefore assigned only after p has committed, and a reader that sees
 * p+1 sees p: positions become visible in order, and "read after my last position" skips nothing.
 *
 * A caller's transaction cannot hold that lock for its whole life without serialising the
 * application, so `appendInTransaction` writes to an `inbox` table instead; the event exists if
 * and only if that transaction commits. The sequencer moves committed inbox rows into the log
 * under the lock; tails run it when they see a non-empty inbox, and every `append` runs it first.
 */
import type { Client, ClientBase, Pool, QueryResultRow } from 'pg'
import { serializeEvent, type TidingsEvent } from '../../core/envelope.js'
import { createPool, loadPg, positiveInteger, type PgModule } from './pg.js'
import { TidingsError } from '../../core/errors.js'
import type { ChannelFilter, EventLog, EventLogCapabilities, LogEntry, ReadOptions, ReadResult, RetentionOptions } from '../../core/event-log.js'
import { createLogger, type Logger } from '../../core/logger.js'
import { NotificationListener } from './listener.js'
import { DEFAULT_SCHEMA, EVENT_LOG_MIGRATIONS, assertSchemaName, migrate, quoteSchema } from './migrations.js'

/** Default most events the PostgreSQL log keeps. */
export const DEFAULT_POSTGRES_MAX_EVENTS = 1_000_000
/** Default age after which the PostgreSQL log drops events: seven days. */
export const DEFAULT_POSTGRES_MAX_AGE_MS = 7 * 24 * 60 * 60 * 1000
/** Default longest time a tail waits between reads when no wake-up arrives (the polling backstop). */
export const DEFAULT_POLL_INTERVAL_MS = 1_000
/** Default interval of the retention sweep (age, and count trimmed by other processes). */
export const DEFAULT_RETENTION_INTERVAL_MS = 60_000
/** Default size of the pool the engine creates when it is not given one. */
export const DEFAULT_POOL_SIZE = 10

/** Most entries one tail batch carries. */
const TAIL_BATCH = 500
/** First pause of a tail after a failed read; doubles up to the polling interval. */
const TAIL_RETRY_MS = 50
/** Most events that queued appends combine into one transaction (one append is never split). */
const APPEND_GROUP_MAX = 1_000
/** Most inbox rows one sequencer transaction moves. */
const INBOX_BATCH = 1_000
/** Most events one retention transaction deletes, so the lock is never held for long. */
const TRIM_BATCH = 2_000
const POSITION_RE = /^(0|[1-9][0-9]{0,17})$/
/** SQLSTATEs that mean the schema, a table or a function is gone (someone dropped the schema). */
const MISSING_OBJECT_CODES = new Set(['3F000', '42P01', '42883'])

/** Options for {@link PostgresEventLog}. */
export interface PostgresEventLogOptions extends RetentionOptions {
  /**
   * A `pg.Pool` to use; the engine does not end it on `close()`. Its `options` also configure the
   * engine's one dedicated `LISTEN` connection. Give the pool an `'error'` listener: pg emits
   * `'error'` on it when an idle connection dies (a database restart), and Node exits on an
   * unhandled one.
   */
  pool?: Pool
  /**
   * Used when no `pool` is given: the engine then creates (and on `close()` ends) its own pool.
   * @defaultValue `process.env.DATABASE_URL`
   */
  connectionString?: string
  /** The schema holding the engine's tables; created if missing. @defaultValue {@link DEFAULT_SCHEMA} */
  schema?: string
  /** Keep at most this many events. @defaultValue {@link DEFAULT_POSTGRES_MAX_EVENTS} */
  maxEvents?: number
  /** Drop events older than this. @defaultValue {@link DEFAULT_POSTGRES_MAX_AGE_MS} */
  maxAgeMs?: number
  /** Longest wait between a tail's reads without a wake-up. @defaultValue {@link DEFAULT_POLL_INTERVAL_MS} */
  pollIntervalMs?: number
  /** Interval of the retention sweep. @defaultValue {@link DEFAULT_RETENTION_INTERVAL_MS} */
  retentionIntervalMs?: number
  /** Size of the pool the engine creates (ignored with `pool`). @defaultValue {@link DEFAULT_POOL_SIZE} */
  poolSize?: number
  /** Where connection trouble is reported. @defaultValue pino at `TIDINGS_LOG_LEVEL` */
  logger?: Logger
}

/** One `append` call waiting for its turn. */
interface QueuedAppend {
  readonly events: readonly TidingsEvent[]
  resolve(positions: string[]): void
  reject(err: unknown): void
}

/** Anything with pg's `query`: a `pg.Client` or a `PoolClient`. */
type Queryable = Pick<ClientBase, 'query'>

interface AppendRow extends QueryResultRow {
  first_position: string
  head: string
  trimmed_to: string
  epoch: string
  moved_from_inbox: string
  inbox_more: boolean
}

interface PageRow extends QueryResultRow {
  epoch: string
  trimmed_to: string
  max_position: string | null
  inbox_pending: boolean
  position: string | null
  body: string | null
}

/** One snapshot of the log: the page of entries and the state it was read in. */
interface Page {
  readonly epoch: string
  readonly trimmedTo: bigint
  /** Newest position ever assigned (0 for a log that never had an event). */
  readonly head: bigint
  readonly inboxPending: boolean
  readonly entries: LogEntry[]
}

/** The SQL the engine runs, built once per schema. */
interface Statements {
  readonly append: string
  readonly trim: string
  readonly inbox: string
  readonly notify: string
  readonly head: string
  readonly epoch: string
  page(shape: PageShape): string
}

type PageShape = 'all' | 'exact' | 'patterns' | 'both'

function statements(s: string): Statements {
  const state = `SELECT (SELECT m.value FROM ${s}.meta m WHERE m.key = 'epoch') AS epoch,
      (SELECT m.value::bigint FROM ${s}.meta m WHERE m.key = 'trimmed_to') AS trimmed_to,
      (SELECT max(e.position) FROM ${s}.events e) AS max_position,
      EXISTS (SELECT FROM ${s}.inbox) AS inbox_pending`
  const exact = `SELECT DISTINCT x.position FROM unnest($3::text[]) AS c(name)
      CROSS JOIN LATERAL (SELECT ec.position FROM ${s}.event_channels ec WHERE ec.channel = c.name AND ec.position > $1 ORDER BY ec.position LIMIT $2) x`
  const patterns = (p: string): string =>
    `(SELECT DISTINCT ec.position FROM ${s}.event_channels ec WHERE ec.position > $1 AND ec.channel LIKE ANY (${p}::text[]) ORDER BY ec.position LIMIT $2)`
  const hits: Record<Exclude<PageShape, 'all'>, string> = {
    exact,
    patterns: patterns('$3'),
    both: `${exact} UNION ${patterns('$4')}`,
  }
  const cache = new Map<PageShape, string>()
  return {
    append: `SELECT * FROM ${s}.append_events($1::text[], $2::text[], $3::text[], $4::integer)`,
    trim: `SELECT * FROM ${s}.trim_events($1::bigint, $2::bigint, $3::integer)`,
    inbox: `WITH queued AS (
        INSERT INTO ${s}.inbox (event_id, body, channels) SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
      ) SELECT pg_notify($4, '')`,
    notify: `SELECT pg_notify($1, '')`,
    head: `SELECT greatest(coalesce((SELECT max(e.position) FROM ${s}.events e), 0), (SELECT m.value::bigint FROM ${s}.meta m WHERE m.key = 'trimmed_to'))::text AS head`,
    epoch: `SELECT value AS epoch FROM ${s}.meta WHERE key = 'epoch'`,
    // One statement, so the page, the head and the retention watermark come from one snapshot:
    // `next` may then jump to the head without skipping anything committed after the page.
    page(shape) {
      let sql = cache.get(shape)
      if (sql === undefined) {
        const page =
          shape === 'all'
            ? `SELECT e.position, e.body FROM ${s}.events e WHERE e.position > $1 ORDER BY e.position LIMIT $2`
            : `SELECT e.position, e.body FROM (SELECT u.position FROM (${hits[shape]}) u ORDER BY u.position LIMIT $2) h JOIN ${s}.events e ON e.position = h.position`
        sql = `WITH state AS (${state}), page AS (${page})
          SELECT s.epoch, s.trimmed_to, s.max_position, s.inbox_pending, p.position::text AS position, p.body
          FROM state s LEFT JOIN page p ON true ORDER BY p.position`
        cache.set(shape, sql)
      }
      return sql
    },
  }
}

/** A `*` channel pattern as a `LIKE` pattern (`\` is LIKE's default escape). */
function likePattern(pattern: string): string {
  return pattern.replace(/[\\%_]/g, '\\$&').replaceAll('*', '%')
}

function isQueryable(value: unknown): value is Queryable {
  return typeof value === 'object' && value !== null && typeof (value as { query?: unknown }).query === 'function'
}

function isMissingObject(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && MISSING_OBJECT_CODES.has(code)
}

/** The event log on PostgreSQL (DESIGN §2). See docs/engines/postgres.md. */
export class PostgresEventLog implements EventLog {
  readonly engine = 'postgres'
  readonly capabilities: EventLogCapabilities = { filteredRead: true, durable: true }
  /** Positions start at 1 in every epoch. */
  readonly origin = '0'
  /** The schema holding this log's tables. */
  readonly schema: string
  /** The `NOTIFY` channel of this log: `tidings:<schema>:events`. */
  readonly notifyChannel: string
  readonly #sql: Statements
  readonly #maxEvents: number
  readonly #maxAgeMs: number
  readonly #pollIntervalMs: number
  readonly #retentionIntervalMs: number
  readonly #trimSlack: number
  readonly #logger: Logger
  readonly #givenPool: Pool | undefined
  readonly #connectionString: string | undefined
  readonly #poolSize: number
  #pool: Pool | undefined
  #pg: PgModule | undefined
  #ready: Promise<void> | undefined
  #epoch = ''
  #listener: NotificationListener | undefined
  #retentionTimer: NodeJS.Timeout | undefined
  #trimming: Promise<void> | undefined
  #closed = false
  /** Head reads of tails started "from now"; appends begun after them wait, so none is missed. */
  readonly #headGates = new Set<Promise<unknown>>()
  #wakeSeq = 0
  readonly #wakeWaiters = new Set<() => void>()
  #notifyInFlight = false
  #notifyAgain = false
  /** Appends waiting for the one `append_events` call this process keeps in flight. */
  #appendQueue: QueuedAppend[] = []
  #appending = false

  constructor(options: PostgresEventLogOptions = {}) {
    this.schema = options.schema ?? DEFAULT_SCHEMA
    assertSchemaName(this.schema)
    this.notifyChannel = `tidings:${this.schema}:events`
    this.#sql = statements(quoteSchema(this.schema))
    this.#maxEvents = positiveInteger(options.maxEvents ?? DEFAULT_POSTGRES_MAX_EVENTS, 'maxEvents')
    this.#maxAgeMs = positiveInteger(options.maxAgeMs ?? DEFAULT_POSTGRES_MAX_AGE_MS, 'maxAgeMs')
    this.#pollIntervalMs = positiveInteger(options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS, 'pollIntervalMs')
    this.#retentionIntervalMs = positiveInteger(options.retentionIntervalMs ?? DEFAULT_RETENTION_INTERVAL_MS, 'retentionIntervalMs')
    this.#poolSize = positiveInteger(options.poolSize ?? DEFAULT_POOL_SIZE, 'poolSize')
    // Trimming once per `slack` events keeps retention off the path of most appends.
    this.#trimSlack = Math.max(1, Math.min(Math.ceil(this.#maxEvents / 100), TRIM_BATCH))
    this.#givenPool = options.pool
    this.#connectionString = options.connectionString ?? process.env.DATABASE_URL
    if (this.#givenPool === undefined && !this.#connectionString) {
      throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: 'the PostgreSQL engine needs a pool, a connectionString or DATABASE_URL' })
    }
    this.#logger = (options.logger ?? createLogger()).child({ engine: 'postgres', schema: this.schema })
  }

  /** Connects, creates or migrates the schema, and reads the epoch. Idempotent. */
  ready(): Promise<void> {
    if (this.#closed) return Promise.reject(new TidingsError('TIDINGS_ERR_CLOSED'))
    this.#ready ??= this.#init().catch((err: unknown) => {
      this.#ready = undefined
      throw err
    })
    return this.#ready
  }

  async epoch(): Promise<string> {
    await this.ready()
    return this.#epoch
  }

  async append(events: readonly TidingsEvent[]): Promise<string[]> {
    if (this.#closed) throw new TidingsError('TIDINGS_ERR_CLOSED')
    if (events.length === 0) return []
    if (this.#headGates.size > 0) await Promise.allSettled([...this.#headGates])
    return new Promise<string[]>((resolve, reject) => {
      this.#appendQueue.push({ events, resolve, reject })
      void this.#pumpAppends()
    })
  }

  /**
   * Appends inside the caller's transaction: `transaction` is a `pg` client (a `PoolClient` or a
   * `Client`) after `BEGIN`. The events go to the inbox and a wake-up is queued with them; both
   * exist if and only if the transaction commits, and the sequencer gives the events their
   * positions after it has. Works with a client of any pool on the same database.
   */
  async appendInTransaction(transaction: unknown, events: readonly TidingsEvent[]): Promise<void> {
    if (this.#closed) throw new TidingsError('TIDINGS_ERR_CLOSED')
    if (!isQueryable(transaction) || 'idleCount' in transaction) {
      throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: 'transaction must be the pg client you ran BEGIN on (a PoolClient or a Client), not a Pool' })
    }
    const status = (transaction as { getTransactionStatus?: () => string | null }).getTransactionStatus?.()
    if (status === 'I') {
      throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: 'the transaction client is not inside a transaction: run BEGIN on it first' })
    }
    if (events.length === 0) return
    await this.ready()
    const { ids, bodies, channels } = columns(events)
    await transaction.query(this.#sql.inbox, [ids, bodies, channels, this.notifyChannel])
  }

  async read(after: string | null, options: ReadOptions): Promise<ReadResult> {
    const from = after === null ? 0n : this.#position(after)
    const limit = Math.floor(options.limit)
    if (!(limit >= 1)) return { entries: [], truncated: false, next: after }
    const page = await this.#page(from, limit, options.channels ?? null)
    const truncated = from < page.trimmedTo
    const last = page.entries[page.entries.length - 1]
    let next: string | null
    if (last !== undefined && page.entries.length >= limit) next = last.position
    else if (page.head > from) next = page.head.toString()
    else next = after
    return { entries: page.entries, truncated, next }
  }

  async head(): Promise<string | null> {
    const { rows } = await this.#query<{ head: string }>(this.#sql.head, [])
    const head = rows[0]!.head
    return head === '0' ? null : head
  }

  tail(after: string | null, signal: AbortSignal): AsyncIterable<readonly LogEntry[]> {
    // "From now" means the head as of this call: start reading it now, and make appends begun
    // after this call wait for it, so none of them lands before the starting point.
    let start: Promise<bigint> | null = null
    if (after === null) {
      const gate = this.head().then((h) => (h === null ? 0n : BigInt(h)))
      gate.catch(() => {})
      this.#headGates.add(gate)
      void gate.finally(() => this.#headGates.delete(gate)).catch(() => {})
      start = gate
    }
    return this.#follow(after, start, signal)
  }

  comparePositions(a: string, b: string): number {
    return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0)
  }

  isPosition(value: string): boolean {
    return POSITION_RE.test(value)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#retentionTimer !== undefined) clearInterval(this.#retentionTimer)
    this.#wake()
    await this.#listener?.close()
    await this.#trimming?.catch(() => {})
    if (this.#givenPool === undefined) await this.#pool?.end()
  }

  /** The listening connection's state (for health checks and tests). */
  get listenerState(): NotificationListener['state'] | null {
    return this.#listener?.state ?? null
  }

  async #init(): Promise<void> {
    const pg = (this.#pg ??= await loadPg())
    if (this.#pool === undefined) {
      if (this.#givenPool !== undefined) {
        this.#pool = this.#givenPool
      } else {
        this.#pool = createPool(pg, this.#connectionString, this.#poolSize, this.#logger)
      }
    }
    const client = await this.#pool.connect()
    try {
      await migrate(client, this.schema, 'events', EVENT_LOG_MIGRATIONS)
      const { rows } = await client.query<{ epoch: string }>(this.#sql.epoch)
      this.#epoch = rows[0]!.epoch
    } finally {
      client.release()
    }
    if (this.#retentionTimer === undefined && !this.#closed) {
      this.#retentionTimer = setInterval(() => {
        this.#trim().catch((err: unknown) => this.#logger.warn({ err }, 'retention sweep failed; retrying at the next one'))
      }, this.#retentionIntervalMs)
      this.#retentionTimer.unref()
    }
  }

  /** Runs one statement on the pool; a vanished schema makes the next call migrate again. */
  async #query<R extends QueryResultRow>(text: string, values: unknown[]): Promise<{ rows: R[] }> {
    await this.ready()
    try {
      return await this.#pool!.query<R>(text, values)
    } catch (err) {
      if (isMissingObject(err)) this.#ready = undefined
      throw err
    }
  }

  /**
   * The tail loop. It keeps the epoch it started in for its whole life and retries database errors
   * itself, so it ends only on abort, close, a new epoch or truncation: a caller that restarted it
   * after an error could otherwise resume an old epoch's position in a recreated log.
   */
  async *#follow(after: string | null, start: Promise<bigint> | null, signal: AbortSignal): AsyncGenerator<readonly LogEntry[]> {
    let pos = start !== null ? await start : this.#position(after!)
    await this.ready()
    const epoch = this.#epoch
    this.#startListener()
    let failures = 0
    while (!signal.aborted && !this.#closed) {
      const seen = this.#wakeSeq
      let page: Page
      try {
        page = await this.#page(pos, TAIL_BATCH, null)
        if (page.inboxPending && page.entries.length === 0) await this.#sequence()
      } catch (err) {
        if (this.#closed) return
        if (failures++ === 0) this.#logger.warn({ err }, 'postgres tail read failed; retrying')
        // A listener that reconnects wakes this wait early: the database is back.
        await this.#waitForWake(seen, signal, Math.min(this.#pollIntervalMs, TAIL_RETRY_MS * 2 ** Math.min(failures, 10)))
        continue
      }
      if (failures > 0) {
        this.#logger.info({ failures }, 'postgres tail reads again')
        failures = 0
      }
      if (page.epoch !== epoch) {
        this.#epoch = page.epoch
        throw new TidingsError('TIDINGS_ERR_EPOCH_CHANGED', { detail: `schema ${this.schema} was recreated (epoch ${epoch} is now ${page.epoch})` })
      }
      if (pos < page.trimmedTo) {
        throw new TidingsError('TIDINGS_ERR_LOG_TRUNCATED', { detail: `retention removed positions up to ${page.trimmedTo}; this reader was at ${pos}` })
      }
      const last = page.entries[page.entries.length - 1]
      if (last !== undefined) {
        pos = BigInt(last.position)
        yield page.entries
        continue
      }
      // The sequencer just moved the inbox: read again at once.
      if (!page.inboxPending) await this.#waitForWake(seen, signal, this.#pollIntervalMs)
    }
  }

  async #page(after: bigint, limit: number, channels: ChannelFilter | null): Promise<Page> {
    const values: unknown[] = [after.toString(), limit]
    let shape: PageShape = 'all'
    if (channels !== null) {
      const hasExact = channels.exact.length > 0
      const hasPatterns = channels.patterns.length > 0
      shape = hasExact && hasPatterns ? 'both' : hasExact ? 'exact' : hasPatterns ? 'patterns' : 'exact'
      if (shape !== 'patterns') values.push([...channels.exact])
      if (hasPatterns) values.push(channels.patterns.map(likePattern))
    }
    const { rows } = await this.#query<PageRow>(this.#sql.page(shape), values)
    const first = rows[0]!
    const entries: LogEntry[] = []
    for (const r of rows) {
      if (r.position !== null && r.body !== null) entries.push({ position: r.position, event: JSON.parse(r.body) as TidingsEvent, json: r.body })
    }
    const trimmedTo = BigInt(first.trimmed_to)
    const max = first.max_position === null ? 0n : BigInt(first.max_position)
    return { epoch: first.epoch, trimmedTo, head: max > trimmedTo ? max : trimmedTo, inboxPending: first.inbox_pending, entries }
  }

  /**
   * Writes queued appends, one `append_events` call at a time. Appends that arrive while a call is
   * in flight go together in the next one: one transaction and one commit for all of them, which
   * the single writer lock would otherwise serialise one commit (one WAL flush) at a time. Each
   * caller's events stay contiguous and in order; a failure rejects exactly the appends of that
   * transaction, none of which were written.
   */
  async #pumpAppends(): Promise<void> {
    if (this.#appending) return
    this.#appending = true
    try {
      while (this.#appendQueue.length > 0) {
        const group: QueuedAppend[] = []
        let count = 0
        while (this.#appendQueue.length > 0 && (group.length === 0 || count + this.#appendQueue[0]!.events.length <= APPEND_GROUP_MAX)) {
          const next = this.#appendQueue.shift()!
          group.push(next)
          count += next.events.length
        }
        try {
          const { ids, bodies, channels } = columns(group.flatMap((g) => g.events))
          const row = (await this.#query<AppendRow>(this.#sql.append, [ids, bodies, channels, INBOX_BATCH])).rows[0]!
          this.#epoch = row.epoch
          this.#afterWrite(row)
          if (BigInt(row.head) - BigInt(row.trimmed_to) > this.#maxEvents + this.#trimSlack) {
            // The events are committed: a failed trim must not fail the append. The sweep retries.
            await this.#trim().catch((err: unknown) => this.#logger.warn({ err }, 'retention failed; the next sweep retries'))
          }
          let position = BigInt(row.first_position)
          for (const g of group) {
            g.resolve(g.events.map(() => (position++).toString()))
          }
        } catch (err) {
          for (const g of group) g.reject(err)
        }
      }
    } finally {
      this.#appending = false
    }
  }

  /** Moves committed inbox rows into the log, under the log's lock, in inbox order. */
  async #sequence(): Promise<void> {
    let moved = 0n
    for (;;) {
      const row = (await this.#query<AppendRow>(this.#sql.append, [[], [], [], INBOX_BATCH])).rows[0]!
      moved += BigInt(row.moved_from_inbox)
      if (!row.inbox_more) break
    }
    if (moved > 0n) {
      this.#wake()
      this.#notifyOthers()
    }
  }

  #afterWrite(row: AppendRow): void {
    this.#wake()
    this.#notifyOthers()
    if (row.inbox_more) this.#sequence().catch((err: unknown) => this.#logger.warn({ err }, 'moving the inbox failed; tails retry'))
  }

  /** Retention: deletes in batches, each its own short transaction under the lock. One at a time. */
  #trim(): Promise<void> {
    this.#trimming ??= (async () => {
      try {
        for (;;) {
          const { rows } = await this.#query<{ trimmed_to: string; more: boolean }>(this.#sql.trim, [this.#maxEvents, this.#maxAgeMs, TRIM_BATCH])
          if (!rows[0]!.more || this.#closed) break
        }
      } finally {
        this.#trimming = undefined
      }
    })()
    return this.#trimming
  }

  /**
   * Wakes other processes' tails. Sent after the commit, outside the writing transaction: a
   * failed NOTIFY then costs latency (their polling backstop), never a publish. At most one is in
   * flight; appends committed meanwhile are covered by one more.
   */
  #notifyOthers(): void {
    if (this.#closed) return
    if (this.#notifyInFlight) {
      this.#notifyAgain = true
      return
    }
    this.#notifyInFlight = true
    this.#pool!.query(this.#sql.notify, [this.notifyChannel])
      .catch((err: unknown) => this.#logger.debug({ err }, 'NOTIFY failed; other processes poll'))
      .finally(() => {
        this.#notifyInFlight = false
        if (this.#notifyAgain) {
          this.#notifyAgain = false
          this.#notifyOthers()
        }
      })
  }

  #startListener(): void {
    if (this.#listener !== undefined || this.#closed) return
    const pg = this.#pg!
    const config = this.#givenPool?.options ?? { connectionString: this.#connectionString }
    this.#listener = new NotificationListener({
      createClient: (): Client => new pg.Client(config),
      channel: this.notifyChannel,
      onWake: () => this.#wake(),
      logger: this.#logger,
    })
    this.#listener.start()
  }

  #wake(): void {
    this.#wakeSeq++
    for (const w of this.#wakeWaiters) w()
    this.#wakeWaiters.clear()
  }

  /** Resolves on the next wake-up after `seen`, after `ms`, or on abort. */
  #waitForWake(seen: number, signal: AbortSignal, ms: number): Promise<void> {
    if (this.#wakeSeq !== seen || signal.aborted || this.#closed) return Promise.resolve()
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        this.#wakeWaiters.delete(done)
        resolve()
      }
      const timer = setTimeout(done, ms)
      signal.addEventListener('abort', done, { once: true })
      this.#wakeWaiters.add(done)
    })
  }

  #position(position: string): bigint {
    if (!POSITION_RE.test(position)) {
      throw new TidingsError('TIDINGS_ERR_INVALID_CURSOR', { detail: `${JSON.stringify(position.slice(0, 40))} is not a PostgreSQL log position` })
    }
    return BigInt(position)
  }
}

/** Events as the parallel arrays the SQL unnests. */
function columns(events: readonly TidingsEvent[]): { ids: string[]; bodies: string[]; channels: string[] } {
  return {
    ids: events.map((e) => e.id),
    bodies: events.map(serializeEvent),
    channels: events.map((e) => JSON.stringify(e.channels)),
  }
}
