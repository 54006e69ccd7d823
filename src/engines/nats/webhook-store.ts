/**
 * The NATS {@link WebhookStore}: endpoints, dispatch claims, cursors, deliveries and the attempt
 * log in one JetStream KV bucket, each change a revision-checked KV `create` or `update` (the way
 * `NatsJobQueue` keeps job records): of several processes racing on one record, exactly one
 * write lands and the others read again.
 *
 * Keys (every name through {@link encodeToken}):
 * - `ep.<endpoint>`: the endpoint with its dispatch claim, so that a cursor is stored only in the
 *   same write that checks the claim.
 * - `dl.<endpoint>.<event>`: the delivery of one event to one endpoint, with its attempt log. Its
 *   key *is* the (endpoint, event) pair, so `createDelivery` stores at most one per pair (a KV
 *   `create`), and an attempt is numbered, logged and applied to the delivery in one write.
 * - `id.<delivery>`: the delivery id's pointer to its `dl.` key, written (idempotently) by every
 *   `createDelivery` that returns the delivery, winner or not.
 *
 * Listing an endpoint's deliveries and deleting an endpoint scan its `dl.<endpoint>.>` keys: fine
 * for thousands of deliveries per endpoint, not for millions. There is no retention sweep: a
 * delivery stays until its endpoint is deleted. See docs/engines/nats.md#webhooks-on-nats.
 *
 * `@nats-io/*` are optional peer dependencies, imported when the store first connects.
 */
import type { KV, KvEntry } from '@nats-io/kv'
import { TidingsError } from '../../core/errors.js'
import { createLogger, type Logger } from '../../core/logger.js'
import type { DisabledReason, EndpointHealth, WebhookEndpoint } from '../../webhooks/endpoints.js'
import type {
  AttemptOutcome,
  DeliveryChange,
  DeliveryPage,
  DeliveryQuery,
  EndpointChange,
  EndpointQuery,
  NewDelivery,
  WebhookAttempt,
  WebhookDelivery,
  WebhookStore,
  WebhookStoreCapabilities,
} from '../../webhooks/store.js'
import {
  DEFAULT_NATS_API_TIMEOUT_MS,
  DEFAULT_NATS_REPLICAS,
  closeConnection,
  encodeToken,
  isWrongLastSequence,
  loadNats,
  openConnection,
  type NatsConnectionOptions,
  type OpenConnection,
} from './connection.js'

/** Default prefix the bucket name is derived from (`<prefix>_webhooks`), as the CLI's `TIDINGS_NATS_PREFIX`. */
export const DEFAULT_NATS_WEBHOOK_PREFIX = 'tidings'
/** Default KV bucket of the webhook store: `tidings_webhooks`. */
export const DEFAULT_NATS_WEBHOOK_BUCKET = `${DEFAULT_NATS_WEBHOOK_PREFIX}_webhooks`
/** Default most attempts kept per delivery; the oldest go first. */
export const DEFAULT_NATS_ATTEMPTS_PER_DELIVERY = 50
/** Default most bytes of attempt log kept per delivery (the record must fit a NATS message); the oldest attempts go first. */
export const DEFAULT_NATS_ATTEMPT_LOG_BYTES = 256 * 1024

/** Most revision conflicts one operation tolerates before it gives up. */
const MAX_CONFLICTS = 100
/** How many records a scan reads at once. */
const READ_CONCURRENCY = 32
const NAME_RE = /^[A-Za-z0-9_-]{1,64}$/
const PREFIX_RE = /^[a-z0-9_-]{1,40}$/

/** Options of {@link NatsWebhookStore}. */
export interface NatsWebhookStoreOptions extends NatsConnectionOptions {
  /** Prefix of `[a-z0-9_-]` the bucket name is derived from: `<prefix>_webhooks`. @defaultValue {@link DEFAULT_NATS_WEBHOOK_PREFIX} */
  prefix?: string
  /** KV bucket (stream `KV_<bucket>`); created if missing. Overrides `prefix`. @defaultValue `<prefix>_webhooks`, i.e. {@link DEFAULT_NATS_WEBHOOK_BUCKET} */
  bucket?: string
  /** Most attempts kept per delivery. @defaultValue {@link DEFAULT_NATS_ATTEMPTS_PER_DELIVERY} */
  attemptsPerDelivery?: number
  /** Most bytes of attempt log kept per delivery. @defaultValue {@link DEFAULT_NATS_ATTEMPT_LOG_BYTES} */
  attemptLogBytes?: number
  /** Bucket replicas (on a cluster: 1, 3 or 5). @defaultValue {@link DEFAULT_NATS_REPLICAS} */
  replicas?: number
}

