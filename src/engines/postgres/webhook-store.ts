/**
 * The PostgreSQL {@link WebhookStore}: endpoints, dispatch claims, cursors, deliveries and the
 * attempt log in tables of the engine's schema (component `webhooks` of its `migrations` table).
 * Every change is one statement or one transaction, so several processes share the store safely:
 * the (endpoint, event) uniqueness is a unique index, a claim is a conditional `UPDATE`, an attempt
 * and its delivery's counters change in one transaction.
 */
import type { ClientBase, Pool, QueryResultRow } from 'pg'
import { createPool, loadPg } from './pg.js'
import { TidingsError } from '../../core/errors.js'
import type { TidingsEvent } from '../../core/envelope.js'
import { createLogger, type Logger } from '../../core/logger.js'
import type { DisabledReason, EndpointHealth, EndpointSecret, WebhookEndpoint } from '../../webhooks/endpoints.js'
import type {
  AttemptOutcome,
  AttemptTrigger,
  DeliveryChange,
  DeliveryPage,
  DeliveryQuery,
  DeliveryStatus,
  EndpointChange,
  EndpointQuery,
  NewDelivery,
  WebhookAttempt,
  WebhookDelivery,
  WebhookStore,
  WebhookStoreCapabilities,
} from '../../webhooks/store.js'
import { DEFAULT_POOL_SIZE } from './event-log.js'
import { assertSchemaName, DEFAULT_SCHEMA, migrate, quoteSchema, type Migration } from './migrations.js'

/** Default time finished deliveries (and their attempts) are kept: 30 days. */
export const DEFAULT_POSTGRES_WEBHOOK_RETENTION_MS = 30 * 24 * 3600 * 1000
/** Default interval of the retention sweep: one hour. */
export const DEFAULT_POSTGRES_WEBHOOK_PRUNE_INTERVAL_MS = 3600 * 1000

/**
 * The webhook store's migrations.
 *
 * - `webhook_endpoints`: one row per endpoint; `seq` is creation order; `claim_holder` and
 *   `claim_expires_at` are the dispatch claim. Times are ISO 8601 text, as the records carry them.
 * - `webhook_deliveries`: one row per (endpoint, event) — the unique index is what makes a second
 *   dispatch of an event harmless; `seq` orders an endpoint's deliveries, newest first. The event
 *   is `json`, not `jsonb`, so its keys come back in the order they were written (the exact body).
 * - `webhook_attempts`: the attempt log.
 */
export const WEBHOOK_STORE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'webhooks: endpoints, deliveries, attempts',
    async up(client, { schema }) {
      await client.query(`CREATE TABLE ${schema}.webhook_endpoints (
        id text PRIMARY KEY,
        seq bigserial NOT NULL,
        url text NOT NULL,
        event_types jsonb NOT NULL,
        channels jsonb,
        tenant text,
        headers json NOT NULL,
        rate_limit integer,
        enabled boolean NOT NULL,
        retry_schedule jsonb,
        secrets jsonb NOT NULL,
        cursor text,
        health jsonb NOT NULL,
        created_at text NOT NULL,
        updated_at text NOT NULL,
        revision integer NOT NULL,
        claim_holder text,
        claim_expires_at timestamptz
      )`)
      await client.query(`CREATE TABLE ${schema}.webhook_deliveries (
        id text PRIMARY KEY,
        seq bigserial NOT NULL,
        endpoint_id text NOT NULL REFERENCES ${schema}.webhook_endpoints (id) ON DELETE CASCADE,
        event_id text NOT NULL,
        event_type text NOT NULL,
        event json NOT NULL,
        status text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
        attempts integer NOT NULL DEFAULT 0,
        runs integer NOT NULL DEFAULT 1,
        job_id text,
        next_trigger text NOT NULL,
        last_status integer,
        last_attempt_at text,
        next_attempt_at text,
        failure_reason text,
        created_at text NOT NULL,
        updated_at text NOT NULL
      )`)
      await client.query(`CREATE UNIQUE INDEX webhook_deliveries_event ON ${schema}.webhook_deliveries (endpoint_id, event_id)`)
      await client.query(`CREATE INDEX webhook_deliveries_endpoint ON ${schema}.webhook_deliveries (endpoint_id, seq DESC)`)
      await client.query(`CREATE INDEX webhook_deliveries_finished ON ${schema}.webhook_deliveries (updated_at) WHERE status <> 'pending'`)
      await client.query(`CREATE TABLE ${schema}.webhook_attempts (
        id text PRIMARY KEY,
        delivery_id text NOT NULL REFERENCES ${schema}.webhook_deliveries (id) ON DELETE CASCADE,
        endpoint_id text NOT NULL,
        event_id text NOT NULL,
        attempt integer NOT NULL,
        at text NOT NULL,
        url text NOT NULL,
        status integer NOT NULL,
        duration_ms integer NOT NULL,
        response_body text NOT NULL,
        error text,
        trigger text NOT NULL
      )`)
      await client.query(`CREATE INDEX webhook_attempts_delivery ON ${schema}.webhook_attempts (delivery_id, attempt)`)
    },
  },
]

