/**
 * The `WebhookStore` port: where endpoints, their cursors and dispatch claims, deliveries and the
 * attempt log live. Like `EventLog` and `JobQueue` it is the one contract an engine implements;
 * everything above it — dispatcher, delivery job, HTTP — is engine-agnostic. Every method that
 * changes a record does so atomically (one statement, one script, one turn of the event loop),
 * because several processes dispatch and deliver against the same store.
 */
import type { TidingsEvent } from '../core/envelope.js'
import type { DisabledReason, EndpointHealth, EndpointSecret, WebhookEndpoint } from './endpoints.js'

/** What started an attempt: the retry schedule, or a person (resend, recover, replay). */
export type AttemptTrigger = 'scheduled' | 'manual'

/** Where a delivery stands. */
export type DeliveryStatus = 'pending' | 'succeeded' | 'failed'

/** One (endpoint, event) pair: the event, and where its delivery stands. */
export interface WebhookDelivery {
  readonly id: string
  readonly endpointId: string
  /** The event id: the `webhook-id` header of every attempt. */
  readonly eventId: string
  readonly eventType: string
  /** The event as it is sent (the body is its canonical JSON). */
  readonly event: TidingsEvent
  readonly status: DeliveryStatus
  /** Attempts so far, over every run. */
  readonly attempts: number
  /** Times the delivery was started: 1, plus one per resend or recovery. */
  readonly runs: number
  /** The job of the latest run; null until it is enqueued. */
  readonly jobId: string | null
  /** What the next attempt's trigger will be recorded as. */
  readonly nextTrigger: AttemptTrigger
  readonly lastStatus: number | null
  readonly lastAttemptAt: string | null
  /** When the next scheduled attempt is due; null unless pending a retry. */
  readonly nextAttemptAt: string | null
  /** Why it failed: `exhausted`, `gone` (410), `endpoint disabled`. */
  readonly failureReason: string | null
  readonly createdAt: string
  readonly updatedAt: string
}

/** One attempt, as the attempt log keeps it. */
export interface WebhookAttempt {
  readonly id: string
  readonly deliveryId: string
  readonly endpointId: string
  readonly eventId: string
  /** 1-based over the delivery's whole life. */
  readonly attempt: number
  readonly at: string
  readonly url: string
  /** HTTP status; 0 when there was no answer (refused, timed out, DNS, SSRF guard). */
  readonly status: number
  readonly durationMs: number
  /** The response body, cut to 20 KB. */
  readonly responseBody: string
  /** What went wrong when there was no answer. */
  readonly error: string | null
  readonly trigger: AttemptTrigger
}

/** A new delivery; the store fills in the counters and times. */
export interface NewDelivery {
  readonly id: string
  readonly endpointId: string
  readonly event: TidingsEvent
  readonly trigger: AttemptTrigger
  readonly at: Date
}

/** A change to a delivery; absent fields keep their value. `runs` is added to, not set. */
export interface DeliveryChange {
  readonly status?: DeliveryStatus
  readonly jobId?: string | null
  readonly nextTrigger?: AttemptTrigger
  readonly lastStatus?: number | null
  readonly lastAttemptAt?: string | null
  readonly nextAttemptAt?: string | null
  readonly failureReason?: string | null
  readonly addRuns?: number
}

/** Filters of {@link WebhookStore.listDeliveries}. */
export interface DeliveryQuery {
  readonly status?: DeliveryStatus
  /** Only deliveries created at or after this time. */
  readonly since?: Date
  readonly limit: number
  /** The `next` of the previous page. */
  readonly cursor?: string | null
}

/** One page of deliveries, newest first. */
export interface DeliveryPage {
  readonly deliveries: readonly WebhookDelivery[]
  /** Pass as `cursor` for the next (older) page; null at the end. */
  readonly next: string | null
}

/** A change to an endpoint's configuration; absent fields keep their value. Bumps `revision`. */
export interface EndpointChange {
  readonly url?: string
  readonly eventTypes?: readonly string[]
  readonly channels?: readonly string[] | null
  readonly headers?: Readonly<Record<string, string>>
  readonly rateLimit?: number | null
  readonly enabled?: boolean
  readonly retrySchedule?: readonly number[] | null
  readonly secrets?: readonly EndpointSecret[]
  /** Merged into the health. */
  readonly health?: Partial<EndpointHealth>
}