interface Claim {
  readonly holder: string
  readonly expiresAt: number
}

/** An endpoint as the bucket stores it. */
interface StoredEndpoint {
  readonly endpoint: WebhookEndpoint
  readonly claim: Claim | null
}

/** A delivery as the bucket stores it, with its attempt log (oldest first). */
interface StoredDelivery {
  readonly delivery: WebhookDelivery
  readonly log: readonly WebhookAttempt[]
}

/** Where an `id.` pointer leads. */
interface Pointer {
  readonly endpointId: string
  readonly eventId: string
}

interface Versioned<T> {
  readonly value: T
  readonly revision: number
}

interface Live {
  readonly conn: OpenConnection
  readonly kv: KV
}

const encoder = new TextEncoder()

/** Webhook endpoints, deliveries and attempts in a NATS JetStream KV bucket. */
export class NatsWebhookStore implements WebhookStore {
  readonly engine = 'nats'
  readonly capabilities: WebhookStoreCapabilities = { durable: true }
  /** The KV bucket's name. */
  readonly bucket: string
  readonly #options: NatsWebhookStoreOptions
  readonly #maxAttempts: number
  readonly #maxLogBytes: number
  readonly #apiTimeoutMs: number
  readonly #logger: Logger
  #live: Live | undefined
  #ready: Promise<Live> | undefined
  #closed = false

