/**
 * The PostgreSQL `JobQueue` (DESIGN §2), on tables of its own rather than pg-boss (see
 * docs/engines/postgres.md#jobs-on-postgresql for why). A job is a row of `jobs`; a worker leases
 * with `FOR UPDATE SKIP LOCKED` over a partial index per (queue, job name) lane, so any number of
 * workers in any number of processes take disjoint jobs without waiting on each other. Every
 * statement that makes a job leasable (enqueue, a retry, a release, a lease taken back) sends a
 * `NOTIFY` naming its lane inside its own transaction, so the wake-up exists if and only if the
 * job does; waiting workers `LISTEN` on one connection per queue instance and also set a timer
 * for the next delayed job or lease expiry, and the worker's own polling is the backstop.
 * Enqueue, complete and fail calls made in one event-loop turn go to the database as one statement
 * each (unnest of arrays): one round trip and one commit for a whole burst or a whole batch of
 * finished jobs, each caller still answered on its own.
 *
 * Times come from the database's clock (`now()`), so leases held by workers on hosts with skewed
 * clocks still expire in the order they were granted. `pg` is an optional peer dependency, loaded
 * when the queue first connects.
 */
import { createHash, randomBytes } from 'node:crypto'
import type { Client, Pool, PoolClient, QueryConfig, QueryResultRow } from 'pg'
import { createPool, loadPg, positiveInteger, type PgModule } from './pg.js'
import { Coalescer } from '../../core/coalescer.js'
import { TidingsError } from '../../core/errors.js'
import type {
  CancelResult,
  EnqueueResult,
  HeartbeatResult,
  JobError,
  JobFilter,
  JobLease,
  JobPage,
  JobProgress,
  JobQueue,
  JobQueueCapabilities,
  JobRecord,
  JobStatus,
  LeaseRef,
  LeaseRequest,
  LeaseResult,
  NewJob,
  PageRequest,
  ScheduleInput,
  ScheduleRecord,
  WaitRequest,
} from '../../core/job-queue.js'
import { createLogger, type Logger } from '../../core/logger.js'
import { DEFAULT_POOL_SIZE } from './event-log.js'
import { JOB_QUEUE_MIGRATIONS } from './job-migrations.js'
import { NotificationListener } from './listener.js'
import { DEFAULT_SCHEMA, assertSchemaName, migrate, quoteSchema } from './migrations.js'

/** Default time finished (succeeded, failed, cancelled) records are kept: one day. */
export const DEFAULT_POSTGRES_JOB_RETENTION_MS = 24 * 60 * 60 * 1000
/** Default interval of the retention sweep that deletes finished records past `retentionMs`. */
export const DEFAULT_POSTGRES_JOB_PRUNE_INTERVAL_MS = 60_000
/** Default most expired leases one lease call takes back, most records one prune statement deletes, and most calls one coalesced statement carries. */
export const DEFAULT_POSTGRES_JOB_BATCH = 1_000

/** Slack added to a wake-up timer, so that it does not fire a hair before the job is due. */
const TIMER_SLACK_MS = 1
/** Attempts of an enqueue whose dedup key's record vanished (pruned) between the insert and the read. */
const ENQUEUE_TRIES = 5
const CURSOR_RE = /^(0|[1-9][0-9]{0,17})$/
/** SQLSTATEs that mean the schema, a table or a function is gone (someone dropped the schema). */
const MISSING_OBJECT_CODES = new Set(['3F000', '42P01', '42883'])
const UNIQUE_VIOLATION = '23505'
/** Most (queue, name) lanes a lease takes in one plain statement ({@link Statements.leaseDue}); more go through lease_jobs. */
const MAX_PLAIN_LEASE_LANES = 64

/** Options of {@link PostgresJobQueue}; the connection options are those of `PostgresEventLog`. */
export interface PostgresJobQueueOptions {
  /**
   * A `pg.Pool` to use; the queue does not end it on `close()`. Its `options` also configure the
   * queue's one `LISTEN` connection. Give the pool an `'error'` listener (see `PostgresEventLog`).
   */
  pool?: Pool
  /**
   * Used when no `pool` is given: the queue then creates (and on `close()` ends) its own pool.
   * @defaultValue `process.env.DATABASE_URL`
   */
  connectionString?: string
  /** The schema holding the tables; created if missing. The event log's is fine: their tables differ. @defaultValue {@link DEFAULT_SCHEMA} */
  schema?: string
  /** Size of the pool the queue creates (ignored with `pool`). @defaultValue {@link DEFAULT_POOL_SIZE} */
  poolSize?: number
  /** How long finished records are kept, in milliseconds. @defaultValue {@link DEFAULT_POSTGRES_JOB_RETENTION_MS} */
  retentionMs?: number
  /** Interval of the retention sweep. @defaultValue {@link DEFAULT_POSTGRES_JOB_PRUNE_INTERVAL_MS} */
  pruneIntervalMs?: number
  /**
   * Most expired leases one lease call takes back, most records one prune statement deletes, and
   * most enqueue, complete or fail calls one coalesced statement carries. @defaultValue {@link DEFAULT_POSTGRES_JOB_BATCH}
   */
  batchSize?: number
  /**
   * Send the queue's statements as named prepared statements, parsed and planned once per
   * connection. Turn off behind a pooler that cannot keep them (PgBouncer before 1.21 in
   * transaction mode). @defaultValue true
   */
  preparedStatements?: boolean
  /** Where connection trouble is reported. @defaultValue pino at `TIDINGS_LOG_LEVEL` */
  logger?: Logger
}

/** Prepared-statement names by statement text: the text includes the schema, so queues sharing a pool never collide. */
const statementNames = new Map<string, string>()

function statementName(text: string): string {
  let name = statementNames.get(text)
  if (name === undefined) {
    name = `tidings_jobs_${createHash('sha256').update(text).digest('hex').slice(0, 20)}`
    statementNames.set(text, name)
  }
  return name
}