/** The outcome of one attempt, for the endpoint's health. */
export interface AttemptOutcome {
  readonly ok: boolean
  readonly status: number
  readonly at: Date
}

/** Which endpoints {@link WebhookStore.listEndpoints} returns; absent fields do not filter. */
export interface EndpointQuery {
  /** `null` matches endpoints without a tenant. */
  readonly tenant?: string | null
  readonly enabled?: boolean
}

/** What a store can do; tests skip what is declared missing. */
export interface WebhookStoreCapabilities {
  /** Endpoints, cursors and deliveries survive a process restart. */
  readonly durable: boolean
}

/** The durable store of webhook endpoints, deliveries and attempts. */
export interface WebhookStore {
  /** Engine name, for logs: `memory`, `redis`, … */
  readonly engine: string
  readonly capabilities: WebhookStoreCapabilities
  /** Connects and creates what the engine needs. Idempotent. */
  ready(): Promise<void>

  /** Stores a new endpoint. */
  insertEndpoint(endpoint: WebhookEndpoint): Promise<void>
  /** One endpoint, or null. */
  getEndpoint(id: string): Promise<WebhookEndpoint | null>
  /** Endpoints, oldest first. */
  listEndpoints(query?: EndpointQuery): Promise<WebhookEndpoint[]>
  /** Applies a change, bumps `revision` and `updatedAt`; null when the endpoint is unknown. */
  updateEndpoint(id: string, change: EndpointChange, at: Date): Promise<WebhookEndpoint | null>
  /**
   * Disables an enabled endpoint, recording why; resolves to the record when this call disabled it,
   * null when it was already disabled or is unknown (so only one caller announces it).
   */
  disableEndpoint(id: string, reason: DisabledReason, at: Date): Promise<WebhookEndpoint | null>
  /** Deletes an endpoint with its deliveries, attempts and claim; true when it existed. */
  deleteEndpoint(id: string): Promise<boolean>
  /**
   * Folds one attempt's outcome into the health: a success clears the failure streak and
   * `failingSince`; a failure adds to the streak and sets `failingSince` if it was clear. Null when unknown.
   */
  recordOutcome(id: string, outcome: AttemptOutcome): Promise<EndpointHealth | null>

  /**
   * Takes or renews the right to dispatch an endpoint for `leaseMs`: true when `holder` has it now
   * (it was free, expired, or already this holder's).
   */
  claimEndpoint(id: string, holder: string, leaseMs: number, at: Date): Promise<boolean>
  /** Gives the claim up, if `holder` has it. */
  releaseEndpoint(id: string, holder: string): Promise<void>
  /** Stores the endpoint's cursor if `holder` still has the claim; false otherwise (the holder must stop). */
  saveCursor(id: string, holder: string, cursor: string, at: Date): Promise<boolean>

  /**
   * Stores a delivery unless one exists for the same (endpoint, event): resolves to the stored one
   * and whether this call created it. This is what makes dispatching an event twice harmless.
   */
  createDelivery(delivery: NewDelivery): Promise<{ delivery: WebhookDelivery; created: boolean }>
  /** One delivery, or null. */
  getDelivery(id: string): Promise<WebhookDelivery | null>
  /** The delivery of `eventId` to `endpointId`, or null. */
  findDelivery(endpointId: string, eventId: string): Promise<WebhookDelivery | null>
  /** Applies a change; null when unknown. */
  updateDelivery(id: string, change: DeliveryChange, at: Date): Promise<WebhookDelivery | null>
  /** An endpoint's deliveries, newest first, a page at a time. */
  listDeliveries(endpointId: string, query: DeliveryQuery): Promise<DeliveryPage>
  /**
   * Appends an attempt to the log (numbering it after the delivery's attempts) and applies `change`
   * to the delivery in the same step; null when the delivery is unknown.
   */
  recordAttempt(attempt: Omit<WebhookAttempt, 'attempt'>, change: DeliveryChange): Promise<{ attempt: WebhookAttempt; delivery: WebhookDelivery } | null>
  /** A delivery's attempts, oldest first. */
  listAttempts(deliveryId: string): Promise<WebhookAttempt[]>

  /** Releases connections. */
  close(): Promise<void>
}