  constructor(options: NatsWebhookStoreOptions = {}) {
    this.#options = options
    const invalid = (detail: string): TidingsError => new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail })
    const prefix = options.prefix ?? DEFAULT_NATS_WEBHOOK_PREFIX
    if (!PREFIX_RE.test(prefix)) throw invalid('the NATS prefix must be 1–40 characters of [a-z0-9_-]')
    this.bucket = options.bucket ?? `${prefix}_webhooks`
    if (!NAME_RE.test(this.bucket)) throw invalid('nats bucket must be 1–64 characters of [A-Za-z0-9_-]')
    this.#maxAttempts = options.attemptsPerDelivery ?? DEFAULT_NATS_ATTEMPTS_PER_DELIVERY
    this.#maxLogBytes = options.attemptLogBytes ?? DEFAULT_NATS_ATTEMPT_LOG_BYTES
    this.#apiTimeoutMs = options.apiTimeoutMs ?? DEFAULT_NATS_API_TIMEOUT_MS
    this.#logger = options.logger ?? createLogger().child({ engine: 'nats', port: 'webhooks' })
    for (const [name, value] of [
      ['attemptsPerDelivery', this.#maxAttempts],
      ['attemptLogBytes', this.#maxLogBytes],
      ['apiTimeoutMs', this.#apiTimeoutMs],
      ['replicas', options.replicas ?? DEFAULT_NATS_REPLICAS],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < 1) throw invalid(`nats ${name} must be a positive integer`)
    }
  }

  /** Connects and creates the bucket if missing. Idempotent. */
  async ready(): Promise<void> {
    await this.#connect()
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const ready = this.#ready
    this.#ready = undefined
    const live = this.#live ?? (await ready?.catch(() => undefined))
    this.#live = undefined
    await closeConnection(live?.conn)
  }

  async insertEndpoint(endpoint: WebhookEndpoint): Promise<void> {
    const live = await this.#connect()
    const record: StoredEndpoint = { endpoint, claim: null }
    try {
      await live.kv.create(endpointKey(endpoint.id), encode(record))
    } catch (err) {
      if (isWrongLastSequence(err)) throw new TidingsError('TIDINGS_ERR_INTERNAL', { detail: `duplicate webhook endpoint id ${endpoint.id}` })
      throw err
    }
  }

  async getEndpoint(id: string): Promise<WebhookEndpoint | null> {
    const live = await this.#connect()
    return (await this.#getEndpoint(live, id))?.value.endpoint ?? null
  }

  async listEndpoints(query: EndpointQuery = {}): Promise<WebhookEndpoint[]> {
    const live = await this.#connect()
    const all = await this.#scan<StoredEndpoint>(live, 'ep.>')
    return all
      .map((s) => s.value.endpoint)
      .filter((e) => (query.tenant === undefined || e.tenant === query.tenant) && (query.enabled === undefined || e.enabled === query.enabled))
      .sort((a, b) => (a.createdAt !== b.createdAt ? (a.createdAt < b.createdAt ? -1 : 1) : a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  }

  async updateEndpoint(id: string, change: EndpointChange, at: Date): Promise<WebhookEndpoint | null> {
    const live = await this.#connect()
    const next = await this.#updateEndpoint(live, id, (s) => ({ ...s, endpoint: changed(s.endpoint, change, at) }))
    return next?.endpoint ?? null
  }

  async disableEndpoint(id: string, reason: DisabledReason, at: Date): Promise<WebhookEndpoint | null> {
    const live = await this.#connect()
    const change: EndpointChange = { enabled: false, health: { disabledAt: at.toISOString(), disabledReason: reason } }
    const next = await this.#updateEndpoint(live, id, (s) => (s.endpoint.enabled ? { ...s, endpoint: changed(s.endpoint, change, at) } : null))
    return next?.endpoint ?? null
  }

  async deleteEndpoint(id: string): Promise<boolean> {
    const live = await this.#connect()
    let existed = false
    for (let i = 0; i < MAX_CONFLICTS && !existed; i++) {
      const current = await this.#getEndpoint(live, id)
      if (current === null) return false
      try {
        await live.kv.delete(endpointKey(id), { previousSeq: current.revision })
        existed = true
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err
      }
    }
    if (!existed) throw this.#tooManyConflicts(`endpoint ${id}`)
    const deliveries = await this.#scan<StoredDelivery>(live, `dl.${encodeToken(id)}.>`)
    await inBatches(deliveries, async ({ value: { delivery: d } }) => {
      await live.kv.delete(idKey(d.id)).catch(() => undefined)
      await live.kv.delete(deliveryKey(d.endpointId, d.eventId))
    })
    return true
  }

  async recordOutcome(id: string, outcome: AttemptOutcome): Promise<EndpointHealth | null> {
    const live = await this.#connect()
    const at = outcome.at.toISOString()
    const next = await this.#updateEndpoint(live, id, (s) => {
      const h = s.endpoint.health
      const health: EndpointHealth = outcome.ok
        ? { ...h, lastSuccessAt: at, lastStatus: outcome.status, failureStreak: 0, failingSince: null }
        : { ...h, lastFailureAt: at, lastStatus: outcome.status, failureStreak: h.failureStreak + 1, failingSince: h.failingSince ?? at }
      return { ...s, endpoint: { ...s.endpoint, health } }
    })
    return next?.endpoint.health ?? null
  }

  async claimEndpoint(id: string, holder: string, leaseMs: number, at: Date): Promise<boolean> {
    const live = await this.#connect()
    const now = at.getTime()
    const next = await this.#updateEndpoint(live, id, (s) => {
      const c = s.claim
      if (c !== null && c.holder !== holder && c.expiresAt > now) return null
      return { ...s, claim: { holder, expiresAt: now + leaseMs } }
    })
    return next !== null
  }

  async releaseEndpoint(id: string, holder: string): Promise<void> {
    const live = await this.#connect()
    await this.#updateEndpoint(live, id, (s) => (s.claim?.holder === holder ? { ...s, claim: null } : null))
  }

  async saveCursor(id: string, holder: string, cursor: string, at: Date): Promise<boolean> {
    const live = await this.#connect()
    const next = await this.#updateEndpoint(live, id, (s) => (s.claim?.holder === holder ? { ...s, endpoint: { ...s.endpoint, cursor, updatedAt: at.toISOString() } } : null))
    return next !== null
  }

  async createDelivery(input: NewDelivery): Promise<{ delivery: WebhookDelivery; created: boolean }> {
    const live = await this.#connect()
    const at = input.at.toISOString()
    const delivery: WebhookDelivery = {
      id: input.id,
      endpointId: input.endpointId,
      eventId: input.event.id,
      eventType: input.event.type,
      event: input.event,
      status: 'pending',
      attempts: 0,
      runs: 1,
      jobId: null,
      nextTrigger: input.trigger,
      lastStatus: null,
      lastAttemptAt: null,
      nextAttemptAt: null,
      failureReason: null,
      createdAt: at,
      updatedAt: at,
    }
    const key = deliveryKey(input.endpointId, input.event.id)
    for (let i = 0; i < MAX_CONFLICTS; i++) {
      try {
        await live.kv.create(key, encode({ delivery, log: [] } satisfies StoredDelivery))
        await this.#point(live, delivery)
        return { delivery: decode<WebhookDelivery>(encode(delivery)), created: true }
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err
      }
      const existing = await this.#getStoredDelivery(live, input.endpointId, input.event.id)
      if (existing === null) continue // deleted between the two reads: try to create it again
      // The winner may not have written its pointer yet (or died before it): write it for it.
      await this.#point(live, existing.value.delivery)
      return { delivery: existing.value.delivery, created: false }
    }
    throw this.#tooManyConflicts(`delivery of ${input.event.id} to ${input.endpointId}`)
  }

  async getDelivery(id: string): Promise<WebhookDelivery | null> {
    const live = await this.#connect()
    return (await this.#getById(live, id))?.value.delivery ?? null
  }

  async findDelivery(endpointId: string, eventId: string): Promise<WebhookDelivery | null> {
    const live = await this.#connect()
    return (await this.#getStoredDelivery(live, endpointId, eventId))?.value.delivery ?? null
  }

  async updateDelivery(id: string, change: DeliveryChange, at: Date): Promise<WebhookDelivery | null> {
    const live = await this.#connect()
    const next = await this.#updateDelivery(live, id, (s) => ({ ...s, delivery: applyChange(s.delivery, change, at) }))
    return next?.delivery ?? null
  }

  /** An endpoint's deliveries, newest first (by `createdAt`, then id): reads every delivery of the endpoint, then pages. */
  async listDeliveries(endpointId: string, query: DeliveryQuery): Promise<DeliveryPage> {
    const live = await this.#connect()
    const all = (await this.#scan<StoredDelivery>(live, `dl.${encodeToken(endpointId)}.>`)).map((s) => s.value.delivery).sort(newestFirst)
    let start = 0
    if (query.cursor !== undefined && query.cursor !== null) {
      const at = all.findIndex((d) => d.id === query.cursor)
      start = at === -1 ? all.length : at + 1
    }
    const since = query.since?.toISOString()
    const matching = all.slice(start).filter((d) => (since === undefined || d.createdAt >= since) && (query.status === undefined || d.status === query.status))
    const page = matching.slice(0, query.limit)
    return { deliveries: page, next: matching.length > query.limit && page.length > 0 ? page.at(-1)!.id : null }
  }

  async recordAttempt(attempt: Omit<WebhookAttempt, 'attempt'>, change: DeliveryChange): Promise<{ attempt: WebhookAttempt; delivery: WebhookDelivery } | null> {
    const live = await this.#connect()
    let logged: WebhookAttempt | undefined
    const next = await this.#updateDelivery(live, attempt.deliveryId, (s) => {
      logged = { ...attempt, attempt: s.delivery.attempts + 1 }
      const delivery = applyChange({ ...s.delivery, attempts: s.delivery.attempts + 1 }, change, new Date(attempt.at))
      return { delivery, log: this.#trimLog([...s.log, logged]) }
    })
    if (next === null || logged === undefined) return null
    return { attempt: logged, delivery: next.delivery }
  }

  async listAttempts(deliveryId: string): Promise<WebhookAttempt[]> {
    const live = await this.#connect()
    return [...((await this.#getById(live, deliveryId))?.value.log ?? [])]
  }

  /** The newest attempts within the count and byte bounds (the newest one always kept). */
  #trimLog(log: WebhookAttempt[]): WebhookAttempt[] {
    const kept: WebhookAttempt[] = []
    let bytes = 0
    for (let i = log.length - 1; i >= 0 && kept.length < this.#maxAttempts; i--) {
      bytes += Buffer.byteLength(JSON.stringify(log[i]))
      if (kept.length > 0 && bytes > this.#maxLogBytes) break
      kept.unshift(log[i]!)
    }
    return kept
  }

  /** Read, change, write with the revision read, again on a conflict; `change` returning null (or a missing record) writes nothing and resolves to null. */
  async #updateEndpoint(live: Live, id: string, change: (s: StoredEndpoint) => StoredEndpoint | null): Promise<StoredEndpoint | null> {
    for (let i = 0; i < MAX_CONFLICTS; i++) {
      const current = await this.#getEndpoint(live, id)
      if (current === null) return null
      const next = change(current.value)
      if (next === null) return null
      try {
        await live.kv.update(endpointKey(id), encode(next), current.revision)
        return next
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err
      }
    }
    throw this.#tooManyConflicts(`endpoint ${id}`)
  }

  /** As {@link #updateEndpoint}, for the delivery with id `id`. */
  async #updateDelivery(live: Live, id: string, change: (s: StoredDelivery) => StoredDelivery): Promise<StoredDelivery | null> {
    for (let i = 0; i < MAX_CONFLICTS; i++) {
      const current = await this.#getById(live, id)
      if (current === null) return null
      const next = change(current.value)
      try {
        await live.kv.update(deliveryKey(next.delivery.endpointId, next.delivery.eventId), encode(next), current.revision)
        return next
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err
      }
    }
    throw this.#tooManyConflicts(`delivery ${id}`)
  }

  async #getEndpoint(live: Live, id: string): Promise<Versioned<StoredEndpoint> | null> {
    return versioned<StoredEndpoint>(await live.kv.get(endpointKey(id)))
  }

  async #getStoredDelivery(live: Live, endpointId: string, eventId: string): Promise<Versioned<StoredDelivery> | null> {
    return versioned<StoredDelivery>(await live.kv.get(deliveryKey(endpointId, eventId)))
  }

  /** The delivery with id `id`, through its pointer. */
  async #getById(live: Live, id: string): Promise<Versioned<StoredDelivery> | null> {
    const pointer = versioned<Pointer>(await live.kv.get(idKey(id)))
    if (pointer === null) return null
    const stored = await this.#getStoredDelivery(live, pointer.value.endpointId, pointer.value.eventId)
    return stored !== null && stored.value.delivery.id === id ? stored : null
  }

  /** Writes a delivery's `id.` pointer (the same value whoever writes it). */
  async #point(live: Live, d: WebhookDelivery): Promise<void> {
    const pointer: Pointer = { endpointId: d.endpointId, eventId: d.eventId }
    await live.kv.put(idKey(d.id), encode(pointer))
  }

  /** Every live value under `filter` (a KV key pattern): the keys, then each value. */
  async #scan<T>(live: Live, filter: string): Promise<Versioned<T>[]> {
    const keys: string[] = []
    for await (const k of await live.kv.keys(filter)) keys.push(k)
    const out: Versioned<T>[] = []
    await inBatches(keys, async (k) => {
      const v = versioned<T>(await live.kv.get(k))
      if (v !== null) out.push(v)
    })
    return out
  }

  #tooManyConflicts(what: string): TidingsError {
    return new TidingsError('TIDINGS_ERR_INTERNAL', { detail: `too many concurrent changes to webhook ${what}` })
  }

  async #connect(): Promise<Live> {
    if (this.#closed) throw new TidingsError('TIDINGS_ERR_CLOSED', { detail: 'the webhook store is closed' })
    if (this.#live !== undefined) return this.#live
    this.#ready ??= (async () => {
      const { jetstream, kv: kvModule } = await loadNats()
      const conn = await openConnection(this.#options, this.#logger, `tidings:${this.bucket}:webhooks`)
      try {
        const jsm = await jetstream.jetstreamManager(conn.nc, { timeout: this.#apiTimeoutMs })
        const kv = await new kvModule.Kvm(jsm.jetstream()).create(this.bucket, {
          history: 1,
          replicas: this.#options.replicas ?? DEFAULT_NATS_REPLICAS,
          storage: jetstream.StorageType.File,
        })
        if (this.#closed) throw new TidingsError('TIDINGS_ERR_CLOSED', { detail: 'the webhook store is closed' })
        const live: Live = { conn, kv }
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
}

/** An endpoint with a configuration change applied, its revision bumped. */
function changed(e: WebhookEndpoint, change: EndpointChange, at: Date): WebhookEndpoint {
  const { health, ...config } = change
  return {
    ...e,
    ...Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined)),
    health: { ...e.health, ...(health ?? {}) },
    updatedAt: at.toISOString(),
    revision: e.revision + 1,
  }
}

function applyChange(d: WebhookDelivery, change: DeliveryChange, at: Date): WebhookDelivery {
  const { addRuns, ...fields } = change
  return {
    ...d,
    ...Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)),
    runs: d.runs + (addRuns ?? 0),
    updatedAt: at.toISOString(),
  }
}

function newestFirst(a: WebhookDelivery, b: WebhookDelivery): number {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? 1 : -1
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0
}

async function inBatches<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += READ_CONCURRENCY) await Promise.all(items.slice(i, i + READ_CONCURRENCY).map(fn))
}

function encode(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value))
}

function decode<T>(data: Uint8Array): T {
  return JSON.parse(new TextDecoder().decode(data)) as T
}

function versioned<T>(entry: KvEntry | null): Versioned<T> | null {
  if (entry === null || entry.operation !== 'PUT') return null
  return { value: entry.json<T>(), revision: entry.revision }
}

const endpointKey = (id: string): string => `ep.${encodeToken(id)}`
const deliveryKey = (endpointId: string, eventId: string): string => `dl.${encodeToken(endpointId)}.${encodeToken(eventId)}`
const idKey = (id: string): string => `id.${encodeToken(id)}`
