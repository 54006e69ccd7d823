/**
 * The embedded memory {@link WebhookStore}: maps, with every operation done in one turn of the
 * event loop, which is what makes them atomic here. Share one instance between several Tidings
 * instances to stand in for processes. Records are copied in and out, so nothing a caller holds
 * changes the store.
 */
import type { DisabledReason, EndpointHealth, WebhookEndpoint } from './endpoints.js'
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
} from './store.js'

/** Default most deliveries kept per endpoint; the oldest finished ones go first. */
export const DEFAULT_MEMORY_DELIVERIES_PER_ENDPOINT = 10_000
/** Default most attempts kept per delivery; the oldest go first. */
export const DEFAULT_MEMORY_ATTEMPTS_PER_DELIVERY = 100

/** Options of {@link MemoryWebhookStore}. */
export interface MemoryWebhookStoreOptions {
  /** @defaultValue {@link DEFAULT_MEMORY_DELIVERIES_PER_ENDPOINT} */
  deliveriesPerEndpoint?: number
  /** @defaultValue {@link DEFAULT_MEMORY_ATTEMPTS_PER_DELIVERY} */
  attemptsPerDelivery?: number
}

interface Claim {
  holder: string
  expiresAt: number
}

/** Webhook endpoints, deliveries and attempts in process memory. */
export class MemoryWebhookStore implements WebhookStore {
  readonly engine = 'memory'
  readonly capabilities: WebhookStoreCapabilities = { durable: false }
  readonly #endpoints = new Map<string, WebhookEndpoint>()
  readonly #claims = new Map<string, Claim>()
  readonly #deliveries = new Map<string, WebhookDelivery>()
  /** Delivery ids per endpoint, oldest first. */
  readonly #byEndpoint = new Map<string, string[]>()
  /** `endpointId eventId` → delivery id. */
  readonly #byEvent = new Map<string, string>()
  readonly #attempts = new Map<string, WebhookAttempt[]>()
  readonly #maxDeliveries: number
  readonly #maxAttempts: number

  constructor(options: MemoryWebhookStoreOptions = {}) {
    this.#maxDeliveries = options.deliveriesPerEndpoint ?? DEFAULT_MEMORY_DELIVERIES_PER_ENDPOINT
    this.#maxAttempts = options.attemptsPerDelivery ?? DEFAULT_MEMORY_ATTEMPTS_PER_DELIVERY
  }

  async ready(): Promise<void> {}

  async close(): Promise<void> {}

  async insertEndpoint(endpoint: WebhookEndpoint): Promise<void> {
    this.#endpoints.set(endpoint.id, structuredClone(endpoint))
  }

  async getEndpoint(id: string): Promise<WebhookEndpoint | null> {
    const e = this.#endpoints.get(id)
    return e === undefined ? null : structuredClone(e)
  }