interface Waiter {
  readonly lanes: ReadonlySet<string>
  readonly wake: () => void
}

/** A job row as {@link RECORD} selects it: times as ISO strings, JSON as text. */
interface JobRow extends QueryResultRow {
  id: string
  seq: string
  name: string
  queue: string
  status: JobStatus
  payload: string
  priority: number
  key: string | null
  has_owner: boolean
  owner_user: string | null
  owner_tenant: string | null
  attempts: number
  max_attempts: number
  enqueued_at: string
  run_at: string
  started_at: string | null
  finished_at: string | null
  duration_ms: number | null
  progress: string | null
  result: string | null
  error: string | null
  worker_id: string | null
  token: string | null
  lease_expires_at: string | null
  cancel_requested_at: string | null
  updated_at: string
}

interface ScheduleRow extends QueryResultRow {
  name: string
  cron: string
  timezone: string | null
  job: string
  payload: string
  enabled: boolean
  last_run_at: string | null
  last_job_id: string | null
  next_run_at: string | null
  revision: number
  created_at: string
  updated_at: string
}


/** A timestamp as the ISO 8601 string records carry (millisecond precision, UTC). */
const iso = (column: string): string => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`

/**
 * The columns every statement returns a job with. Everything leaves the database as text or a
 * plain number, so type parsers a user set on their own pool change nothing here. A `delayed` job
 * whose time has come reads as `queued`, as on every engine.
 */
const RECORD = `j.id, j.seq::text AS seq, j.name, j.queue,
  CASE WHEN j.status = 'delayed' AND j.run_at <= now() THEN 'queued' ELSE j.status END AS status,
  j.payload::text AS payload, j.priority, j.key, j.has_owner, j.owner_user, j.owner_tenant, j.attempts, j.max_attempts,
  ${iso('j.enqueued_at')} AS enqueued_at, ${iso('j.run_at')} AS run_at, ${iso('j.started_at')} AS started_at,
  ${iso('j.finished_at')} AS finished_at, j.duration_ms::float8 AS duration_ms, j.progress::text AS progress,
  j.result::text AS result, j.error::text AS error, j.worker_id, j.token, ${iso('j.lease_expires_at')} AS lease_expires_at,
  ${iso('j.cancel_requested_at')} AS cancel_requested_at, ${iso('j.updated_at')} AS updated_at`

const SCHEDULE = `s.name, s.cron, s.timezone, s.job, s.payload::text AS payload, s.enabled, ${iso('s.last_run_at')} AS last_run_at,
  s.last_job_id, ${iso('s.next_run_at')} AS next_run_at, s.revision, ${iso('s.created_at')} AS created_at, ${iso('s.updated_at')} AS updated_at`

const FINISHED = `('succeeded', 'failed', 'cancelled')`
const WAITING = `('delayed', 'queued', 'retrying')`
/** `duration_ms` of an attempt ending now. */
const DURATION = `floor(extract(epoch FROM now() - j.started_at) * 1000)`
/** Clears the lease of a job that stops running. */
const NO_LEASE = 'worker_id = NULL, token = NULL, lease_expires_at = NULL'
/** Only the holder of the lease may change a running job. */
const HELD = `j.id = $1 AND j.status = 'running' AND j.token = $2`

/** The SQL the queue runs, built once per schema. */
interface Statements {
  readonly enqueue: string
  readonly enqueueMany: string
  readonly byKey: string
  readonly lease: string
  leaseDue(queues: number, names: number): string
  readonly lookAhead: string
  readonly heartbeat: string
  readonly setProgress: string
  readonly complete: string
  readonly fail: string
  readonly confirmCancel: string
  readonly release: string
  readonly cancel: string
  readonly retry: string
  readonly get: string
  readonly prune: string
  readonly putSchedule: string
  readonly getSchedule: string
  readonly listSchedules: string
  readonly deleteSchedule: string
  readonly lockSchedule: string
  readonly claimSchedule: string
  list(conditions: readonly string[]): string
}

function statements(s: string): Statements {
  /** The wake-up of the lane of row `j`, on the channel in parameter `channel`. */
  const notify = (j: string, channel: string): string => `${s}.notify_job_lane(${channel}, ${j}.queue, ${j}.name)`
  const enqueue = `WITH ins AS (
      INSERT INTO ${s}.jobs AS j (id, name, queue, payload, priority, key, has_owner, owner_user, owner_tenant, status,
        max_attempts, enqueued_at, run_at, updated_at)
      VALUES ($2, $3, $4, $5::json, $6, $7, $8, $9, $10, CASE WHEN $12::timestamptz > now() THEN 'delayed' ELSE 'queued' END,
        $11, $13::timestamptz, $12::timestamptz, now())
      ON CONFLICT (key) WHERE key IS NOT NULL DO NOTHING
      RETURNING *
    ) SELECT ${RECORD}, ${notify('j', '$1')} AS notified FROM ins j`
  // Many jobs at once, in the order given ($2 … $13 are arrays); a job whose key is taken gets no row.
  // One wake-up per lane: PostgreSQL folds identical notifications of one transaction into one.
  const enqueueMany = `WITH ins AS (
      INSERT INTO ${s}.jobs AS j (id, name, queue, payload, priority, key, has_owner, owner_user, owner_tenant, status,
        max_attempts, enqueued_at, run_at, updated_at)
      SELECT n.id, n.name, n.queue, n.payload::json, n.priority, n.key, n.has_owner, n.owner_user, n.owner_tenant,
        CASE WHEN n.run_at > now() THEN 'delayed' ELSE 'queued' END, n.max_attempts, n.enqueued_at, n.run_at, now()
      FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[], $8::boolean[], $9::text[], $10::text[],
        $11::int[], $12::timestamptz[], $13::timestamptz[])
        WITH ORDINALITY AS n(id, name, queue, payload, priority, key, has_owner, owner_user, owner_tenant, max_attempts, run_at, enqueued_at, ord)
      ORDER BY n.ord
      ON CONFLICT (key) WHERE key IS NOT NULL DO NOTHING
      RETURNING *
    ) SELECT ${RECORD}, ${notify('j', '$1')} AS notified FROM ins j`
  return {
    enqueue,
    enqueueMany,
    byKey: `SELECT ${RECORD} FROM ${s}.jobs j WHERE j.key = $1`,
    // The whole lease in lease_jobs: expired leases taken back, then the best due jobs, in one transaction.
    lease: `SELECT ${RECORD} FROM ${s}.lease_jobs($1::text[], $2::text[], $3, $4, $5, $6, $7::json, $8, $9) WITH ORDINALITY AS j ORDER BY j.ordinality`,
    // The common case of a lease as one plain statement, for `queues` × `names` lanes: when no lease of
    // the queues has expired (jobs_leases probed up to now), what lease_jobs leases, the same way. When
    // one has, it leases nothing and says so (`expired`, on a row of its own with no job), and the
    // caller runs lease_jobs instead, so a job taken back competes with the others as it always did.
    // The lanes are a VALUES list, one row per lane, not unnest of arrays: the planner then knows how
    // many there are and keeps one generic plan per connection, where unnest's guess of 10 × 10 lanes
    // made it plan every call afresh (most of a lease's cost). $1 the queues, $2 worker, $3 lease ms,
    // $4 limit, $5 token prefix, then each queue and each name.
    leaseDue(queues, names) {
      const lanes: string[] = []
      for (let q = 0; q < queues; q++) for (let n = 0; n < names; n++) lanes.push(`($${6 + q}::text, $${6 + queues + n}::text)`)
      return `WITH probe AS (
          SELECT EXISTS (
            SELECT 1 FROM ${s}.jobs x WHERE x.status = 'running' AND x.queue = ANY ($1::text[]) AND x.lease_expires_at <= now()
          ) AS expired
        ), candidates AS (
          SELECT c.id, c.priority, c.run_at, c.seq FROM (VALUES ${lanes.join(', ')}) AS l(queue, name) CROSS JOIN LATERAL (
            SELECT j.id, j.priority, j.run_at, j.seq FROM ${s}.jobs j
            WHERE j.queue = l.queue AND j.name = l.name AND j.status IN ${WAITING} AND j.run_at <= now()
            ORDER BY j.priority DESC, j.run_at, j.seq
            LIMIT $4::integer FOR UPDATE SKIP LOCKED
          ) c
          WHERE NOT (SELECT p.expired FROM probe p)
        ), picked AS (
          SELECT c.id, row_number() OVER (ORDER BY c.priority DESC, c.run_at, c.seq) AS rank
          FROM candidates c ORDER BY rank LIMIT $4
        ), leased AS (
          UPDATE ${s}.jobs j SET
            status = 'running', attempts = j.attempts + 1, started_at = now(), finished_at = NULL, duration_ms = NULL,
            progress = NULL, worker_id = $2::text, token = $5::text || '.' || p.rank,
            lease_expires_at = now() + $3::bigint * interval '1 millisecond', updated_at = now()
          FROM picked p WHERE j.id = p.id
          RETURNING j.*
        ) SELECT p.expired, ${RECORD} FROM probe p LEFT JOIN leased j ON true ORDER BY j.priority DESC, j.run_at, j.seq`
    },
    // How long until a job of these lanes may be leasable: the earliest waiting job (any queued
    // one is due; delayed and retrying ones by jobs_lane_later), or the earliest lease that will
    // expire. Measured on the database's clock.
    lookAhead: `SELECT extract(epoch FROM least(
        (SELECT min(w.run_at) FROM unnest($1::text[], $2::text[]) AS l(queue, name)
          CROSS JOIN LATERAL (
            (SELECT j.run_at FROM ${s}.jobs j WHERE j.queue = l.queue AND j.name = l.name AND j.status = 'queued' LIMIT 1)
            UNION ALL
            (SELECT j.run_at FROM ${s}.jobs j WHERE j.queue = l.queue AND j.name = l.name AND j.status IN ('delayed', 'retrying')
              ORDER BY j.run_at LIMIT 1)
          ) w),
        (SELECT min(j.lease_expires_at) FROM ${s}.jobs j WHERE j.status = 'running' AND j.queue = ANY ($3::text[]) AND j.name = ANY ($4::text[]))
      ) - clock_timestamp())::float8 * 1000 AS wait_ms`,
    heartbeat: `UPDATE ${s}.jobs j SET lease_expires_at = now() + $3 * interval '1 millisecond', updated_at = now()
      FROM unnest($1::text[], $2::text[]) AS l(id, token)
      WHERE j.id = l.id AND j.status = 'running' AND j.token = l.token
      RETURNING j.id, j.cancel_requested_at IS NOT NULL AS cancel_requested`,
    setProgress: `UPDATE ${s}.jobs j SET progress = $3::json, updated_at = now() WHERE ${HELD}`,
    // Ends many attempts `succeeded` at once: ids $1, tokens $2, results $3 (JSON texts); a row per lease still held.
    complete: `UPDATE ${s}.jobs j SET status = 'succeeded', result = l.result::json, error = NULL, finished_at = now(),
      duration_ms = ${DURATION}, ${NO_LEASE}, updated_at = now()
      FROM unnest($1::text[], $2::text[], $3::text[]) AS l(id, token, result)
      WHERE j.id = l.id AND j.status = 'running' AND j.token = l.token RETURNING ${RECORD}`,
    // Ends many attempts at once: ids $1, tokens $2, errors $3 (JSON texts), retry times $4 (null: the last
    // attempt failed; otherwise back to the lane until then, with a wake-up on channel $5).
    fail: `WITH f AS (
        UPDATE ${s}.jobs j SET status = CASE WHEN l.retry_at IS NULL THEN 'failed' ELSE 'retrying' END, error = l.error::json,
          finished_at = CASE WHEN l.retry_at IS NULL THEN now() END, duration_ms = ${DURATION},
          run_at = coalesce(l.retry_at, j.run_at), ${NO_LEASE}, updated_at = now()
        FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS l(id, token, error, retry_at)
        WHERE j.id = l.id AND j.status = 'running' AND j.token = l.token RETURNING j.*
      ) SELECT ${RECORD}, CASE WHEN j.status = 'retrying' THEN ${notify('j', '$5')} END AS notified FROM f j`,
    confirmCancel: `UPDATE ${s}.jobs j SET status = 'cancelled', finished_at = now(), duration_ms = ${DURATION}, ${NO_LEASE},
      updated_at = now() WHERE ${HELD} RETURNING ${RECORD}`,
    release: `WITH r AS (
        UPDATE ${s}.jobs j SET status = 'queued', attempts = greatest(j.attempts - 1, 0), run_at = now(), ${NO_LEASE}, updated_at = now()
        WHERE ${HELD} RETURNING *
      ) SELECT ${RECORD}, ${notify('j', '$3')} AS notified FROM r j`,
    // The row lock of the subquery orders this against leases and other cancels of the job.
    cancel: `UPDATE ${s}.jobs j SET
        status = CASE WHEN o.status IN ${WAITING} THEN 'cancelled' ELSE j.status END,
        finished_at = CASE WHEN o.status IN ${WAITING} THEN now() ELSE j.finished_at END,
        duration_ms = CASE WHEN o.status IN ${WAITING} THEN NULL ELSE j.duration_ms END,
        cancel_requested_at = CASE WHEN o.status = 'running' THEN coalesce(j.cancel_requested_at, now()) ELSE j.cancel_requested_at END,
        updated_at = now()
      FROM (SELECT x.id, x.status FROM ${s}.jobs x WHERE x.id = $1 AND x.status NOT IN ${FINISHED} FOR UPDATE) o
      WHERE j.id = o.id
      RETURNING ${RECORD}, o.status AS before`,
    retry: `WITH r AS (
        UPDATE ${s}.jobs j SET status = CASE WHEN $3::timestamptz > now() THEN 'delayed' ELSE 'queued' END, attempts = 0,
          error = NULL, result = NULL, progress = NULL, started_at = NULL, finished_at = NULL, duration_ms = NULL,
          cancel_requested_at = NULL, run_at = $3::timestamptz, updated_at = now()
        WHERE j.id = $2 AND j.status IN ('failed', 'cancelled') RETURNING *
      ) SELECT ${RECORD}, ${notify('j', '$1')} AS notified FROM r j`,
    get: `SELECT ${RECORD} FROM ${s}.jobs j WHERE j.id = $1`,
    prune: `WITH doomed AS (
        SELECT x.id FROM ${s}.jobs x WHERE x.status IN ${FINISHED} AND x.finished_at < $1::timestamptz
        ORDER BY x.finished_at LIMIT $2 FOR UPDATE SKIP LOCKED
      ) DELETE FROM ${s}.jobs j USING doomed d WHERE j.id = d.id`,
    // Storing what is stored changes nothing, not even the revision.
    putSchedule: `INSERT INTO ${s}.schedules AS s (name, cron, timezone, job, payload, enabled, next_run_at, revision, created_at, updated_at)
      VALUES ($1, $2, $3, $4, $5::json, $6, $7::timestamptz, 1, now(), now())
      ON CONFLICT (name) DO UPDATE SET cron = excluded.cron, timezone = excluded.timezone, job = excluded.job,
        payload = excluded.payload, enabled = excluded.enabled, next_run_at = excluded.next_run_at,
        revision = s.revision + 1, updated_at = now()
      WHERE (s.cron, s.timezone, s.job, s.enabled, s.payload::text) IS DISTINCT FROM
        (excluded.cron, excluded.timezone, excluded.job, excluded.enabled, excluded.payload::text)
      RETURNING ${SCHEDULE}`,
    getSchedule: `SELECT ${SCHEDULE} FROM ${s}.schedules s WHERE s.name = $1`,
    listSchedules: `SELECT ${SCHEDULE} FROM ${s}.schedules s ORDER BY s.name COLLATE "C"`,
    deleteSchedule: `DELETE FROM ${s}.schedules WHERE name = $1`,
    lockSchedule: `SELECT s.revision, s.enabled, s.last_run_at >= $2::timestamptz AS fired FROM ${s}.schedules s WHERE s.name = $1 FOR UPDATE`,
    claimSchedule: `UPDATE ${s}.schedules SET last_run_at = $2::timestamptz, last_job_id = $3, next_run_at = $4::timestamptz, updated_at = now()
      WHERE name = $1`,
    list(conditions) {
      const where = conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`
      return `SELECT ${RECORD} FROM ${s}.jobs j ${where} ORDER BY j.seq DESC LIMIT $1`
    },
  }
}