/** Options of {@link PostgresWebhookStore}; the connection options are those of `PostgresEventLog`. */
export interface PostgresWebhookStoreOptions {
  /** A `pg.Pool` to use; the store does not end it on `close()`. */
  pool?: Pool
  /** Used when no `pool` is given: the store then creates (and ends) its own pool. @defaultValue `process.env.DATABASE_URL` */
  connectionString?: string
  /** The schema holding the tables; created if missing. @defaultValue {@link DEFAULT_SCHEMA} */
  schema?: string
  /** Size of the pool the store creates (ignored with `pool`). @defaultValue {@link DEFAULT_POOL_SIZE} */
  poolSize?: number
  /** How long finished deliveries are kept, in milliseconds. @defaultValue {@link DEFAULT_POSTGRES_WEBHOOK_RETENTION_MS} */
  retentionMs?: number
  /** Interval of the retention sweep. @defaultValue {@link DEFAULT_POSTGRES_WEBHOOK_PRUNE_INTERVAL_MS} */
  pruneIntervalMs?: number
  /** @defaultValue pino at `TIDINGS_LOG_LEVEL` */
  logger?: Logger
}

interface EndpointRow extends QueryResultRow {
  id: string
  url: string
  event_types: string[]
  channels: string[] | null
  tenant: string | null
  headers: Record<string, string>
  rate_limit: number | null
  enabled: boolean
  retry_schedule: number[] | null
  secrets: EndpointSecret[]
  cursor: string | null
  health: EndpointHealth
  created_at: string
  updated_at: string
  revision: number
}

interface DeliveryRow extends QueryResultRow {
  id: string
  endpoint_id: string
  event_id: string
  event_type: string
  event: TidingsEvent
  status: DeliveryStatus
  attempts: number
  runs: number
  job_id: string | null
  next_trigger: AttemptTrigger
  last_status: number | null
  last_attempt_at: string | null
  next_attempt_at: string | null
  failure_reason: string | null
  created_at: string
  updated_at: string
}

interface AttemptRow extends QueryResultRow {
  id: string
  delivery_id: string
  endpoint_id: string
  event_id: string
  attempt: number
  at: string
  url: string
  status: number
  duration_ms: number
  response_body: string
  error: string | null
  trigger: AttemptTrigger
}

const ENDPOINT_COLUMNS = 'id, url, event_types, channels, tenant, headers, rate_limit, enabled, retry_schedule, secrets, cursor, health, created_at, updated_at, revision'
const DELIVERY_COLUMNS = 'id, endpoint_id, event_id, event_type, event, status, attempts, runs, job_id, next_trigger, last_status, last_attempt_at, next_attempt_at, failure_reason, created_at, updated_at'

/** Endpoint fields a change may set, with their columns. */
const ENDPOINT_FIELDS: readonly (readonly [keyof EndpointChange, string, boolean])[] = [
  ['url', 'url', false],
  ['eventTypes', 'event_types', true],
  ['channels', 'channels', true],
  ['headers', 'headers', true],
  ['rateLimit', 'rate_limit', false],
  ['enabled', 'enabled', false],
  ['retrySchedule', 'retry_schedule', true],
  ['secrets', 'secrets', true],
]