  async listEndpoints(query: EndpointQuery = {}): Promise<WebhookEndpoint[]> {
    return [...this.#endpoints.values()]
      .filter((e) => (query.tenant === undefined || e.tenant === query.tenant) && (query.enabled === undefined || e.enabled === query.enabled))
      .map((e) => structuredClone(e))
  }

  async updateEndpoint(id: string, change: EndpointChange, at: Date): Promise<WebhookEndpoint | null> {
    const e = this.#endpoints.get(id)
    if (e === undefined) return null
    const { health, ...config } = structuredClone(change)
    const next: WebhookEndpoint = {
      ...e,
      ...Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined)),
      health: { ...e.health, ...(health ?? {}) },
      updatedAt: at.toISOString(),
      revision: e.revision + 1,
    }
    this.#endpoints.set(id, next)
    return structuredClone(next)
  }

  async disableEndpoint(id: string, reason: DisabledReason, at: Date): Promise<WebhookEndpoint | null> {
    const e = this.#endpoints.get(id)
    if (e === undefined || !e.enabled) return null
    return this.updateEndpoint(id, { enabled: false, health: { disabledAt: at.toISOString(), disabledReason: reason } }, at)
  }

  async deleteEndpoint(id: string): Promise<boolean> {
    if (!this.#endpoints.delete(id)) return false
    this.#claims.delete(id)
    for (const d of this.#byEndpoint.get(id) ?? []) this.#forgetDelivery(d)
    this.#byEndpoint.delete(id)
    return true
  }

  async recordOutcome(id: string, outcome: AttemptOutcome): Promise<EndpointHealth | null> {
    const e = this.#endpoints.get(id)
    if (e === undefined) return null
    const at = outcome.at.toISOString()
    const h = e.health
    const health: EndpointHealth = outcome.ok
      ? { ...h, lastSuccessAt: at, lastStatus: outcome.status, failureStreak: 0, failingSince: null }
      : { ...h, lastFailureAt: at, lastStatus: outcome.status, failureStreak: h.failureStreak + 1, failingSince: h.failingSince ?? at }
    this.#endpoints.set(id, { ...e, health })
    return { ...health }
  }

  async claimEndpoint(id: string, holder: string, leaseMs: number, at: Date): Promise<boolean> {
    if (!this.#endpoints.has(id)) return false
    const now = at.getTime()
    const c = this.#claims.get(id)
    if (c !== undefined && c.holder !== holder && c.expiresAt > now) return false
    this.#claims.set(id, { holder, expiresAt: now + leaseMs })
    return true
  }

  async releaseEndpoint(id: string, holder: string): Promise<void> {
    if (this.#claims.get(id)?.holder === holder) this.#claims.delete(id)
  }

  async saveCursor(id: string, holder: string, cursor: string, at: Date): Promise<boolean> {
    const e = this.#endpoints.get(id)
    const c = this.#claims.get(id)
    if (e === undefined || c === undefined || c.holder !== holder) return false
    this.#endpoints.set(id, { ...e, cursor, updatedAt: at.toISOString() })
    return true
  }

  async createDelivery(input: NewDelivery): Promise<{ delivery: WebhookDelivery; created: boolean }> {
    const key = `${input.endpointId} ${input.event.id}`
    const known = this.#byEvent.get(key)
    if (known !== undefined) return { delivery: structuredClone(this.#deliveries.get(known)!), created: false }
    const at = input.at.toISOString()
    const delivery: WebhookDelivery = {
      id: input.id,
      endpointId: input.endpointId,
      eventId: input.event.id,
      eventType: input.event.type,
      event: structuredClone(input.event),
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
    this.#deliveries.set(delivery.id, delivery)
    this.#byEvent.set(key, delivery.id)
    let ids = this.#byEndpoint.get(input.endpointId)
    if (ids === undefined) this.#byEndpoint.set(input.endpointId, (ids = []))
    ids.push(delivery.id)
    if (ids.length > this.#maxDeliveries) this.#trim(ids)
    return { delivery: structuredClone(delivery), created: true }
  }

  async getDelivery(id: string): Promise<WebhookDelivery | null> {
    const d = this.#deliveries.get(id)
    return d === undefined ? null : structuredClone(d)
  }

  async findDelivery(endpointId: string, eventId: string): Promise<WebhookDelivery | null> {
    const id = this.#byEvent.get(`${endpointId} ${eventId}`)
    return id === undefined ? null : this.getDelivery(id)
  }

  async updateDelivery(id: string, change: DeliveryChange, at: Date): Promise<WebhookDelivery | null> {
    const d = this.#deliveries.get(id)
    if (d === undefined) return null
    const next = this.#apply(d, change, at)
    this.#deliveries.set(id, next)
    return structuredClone(next)
  }

  async listDeliveries(endpointId: string, query: DeliveryQuery): Promise<DeliveryPage> {
    const ids = this.#byEndpoint.get(endpointId) ?? []
    let i = ids.length - 1
    if (query.cursor !== undefined && query.cursor !== null) {
      const at = ids.lastIndexOf(query.cursor)
      i = at === -1 ? -1 : at - 1
    }
    const since = query.since?.toISOString()
    const out: WebhookDelivery[] = []
    for (; i >= 0 && out.length < query.limit; i--) {
      const d = this.#deliveries.get(ids[i]!)!
      if (since !== undefined && d.createdAt < since) break
      if (query.status === undefined || d.status === query.status) out.push(structuredClone(d))
    }
    const more = i >= 0 && (since === undefined || this.#deliveries.get(ids[i]!)!.createdAt >= since)
    return { deliveries: out, next: more && out.length > 0 ? out.at(-1)!.id : null }
  }

  async recordAttempt(attempt: Omit<WebhookAttempt, 'attempt'>, change: DeliveryChange): Promise<{ attempt: WebhookAttempt; delivery: WebhookDelivery } | null> {
    const d = this.#deliveries.get(attempt.deliveryId)
    if (d === undefined) return null
    const logged: WebhookAttempt = { ...attempt, attempt: d.attempts + 1 }
    const next = this.#apply({ ...d, attempts: d.attempts + 1 }, change, new Date(attempt.at))
    this.#deliveries.set(d.id, next)
    let list = this.#attempts.get(d.id)
    if (list === undefined) this.#attempts.set(d.id, (list = []))
    list.push(logged)
    if (list.length > this.#maxAttempts) list.splice(0, list.length - this.#maxAttempts)
    return { attempt: { ...logged }, delivery: structuredClone(next) }
  }

  async listAttempts(deliveryId: string): Promise<WebhookAttempt[]> {
    return (this.#attempts.get(deliveryId) ?? []).map((a) => ({ ...a }))
  }

  #apply(d: WebhookDelivery, change: DeliveryChange, at: Date): WebhookDelivery {
    const { addRuns, ...fields } = change
    return {
      ...d,
      ...Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)),
      runs: d.runs + (addRuns ?? 0),
      updatedAt: at.toISOString(),
    }
  }

  /** Drops the oldest finished deliveries of an endpoint over the bound (pending ones are kept). */
  #trim(ids: string[]): void {
    let excess = ids.length - this.#maxDeliveries
    for (let i = 0; i < ids.length && excess > 0; ) {
      if (this.#deliveries.get(ids[i]!)!.status !== 'pending') {
        this.#forgetDelivery(ids[i]!)
        ids.splice(i, 1)
        excess--
      } else i++
    }
  }

  #forgetDelivery(id: string): void {
    const d = this.#deliveries.get(id)
    if (d === undefined) return
    this.#deliveries.delete(id)
    this.#byEvent.delete(`${d.endpointId} ${d.eventId}`)
    this.#attempts.delete(id)
  }
}