const parseJson = (text: string | null): unknown => (text === null ? null : JSON.parse(text))

function recordOf(r: JobRow): JobRecord {
  return {
    id: r.id,
    name: r.name,
    queue: r.queue,
    status: r.status,
    payload: parseJson(r.payload),
    priority: r.priority,
    key: r.key,
    owner: r.has_owner ? { user: r.owner_user, tenant: r.owner_tenant } : null,
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    enqueuedAt: r.enqueued_at,
    runAt: r.run_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    durationMs: r.duration_ms,
    progress: parseJson(r.progress) as JobProgress | null,
    result: parseJson(r.result),
    error: parseJson(r.error) as JobError | null,
    workerId: r.worker_id,
    leaseExpiresAt: r.lease_expires_at,
    cancelRequestedAt: r.cancel_requested_at,
    updatedAt: r.updated_at,
  } as JobRecord
}

function scheduleOf(r: ScheduleRow): ScheduleRecord {
  return {
    name: r.name,
    cron: r.cron,
    timezone: r.timezone,
    job: r.job,
    payload: JSON.parse(r.payload),
    enabled: r.enabled,
    lastRunAt: r.last_run_at,
    lastJobId: r.last_job_id,
    nextRunAt: r.next_run_at,
    revision: r.revision,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  }
}