/** Delivery fields a change may set, with their columns. */
const DELIVERY_FIELDS: readonly (readonly [keyof DeliveryChange, string])[] = [
  ['status', 'status'],
  ['jobId', 'job_id'],
  ['nextTrigger', 'next_trigger'],
  ['lastStatus', 'last_status'],
  ['lastAttemptAt', 'last_attempt_at'],
  ['nextAttemptAt', 'next_attempt_at'],
  ['failureReason', 'failure_reason'],
]

/** A WebhookStore on PostgreSQL: durable, shared by every process that uses the schema. */
export class PostgresWebhookStore implements WebhookStore {
  readonly engine = 'postgres'
  readonly capabilities: WebhookStoreCapabilities = { durable: true }
  /** The schema holding the tables. */
  readonly schema: string
  readonly #t: { endpoints: string; deliveries: string; attempts: string }
  readonly #givenPool: Pool | undefined
  readonly #connectionString: string | undefined
  readonly #poolSize: number
  readonly #retentionMs: number
  readonly #pruneIntervalMs: number
  readonly #logger: Logger
  #pool: Pool | undefined
  #ready: Promise<void> | undefined
  #pruneTimer: NodeJS.Timeout | undefined
  #closed = false

  constructor(options: PostgresWebhookStoreOptions = {}) {
    this.schema = options.schema ?? DEFAULT_SCHEMA
    assertSchemaName(this.schema)
    const s = quoteSchema(this.schema)
    this.#t = { endpoints: `${s}.webhook_endpoints`, deliveries: `${s}.webhook_deliveries`, attempts: `${s}.webhook_attempts` }
    this.#givenPool = options.pool
    this.#connectionString = options.connectionString ?? process.env.DATABASE_URL
    if (this.#givenPool === undefined && !this.#connectionString) {
      throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: 'the PostgreSQL webhook store needs a pool, a connectionString or DATABASE_URL' })
    }
    this.#poolSize = options.poolSize ?? DEFAULT_POOL_SIZE
    this.#retentionMs = options.retentionMs ?? DEFAULT_POSTGRES_WEBHOOK_RETENTION_MS
    this.#pruneIntervalMs = options.pruneIntervalMs ?? DEFAULT_POSTGRES_WEBHOOK_PRUNE_INTERVAL_MS
    for (const [k, v] of [['poolSize', this.#poolSize], ['retentionMs', this.#retentionMs], ['pruneIntervalMs', this.#pruneIntervalMs]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: `PostgresWebhookStore: ${k} must be a positive integer` })
    }
    this.#logger = (options.logger ?? createLogger()).child({ engine: 'postgres', port: 'webhooks', schema: this.schema })
  }

  /** Connects and creates or migrates the tables. Idempotent. */
  ready(): Promise<void> {
    if (this.#closed) return Promise.reject(new TidingsError('TIDINGS_ERR_CLOSED', { detail: 'the webhook store is closed' }))
    this.#ready ??= this.#init().catch((err: unknown) => {
      this.#ready = undefined
      throw err
    })
    return this.#ready
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#pruneTimer)
    await this.#ready?.catch(() => undefined)
    if (this.#givenPool === undefined) await this.#pool?.end()
  }

  /** Deletes finished deliveries (and their attempts) last changed before `before`; resolves to how many. */
  async prune(before: Date): Promise<number> {
    const r = await this.#query(`DELETE FROM ${this.#t.deliveries} WHERE status <> 'pending' AND updated_at < $1`, [before.toISOString()])
    return r.rowCount ?? 0
  }

  async insertEndpoint(e: WebhookEndpoint): Promise<void> {
    await this.#query(
      `INSERT INTO ${this.#t.endpoints} (${ENDPOINT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
      [e.id, e.url, j(e.eventTypes), j(e.channels), e.tenant, j(e.headers), e.rateLimit, e.enabled, j(e.retrySchedule), j(e.secrets), e.cursor, j(e.health), e.createdAt, e.updatedAt, e.revision],
    )
  }

  async getEndpoint(id: string): Promise<WebhookEndpoint | null> {
    const r = await this.#query<EndpointRow>(`SELECT ${ENDPOINT_COLUMNS} FROM ${this.#t.endpoints} WHERE id = $1`, [id])
    return r.rows[0] === undefined ? null : endpointOf(r.rows[0])
  }

  async listEndpoints(query: EndpointQuery = {}): Promise<WebhookEndpoint[]> {
    const where: string[] = []
    const values: unknown[] = []
    if (query.tenant === null) where.push('tenant IS NULL')
    else if (query.tenant !== undefined) {
      values.push(query.tenant)
      where.push(`tenant = $${values.length}`)
    }
    if (query.enabled !== undefined) {
      values.push(query.enabled)
      where.push(`enabled = $${values.length}`)
    }
    const r = await this.#query<EndpointRow>(`SELECT ${ENDPOINT_COLUMNS} FROM ${this.#t.endpoints} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq`, values)
    return r.rows.map(endpointOf)
  }

  async updateEndpoint(id: string, change: EndpointChange, at: Date): Promise<WebhookEndpoint | null> {
    const values: unknown[] = [id, at.toISOString()]
    const sets = ['updated_at = $2', 'revision = revision + 1']
    for (const [field, column, isJson] of ENDPOINT_FIELDS) {
      const v = change[field]
      if (v === undefined) continue
      values.push(isJson ? j(v) : v)
      sets.push(`${column} = $${values.length}`)
    }
    if (change.health !== undefined) {
      values.push(j(change.health))
      sets.push(`health = health || $${values.length}::jsonb`)
    }
    const r = await this.#query<EndpointRow>(`UPDATE ${this.#t.endpoints} SET ${sets.join(', ')} WHERE id = $1 RETURNING ${ENDPOINT_COLUMNS}`, values)
    return r.rows[0] === undefined ? null : endpointOf(r.rows[0])
  }

  async disableEndpoint(id: string, reason: DisabledReason, at: Date): Promise<WebhookEndpoint | null> {
    const r = await this.#query<EndpointRow>(
      `UPDATE ${this.#t.endpoints}
         SET enabled = false, health = health || jsonb_build_object('disabledAt', $2::text, 'disabledReason', $3::text),
             updated_at = $2, revision = revision + 1
       WHERE id = $1 AND enabled
       RETURNING ${ENDPOINT_COLUMNS}`,
      [id, at.toISOString(), reason],
    )
    return r.rows[0] === undefined ? null : endpointOf(r.rows[0])
  }

  async deleteEndpoint(id: string): Promise<boolean> {
    const r = await this.#query(`DELETE FROM ${this.#t.endpoints} WHERE id = $1`, [id])
    return (r.rowCount ?? 0) > 0
  }

  async recordOutcome(id: string, outcome: AttemptOutcome): Promise<EndpointHealth | null> {
    const r = await this.#query<{ health: EndpointHealth }>(
      `UPDATE ${this.#t.endpoints} SET health = CASE WHEN $2::boolean
           THEN health || jsonb_build_object('lastSuccessAt', $3::text, 'lastStatus', $4::int, 'failureStreak', 0, 'failingSince', null)
           ELSE health || jsonb_build_object('lastFailureAt', $3::text, 'lastStatus', $4::int,
                  'failureStreak', coalesce((health->>'failureStreak')::int, 0) + 1,
                  'failingSince', coalesce(health->>'failingSince', $3::text))
         END
       WHERE id = $1 RETURNING health`,
      [id, outcome.ok, outcome.at.toISOString(), outcome.status],
    )
    return r.rows[0]?.health ?? null
  }

  async claimEndpoint(id: string, holder: string, leaseMs: number, at: Date): Promise<boolean> {
    const r = await this.#query(
      `UPDATE ${this.#t.endpoints} SET claim_holder = $2, claim_expires_at = $3
       WHERE id = $1 AND (claim_holder IS NULL OR claim_holder = $2 OR claim_expires_at <= $4)`,
      [id, holder, new Date(at.getTime() + leaseMs), at],
    )
    return (r.rowCount ?? 0) > 0
  }

  async releaseEndpoint(id: string, holder: string): Promise<void> {
    await this.#query(`UPDATE ${this.#t.endpoints} SET claim_holder = NULL, claim_expires_at = NULL WHERE id = $1 AND claim_holder = $2`, [id, holder])
  }

  async saveCursor(id: string, holder: string, cursor: string, at: Date): Promise<boolean> {
    const r = await this.#query(`UPDATE ${this.#t.endpoints} SET cursor = $3, updated_at = $4 WHERE id = $1 AND claim_holder = $2`, [id, holder, cursor, at.toISOString()])
    return (r.rowCount ?? 0) > 0
  }

  async createDelivery(d: NewDelivery): Promise<{ delivery: WebhookDelivery; created: boolean }> {
    const at = d.at.toISOString()
    const r = await this.#query<DeliveryRow>(
      `INSERT INTO ${this.#t.deliveries} (id, endpoint_id, event_id, event_type, event, status, next_trigger, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $7)
       ON CONFLICT (endpoint_id, event_id) DO NOTHING
       RETURNING ${DELIVERY_COLUMNS}`,
      [d.id, d.endpointId, d.event.id, d.event.type, JSON.stringify(d.event), d.trigger, at],
    )
    if (r.rows[0] !== undefined) return { delivery: deliveryOf(r.rows[0]), created: true }
    const known = await this.findDelivery(d.endpointId, d.event.id)
    if (known === null) throw new TidingsError('TIDINGS_ERR_INTERNAL', { detail: `delivery of ${d.event.id} to ${d.endpointId} vanished while it was created` })
    return { delivery: known, created: false }
  }

  async getDelivery(id: string): Promise<WebhookDelivery | null> {
    const r = await this.#query<DeliveryRow>(`SELECT ${DELIVERY_COLUMNS} FROM ${this.#t.deliveries} WHERE id = $1`, [id])
    return r.rows[0] === undefined ? null : deliveryOf(r.rows[0])
  }

  async findDelivery(endpointId: string, eventId: string): Promise<WebhookDelivery | null> {
    const r = await this.#query<DeliveryRow>(`SELECT ${DELIVERY_COLUMNS} FROM ${this.#t.deliveries} WHERE endpoint_id = $1 AND event_id = $2`, [endpointId, eventId])
    return r.rows[0] === undefined ? null : deliveryOf(r.rows[0])
  }

  async updateDelivery(id: string, change: DeliveryChange, at: Date): Promise<WebhookDelivery | null> {
    await this.ready()
    return this.#updateDelivery(this.#pool!, id, change, at, false)
  }

  async listDeliveries(endpointId: string, query: DeliveryQuery): Promise<DeliveryPage> {
    const values: unknown[] = [endpointId, query.limit + 1]
    const where = ['endpoint_id = $1']
    if (query.status !== undefined) {
      values.push(query.status)
      where.push(`status = $${values.length}`)
    }
    if (query.since !== undefined) {
      values.push(query.since.toISOString())
      where.push(`created_at >= $${values.length}`)
    }
    if (query.cursor !== undefined && query.cursor !== null) {
      values.push(query.cursor)
      where.push(`seq < coalesce((SELECT seq FROM ${this.#t.deliveries} WHERE id = $${values.length}), 0)`)
    }
    const r = await this.#query<DeliveryRow>(`SELECT ${DELIVERY_COLUMNS} FROM ${this.#t.deliveries} WHERE ${where.join(' AND ')} ORDER BY seq DESC LIMIT $2`, values)
    const rows = r.rows.slice(0, query.limit)
    return { deliveries: rows.map(deliveryOf), next: r.rows.length > query.limit ? rows.at(-1)!.id : null }
  }

  async recordAttempt(attempt: Omit<WebhookAttempt, 'attempt'>, change: DeliveryChange): Promise<{ attempt: WebhookAttempt; delivery: WebhookDelivery } | null> {
    await this.ready()
    const client = await this.#pool!.connect()
    try {
      await client.query('BEGIN')
      const delivery = await this.#updateDelivery(client, attempt.deliveryId, change, new Date(attempt.at), true)
      if (delivery === null) {
        await client.query('ROLLBACK')
        return null
      }
      const logged: WebhookAttempt = { ...attempt, attempt: delivery.attempts }
      await client.query(
        `INSERT INTO ${this.#t.attempts} (id, delivery_id, endpoint_id, event_id, attempt, at, url, status, duration_ms, response_body, error, trigger)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
        [logged.id, logged.deliveryId, logged.endpointId, logged.eventId, logged.attempt, logged.at, logged.url, logged.status, logged.durationMs, logged.responseBody, logged.error, logged.trigger],
      )
      await client.query('COMMIT')
      return { attempt: logged, delivery }
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined)
      throw err
    } finally {
      client.release()
    }
  }

  async listAttempts(deliveryId: string): Promise<WebhookAttempt[]> {
    const r = await this.#query<AttemptRow>(`SELECT * FROM ${this.#t.attempts} WHERE delivery_id = $1 ORDER BY attempt`, [deliveryId])
    return r.rows.map((a) => ({
      id: a.id,
      deliveryId: a.delivery_id,
      endpointId: a.endpoint_id,
      eventId: a.event_id,
      attempt: a.attempt,
      at: a.at,
      url: a.url,
      status: a.status,
      durationMs: a.duration_ms,
      responseBody: a.response_body,
      error: a.error,
      trigger: a.trigger,
    }))
  }

  async #updateDelivery(client: Pool | ClientBase, id: string, change: DeliveryChange, at: Date, countAttempt: boolean): Promise<WebhookDelivery | null> {
    const values: unknown[] = [id, at.toISOString(), change.addRuns ?? 0]
    const sets = ['updated_at = $2', 'runs = runs + $3']
    if (countAttempt) sets.push('attempts = attempts + 1')
    for (const [field, column] of DELIVERY_FIELDS) {
      const v = change[field]
      if (v === undefined) continue
      values.push(v)
      sets.push(`${column} = $${values.length}`)
    }
    const r = await client.query<DeliveryRow>(`UPDATE ${this.#t.deliveries} SET ${sets.join(', ')} WHERE id = $1 RETURNING ${DELIVERY_COLUMNS}`, values)
    return r.rows[0] === undefined ? null : deliveryOf(r.rows[0])
  }

  async #query<R extends QueryResultRow = QueryResultRow>(text: string, values: unknown[]) {
    await this.ready()
    return this.#pool!.query<R>(text, values)
  }

  async #init(): Promise<void> {
    const pg = await loadPg()
    if (this.#pool === undefined) {
      if (this.#givenPool !== undefined) this.#pool = this.#givenPool
      else {
        this.#pool = createPool(pg, this.#connectionString, this.#poolSize, this.#logger)
      }
    }
    const client = await this.#pool.connect()
    try {
      await migrate(client, this.schema, 'webhooks', WEBHOOK_STORE_MIGRATIONS)
    } finally {
      client.release()
    }
    if (this.#pruneTimer === undefined && !this.#closed) {
      this.#pruneTimer = setInterval(() => {
        this.prune(new Date(Date.now() - this.#retentionMs)).catch((err: unknown) => this.#logger.warn({ err }, 'webhook retention sweep failed; retrying at the next one'))
      }, this.#pruneIntervalMs)
      this.#pruneTimer.unref()
    }
  }
}

function j(value: unknown): string | null {
  return value === null ? null : JSON.stringify(value)
}

function endpointOf(r: EndpointRow): WebhookEndpoint {
  return {
    id: r.id,
    url: r.url,
    eventTypes: r.event_types,
    channels: r.channels,
    tenant: r.tenant,
    headers: r.headers,
    rateLimit: r.rate_limit,
    enabled: r.enabled,
    retrySchedule: r.retry_schedule,
    secrets: r.secrets,
    cursor: r.cursor,
    health: r.health,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    revision: r.revision,
  }
}

function deliveryOf(r: DeliveryRow): WebhookDelivery {
  return {
    id: r.id,
    endpointId: r.endpoint_id,
    eventId: r.event_id,
    eventType: r.event_type,
    event: r.event,
    status: r.status,
    attempts: r.attempts,
    runs: r.runs,
    jobId: r.job_id,
    nextTrigger: r.next_trigger,
    lastStatus: r.last_status,
    lastAttemptAt: r.last_attempt_at,
    nextAttemptAt: r.next_attempt_at,
    failureReason: r.failure_reason,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  }
}