/** A JSON value as the text a `json` parameter takes; `undefined` is stored as null. */
const json = (value: unknown): string => JSON.stringify(value) ?? 'null'

/** The key a (queue, name) lane has in waiters and in `NOTIFY` payloads. */
const laneKey = (queue: string, name: string): string => JSON.stringify([queue, name])

/** The lane a notification payload names; null for an empty or foreign payload (wake every waiter). */
function laneOfPayload(payload: string): string | null {
  if (payload === '') return null
  try {
    const v: unknown = JSON.parse(payload)
    return Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string' ? laneKey(v[0], v[1]) : null
  } catch {
    return null
  }
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

/** The rows a statement returned, matched to the leases it was given: a lease with no row was lost. */
function byLease(leases: readonly LeaseRef[], rows: readonly JobRow[]): (JobRecord | Error)[] {
  const byId = new Map(rows.map((r) => [r.id, r]))
  return leases.map((l) => {
    const row = byId.get(l.id)
    return row === undefined ? leaseLost(l) : recordOf(row)
  })
}

/** A complete() call, as the coalescer carries it. */
interface CompleteCall extends LeaseRef {
  readonly result: string
}

/** A fail() call, as the coalescer carries it. */
interface FailCall extends LeaseRef {
  readonly error: string
  readonly retryAt: string | null
}

/** A JobQueue on PostgreSQL: durable, shared by every process that uses the schema. See docs/engines/postgres.md. */
export class PostgresJobQueue implements JobQueue {
  readonly engine = 'postgres'
  readonly capabilities: JobQueueCapabilities = { durable: true, wakeUps: true }
  /** The schema holding this queue's tables. */
  readonly schema: string
  /** The `NOTIFY` channel of this queue: `tidings:<schema>:jobs`. */
  readonly notifyChannel: string
  readonly #sql: Statements
  readonly #retentionMs: number
  readonly #pruneIntervalMs: number
  readonly #batch: number
  readonly #poolSize: number
  readonly #logger: Logger
  readonly #lostError: string
  readonly #givenPool: Pool | undefined
  readonly #connectionString: string | undefined
  readonly #prepared: boolean
  #pool: Pool | undefined
  #pg: PgModule | undefined
  #ready: Promise<void> | undefined
  #listener: NotificationListener | undefined
  #pruneTimer: NodeJS.Timeout | undefined
  #pruning: Promise<unknown> | undefined
  readonly #waiters = new Set<Waiter>()
  /** The plain lease statement by lane shape (`queues:names`), built once each. */
  readonly #leaseDue: Record<string, string> = {}
  readonly #inserts: Coalescer<NewJob, JobRow | null>
  readonly #completes: Coalescer<CompleteCall, JobRecord>
  readonly #fails: Coalescer<FailCall, JobRecord>
  #closed = false

  constructor(options: PostgresJobQueueOptions = {}) {
    this.schema = options.schema ?? DEFAULT_SCHEMA
    assertSchemaName(this.schema)
    this.notifyChannel = `tidings:${this.schema}:jobs`
    this.#sql = statements(quoteSchema(this.schema))
    this.#retentionMs = positiveInteger(options.retentionMs ?? DEFAULT_POSTGRES_JOB_RETENTION_MS, 'retentionMs')
    this.#pruneIntervalMs = positiveInteger(options.pruneIntervalMs ?? DEFAULT_POSTGRES_JOB_PRUNE_INTERVAL_MS, 'pruneIntervalMs')
    this.#batch = positiveInteger(options.batchSize ?? DEFAULT_POSTGRES_JOB_BATCH, 'batchSize')
    this.#poolSize = positiveInteger(options.poolSize ?? DEFAULT_POOL_SIZE, 'poolSize')
    this.#givenPool = options.pool
    this.#prepared = options.preparedStatements ?? true
    this.#connectionString = options.connectionString ?? process.env.DATABASE_URL
    if (this.#givenPool === undefined && !this.#connectionString) {
      throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: 'the PostgreSQL engine needs a pool, a connectionString or DATABASE_URL' })
    }
    this.#logger = (options.logger ?? createLogger()).child({ engine: 'postgres', port: 'jobs', schema: this.schema })
    const lost = new TidingsError('TIDINGS_ERR_JOB_WORKER_LOST')
    this.#lostError = json({ message: lost.message, code: lost.code, stack: null } satisfies JobError)
    this.#inserts = new Coalescer<NewJob, JobRow | null>((jobs) => this.#insertMany(jobs), this.#batch)
    this.#completes = new Coalescer<CompleteCall, JobRecord>(async (calls) => {
      const values = [calls.map((c) => c.id), calls.map((c) => c.token), calls.map((c) => c.result)]
      return byLease(calls, (await this.#query<JobRow>(this.#sql.complete, values)).rows)
    }, this.#batch)
    this.#fails = new Coalescer<FailCall, JobRecord>(async (calls) => {
      const values = [calls.map((c) => c.id), calls.map((c) => c.token), calls.map((c) => c.error), calls.map((c) => c.retryAt), this.notifyChannel]
      return byLease(calls, (await this.#query<JobRow>(this.#sql.fail, values)).rows)
    }, this.#batch)
  }

  /** Connects and creates or migrates the tables. Idempotent; a failed start is tried again by the next call. */
  ready(): Promise<void> {
    if (this.#closed) return Promise.reject(new TidingsError('TIDINGS_ERR_CLOSED', { detail: 'the job queue is closed' }))
    this.#ready ??= this.#init().catch((err: unknown) => {
      this.#ready = undefined
      throw err
    })
    return this.#ready
  }

  /** Enqueues of one event-loop turn go to the database as one statement (see {@link Coalescer}). */
  async enqueue(job: NewJob): Promise<EnqueueResult> {
    await this.#open()
    let inserted = await this.#inserts.push(job)
    for (let i = 0; i < ENQUEUE_TRIES; i++) {
      if (inserted !== null) return { job: recordOf(inserted), created: true }
      const existing = await this.#query<JobRow>(this.#sql.byKey, [job.key])
      if (existing.rows[0] !== undefined) return { job: recordOf(existing.rows[0]), created: false }
      inserted = await this.#insert(this.#pool!, job)
    }
    throw new TidingsError('TIDINGS_ERR_INTERNAL', { detail: `job key ${job.key} kept changing hands while enqueueing` })
  }

  async lease(request: LeaseRequest): Promise<LeaseResult> {
    const queues = [...new Set(request.queues)]
    if (queues.length === 0) return { leases: [], lost: [] }
    const names = [...new Set(request.names)]
    const leaseMs = Math.max(1, Math.ceil(request.leaseMs))
    const limit = Math.max(0, Math.floor(request.limit))
    const token = randomBytes(9).toString('base64url')
    // Most calls find no expired lease and lease in one plain statement; the others, and a lease over
    // more lanes than MAX_PLAIN_LEASE_LANES, run the whole lease in lease_jobs.
    let rows: (JobRow | { id: null })[] | undefined
    if (names.length > 0 && queues.length * names.length <= MAX_PLAIN_LEASE_LANES) {
      const text = (this.#leaseDue[`${queues.length}:${names.length}`] ??= this.#sql.leaseDue(queues.length, names.length))
      const due = await this.#query<JobRow & { expired: boolean }>(text, [queues, request.workerId, leaseMs, limit, token, ...queues, ...names])
      if (due.rows[0]?.expired !== true) rows = due.rows
    }
    rows ??= (await this.#query<JobRow>(this.#sql.lease, [queues, names, request.workerId, leaseMs, limit, token, this.#lostError, this.#batch, this.notifyChannel])).rows
    const leases: JobLease[] = []
    const lost: JobRecord[] = []
    for (const row of rows) {
      if (row.id === null) continue
      const job = recordOf(row)
      if (row.token !== null) leases.push({ id: job.id, token: row.token, attempt: job.attempts, job })
      else lost.push(job)
    }
    return { leases, lost }
  }

  waitForJobs(request: WaitRequest, maxWaitMs: number, signal: AbortSignal): Promise<void> {
    if (this.#closed || signal.aborted) return Promise.resolve()
    const lanes: [string, string][] = []
    for (const q of new Set(request.queues)) for (const n of new Set(request.names)) lanes.push([q, n])
    const started = Date.now()
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout
      const done = (): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        this.#waiters.delete(waiter)
        resolve()
      }
      const waiter: Waiter = { lanes: new Set(lanes.map(([q, n]) => laneKey(q, n))), wake: done }
      timer = setTimeout(done, maxWaitMs)
      signal.addEventListener('abort', done, { once: true })
      this.#waiters.add(waiter)
      if (lanes.length === 0) return
      void (async () => {
        // Registered, and listening (or about to, and then it wakes every waiter) before looking:
        // a job committed after the look is announced to this waiter.
        await this.#open()
        this.#startListener()
        const { rows } = await this.#query<{ wait_ms: number | null }>(this.#sql.lookAhead, [
          lanes.map(([q]) => q),
          lanes.map(([, n]) => n),
          [...new Set(request.queues)],
          [...new Set(request.names)],
        ])
        if (!this.#waiters.has(waiter)) return
        const waitMs = rows[0]?.wait_ms ?? null
        if (waitMs === null) return
        if (waitMs <= 0) return done()
        const remaining = maxWaitMs - (Date.now() - started)
        if (waitMs + TIMER_SLACK_MS < remaining) {
          clearTimeout(timer)
          timer = setTimeout(done, waitMs + TIMER_SLACK_MS)
        }
      })().catch((err: unknown) => this.#logger.debug({ err }, 'postgres job wait could not look ahead; waiting for its timer'))
    })
  }

  async heartbeat(leases: readonly LeaseRef[], leaseMs: number): Promise<HeartbeatResult[]> {
    if (leases.length === 0) return []
    const { rows } = await this.#query<{ id: string; cancel_requested: boolean }>(this.#sql.heartbeat, [
      leases.map((l) => l.id),
      leases.map((l) => l.token),
      Math.max(1, Math.ceil(leaseMs)),
    ])
    const held = new Map(rows.map((r) => [r.id, r.cancel_requested]))
    return leases.map((l) => ({ id: l.id, held: held.has(l.id), cancelRequested: held.get(l.id) ?? false }))
  }

  async setProgress(lease: LeaseRef, progress: JobProgress): Promise<void> {
    const { rowCount } = await this.#query(this.#sql.setProgress, [lease.id, lease.token, json(progress)])
    if (rowCount === 0) throw leaseLost(lease)
  }

  /** Completions of one event-loop turn go to the database as one statement (see {@link Coalescer}). */
  async complete(lease: LeaseRef, result: unknown): Promise<JobRecord> {
    await this.#open()
    return this.#completes.push({ id: lease.id, token: lease.token, result: json(result) })
  }

  /** Failures of one event-loop turn go to the database as one statement (see {@link Coalescer}). */
  async fail(lease: LeaseRef, error: JobError, retryAt: Date | null): Promise<JobRecord> {
    await this.#open()
    return this.#fails.push({ id: lease.id, token: lease.token, error: json(error), retryAt: retryAt === null ? null : retryAt.toISOString() })
  }

  async confirmCancel(lease: LeaseRef): Promise<JobRecord> {
    return this.#held(lease, await this.#query<JobRow>(this.#sql.confirmCancel, [lease.id, lease.token]))
  }

  async release(lease: LeaseRef): Promise<JobRecord> {
    return this.#held(lease, await this.#query<JobRow>(this.#sql.release, [lease.id, lease.token, this.notifyChannel]))
  }

  async cancel(id: string): Promise<CancelResult | null> {
    for (;;) {
      const { rows } = await this.#query<JobRow & { before: JobStatus }>(this.#sql.cancel, [id])
      const changed = rows[0]
      if (changed !== undefined) return { outcome: changed.before === 'running' ? 'requested' : 'cancelled', job: recordOf(changed) }
      const job = await this.get(id)
      if (job === null) return null
      if (job.status === 'succeeded' || job.status === 'failed' || job.status === 'cancelled') return { outcome: 'finished', job }
      // Retried between the two statements: cancel what it is now.
    }
  }

  async retry(id: string, runAt: Date): Promise<JobRecord> {
    const { rows } = await this.#query<JobRow>(this.#sql.retry, [this.notifyChannel, id, runAt.toISOString()])
    if (rows[0] !== undefined) return recordOf(rows[0])
    const job = await this.get(id)
    if (job === null) throw new TidingsError('TIDINGS_ERR_JOB_NOT_FOUND', { detail: `job ${id}` })
    throw new TidingsError('TIDINGS_ERR_JOB_NOT_RETRYABLE', { detail: `job ${id} is ${job.status}` })
  }

  async get(id: string): Promise<JobRecord | null> {
    const { rows } = await this.#query<JobRow>(this.#sql.get, [id])
    return rows[0] === undefined ? null : recordOf(rows[0])
  }

  async list(filter: JobFilter, page: PageRequest): Promise<JobPage> {
    const cursor = page.cursor ?? null
    if (cursor !== null && !CURSOR_RE.test(cursor)) throw new TidingsError('TIDINGS_ERR_INVALID_CURSOR', { detail: 'not a cursor of this job list' })
    const limit = Math.max(0, Math.floor(page.limit))
    if (limit === 0) return { jobs: [], next: null }
    const values: unknown[] = [limit + 1]
    const param = (value: unknown): string => {
      values.push(value)
      return `$${values.length}`
    }
    const conditions: string[] = []
    if (cursor !== null) conditions.push(`j.seq < ${param(cursor)}::bigint`)
    if (filter.name !== undefined) conditions.push(`j.name = ${param(filter.name)}`)
    if (filter.queue !== undefined) conditions.push(`j.queue = ${param(filter.queue)}`)
    if (filter.user !== undefined) conditions.push(`j.owner_user = ${param(filter.user)}`)
    if (filter.tenant === null) conditions.push('j.owner_tenant IS NULL')
    else if (filter.tenant !== undefined) conditions.push(`j.owner_tenant = ${param(filter.tenant)}`)
    if (filter.status !== undefined && filter.status.length > 0) {
      conditions.push(`CASE WHEN j.status = 'delayed' AND j.run_at <= now() THEN 'queued' ELSE j.status END = ANY (${param([...filter.status])}::text[])`)
    }
    const { rows } = await this.#query<JobRow>(this.#sql.list(conditions), values, false)
    const more = rows.length > limit
    const jobs = rows.slice(0, limit)
    return { jobs: jobs.map(recordOf), next: more ? jobs[jobs.length - 1]!.seq : null }
  }

  async prune(before: Date): Promise<number> {
    let removed = 0
    for (;;) {
      const { rowCount } = await this.#query(this.#sql.prune, [before.toISOString(), this.#batch])
      removed += rowCount ?? 0
      if ((rowCount ?? 0) < this.#batch || this.#closed) return removed
    }
  }

  async putSchedule(input: ScheduleInput): Promise<ScheduleRecord> {
    const { rows } = await this.#query<ScheduleRow>(this.#sql.putSchedule, [
      input.name,
      input.cron,
      input.timezone,
      input.job,
      json(input.payload),
      input.enabled,
      input.nextRunAt === null ? null : input.nextRunAt.toISOString(),
    ])
    if (rows[0] !== undefined) return scheduleOf(rows[0])
    const same = await this.getSchedule(input.name)
    if (same === null) throw new TidingsError('TIDINGS_ERR_INTERNAL', { detail: `schedule ${input.name} vanished while it was stored` })
    return same
  }

  async getSchedule(name: string): Promise<ScheduleRecord | null> {
    const { rows } = await this.#query<ScheduleRow>(this.#sql.getSchedule, [name])
    return rows[0] === undefined ? null : scheduleOf(rows[0])
  }

  async listSchedules(): Promise<ScheduleRecord[]> {
    const { rows } = await this.#query<ScheduleRow>(this.#sql.listSchedules, [])
    return rows.map(scheduleOf)
  }

  async deleteSchedule(name: string): Promise<boolean> {
    const { rowCount } = await this.#query(this.#sql.deleteSchedule, [name])
    return (rowCount ?? 0) > 0
  }

  async claimScheduleTick(name: string, revision: number, tick: Date, nextRunAt: Date | null, job: NewJob): Promise<JobRecord | null> {
    const client = await this.#connect()
    let open = false
    let broken = false
    try {
      await client.query('BEGIN')
      open = true
      // The schedule's row lock makes the check, the enqueue and the update one step for every
      // process: a second claim of the tick waits here, then sees lastRunAt moved.
      const { rows } = await client.query<{ revision: number; enabled: boolean; fired: boolean | null }>(this.#sql.lockSchedule, [name, tick.toISOString()])
      const s = rows[0]
      if (s === undefined || s.revision !== revision || !s.enabled || s.fired === true) {
        await client.query('ROLLBACK')
        open = false
        return null
      }
      const inserted = await this.#insert(client, job)
      let jobId = inserted?.id
      if (inserted === null) {
        const { rows: existing } = await client.query<JobRow>(this.#sql.byKey, [job.key])
        jobId = existing[0]?.id
        if (jobId === undefined) throw new TidingsError('TIDINGS_ERR_INTERNAL', { detail: `job key ${job.key} vanished while claiming a tick` })
      }
      await client.query(this.#sql.claimSchedule, [name, tick.toISOString(), jobId, nextRunAt === null ? null : nextRunAt.toISOString()])
      await client.query('COMMIT')
      open = false
      return inserted === null ? null : recordOf(inserted)
    } catch (err) {
      // A connection that cannot even roll back is not given back to the pool.
      if (open) await client.query('ROLLBACK').catch(() => (broken = true))
      throw this.#mapError(err)
    } finally {
      client.release(broken)
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#pruneTimer)
    for (const w of [...this.#waiters]) w.wake()
    await this.#listener?.close()
    await this.#pruning?.catch(() => {})
    if (this.#givenPool === undefined) await this.#pool?.end()
  }

  /** The listening connection's state (for health checks and tests); null before the first wait. */
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
      await migrate(client, this.schema, 'jobs', JOB_QUEUE_MIGRATIONS)
    } finally {
      client.release()
    }
    if (this.#pruneTimer === undefined && !this.#closed) {
      this.#pruneTimer = setInterval(() => {
        this.#pruning ??= this.prune(new Date(Date.now() - this.#retentionMs))
          .catch((err: unknown) => this.#logger.warn({ err }, 'job retention sweep failed; retrying at the next one'))
          .finally(() => (this.#pruning = undefined))
      }, this.#pruneIntervalMs)
      this.#pruneTimer.unref()
    }
  }

  /** Inserts a job unless its key is taken, with its wake-up; null when the key was taken. */
  async #insert(on: Pool | PoolClient, job: NewJob): Promise<JobRow | null> {
    const values = [
      this.notifyChannel,
      job.id,
      job.name,
      job.queue,
      json(job.payload),
      job.priority,
      job.key,
      job.owner !== null,
      job.owner?.user ?? null,
      job.owner?.tenant ?? null,
      job.maxAttempts,
      job.runAt.toISOString(),
      job.enqueuedAt.toISOString(),
    ]
    try {
      const { rows } = await on.query<JobRow>(this.#statement(this.#sql.enqueue, values))
      return rows[0] ?? null
    } catch (err) {
      throw this.#mapError(err, job.id)
    }
  }

  /**
   * Inserts jobs in one statement; per job, its row or null when its key was taken. When the
   * database refuses the statement (a duplicate id, say), each job is tried on its own, so that
   * only the faulty one fails.
   */
  async #insertMany(jobs: readonly NewJob[]): Promise<(JobRow | null | Error)[]> {
    if (jobs.length === 1) return [await this.#insert(this.#pool!, jobs[0]!).catch((err: Error) => err)]
    const values = [
      this.notifyChannel,
      jobs.map((j) => j.id),
      jobs.map((j) => j.name),
      jobs.map((j) => j.queue),
      jobs.map((j) => json(j.payload)),
      jobs.map((j) => j.priority),
      jobs.map((j) => j.key),
      jobs.map((j) => j.owner !== null),
      jobs.map((j) => j.owner?.user ?? null),
      jobs.map((j) => j.owner?.tenant ?? null),
      jobs.map((j) => j.maxAttempts),
      jobs.map((j) => j.runAt.toISOString()),
      jobs.map((j) => j.enqueuedAt.toISOString()),
    ]
    try {
      const { rows } = await this.#pool!.query<JobRow>(this.#statement(this.#sql.enqueueMany, values))
      const byId = new Map(rows.map((r) => [r.id, r]))
      return jobs.map((j) => byId.get(j.id) ?? null)
    } catch (err) {
      // Without a SQLSTATE the connection failed, and whether the statement committed is unknown.
      if (errorCode(err) === undefined) throw this.#mapError(err)
      this.#mapError(err)
      return Promise.all(jobs.map((j) => this.#insert(this.#pool!, j).catch((e: Error) => e)))
    }
  }

  #held(lease: LeaseRef, result: { rows: JobRow[] }): JobRecord {
    const row = result.rows[0]
    if (row === undefined) throw leaseLost(lease)
    return recordOf(row)
  }

  /** Runs one statement on the pool; a vanished schema makes the next call migrate again. */
  async #query<R extends QueryResultRow>(text: string, values: unknown[], prepare = true): Promise<{ rows: R[]; rowCount: number | null }> {
    await this.#open()
    try {
      return await this.#pool!.query<R>(prepare ? this.#statement(text, values) : { text, values })
    } catch (err) {
      throw this.#mapError(err)
    }
  }

  /** A statement as `pg` takes it: named, so each connection parses and plans it once, unless prepared statements are off. */
  #statement(text: string, values: unknown[]): QueryConfig {
    return this.#prepared ? { name: statementName(text), text, values } : { text, values }
  }

  async #connect(): Promise<PoolClient> {
    await this.#open()
    return this.#pool!.connect()
  }

  /** Throws `TIDINGS_ERR_CLOSED` once closed; otherwise resolves when ready. */
  async #open(): Promise<void> {
    if (this.#closed) throw new TidingsError('TIDINGS_ERR_CLOSED', { detail: 'the job queue is closed' })
    await this.ready()
  }

  #mapError(err: unknown, jobId?: string): unknown {
    const code = errorCode(err)
    if (code !== undefined && MISSING_OBJECT_CODES.has(code)) this.#ready = undefined
    if (code === UNIQUE_VIOLATION && jobId !== undefined) return new TidingsError('TIDINGS_ERR_INTERNAL', { detail: `duplicate job id ${jobId}`, cause: err })
    return err
  }

  #startListener(): void {
    if (this.#listener !== undefined || this.#closed) return
    const pg = this.#pg!
    const config = this.#givenPool?.options ?? { connectionString: this.#connectionString }
    this.#listener = new NotificationListener({
      createClient: (): Client => new pg.Client(config),
      channel: this.notifyChannel,
      onWake: (payload) => this.#wake(payload === null ? null : laneOfPayload(payload)),
      logger: this.#logger,
    })
    this.#listener.start()
  }

  /** Wakes the waiters of `lane`, or every waiter for null. */
  #wake(lane: string | null): void {
    for (const w of [...this.#waiters]) if (lane === null || w.lanes.has(lane)) w.wake()
  }
}

function leaseLost(lease: LeaseRef): TidingsError {
  return new TidingsError('TIDINGS_ERR_JOB_LEASE_LOST', { detail: `job ${lease.id}` })
}
