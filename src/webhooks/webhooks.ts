/**
 * `tidings.webhooks`: endpoints (create, read, change, delete, rotate the secret), the attempt log,
 * resend / recover / replay, and the dispatcher. Built on the instance's log, publisher and job
 * queue; the deliveries run on any worker of an instance that has webhooks set up.
 */
import { formatCursor, parseCursor, type EventLog } from '../core/event-log.js'
import { newEventId, type TidingsEvent } from '../core/envelope.js'
import { TidingsError, isTidingsError } from '../core/errors.js'
import { FINISHED_STATUSES, type JobQueue } from '../core/job-queue.js'
import type { ControlFeed } from '../core/jobs/control.js'
import type { JobDefinition } from '../core/jobs/define.js'
import type { Jobs } from '../core/jobs/jobs.js'
import type { JobEvents } from '../core/jobs/lifecycle.js'
import type { JobRegistry } from '../core/jobs/registry.js'
import type { Logger } from '../core/logger.js'
import type { Publisher } from '../core/publisher.js'
import type { SubscribeOptions, Subscription } from '../core/subscription.js'
import { DeliveryAgents, DEFAULT_DELIVERY_TIMEOUT_MS } from './delivery.js'
import { defineDeliveryJob, RateGate, WEBHOOK_DELIVERY_JOB, type DeliveryOutcome, type DeliveryPayload } from './deliver-job.js'
import { ENDPOINT_CHANGED, WebhookDispatcher, type DispatcherOptions } from './dispatcher.js'
import {
  EndpointFilter,
  endpointView,
  NEW_HEALTH,
  parseEndpointUrl,
  validateEndpointInput,
  validateEndpointPatch,
  type EndpointInput,
  type EndpointPatch,
  type EndpointSecret,
  type WebhookEndpoint,
  type WebhookEndpointView,
} from './endpoints.js'
import { MemoryWebhookStore } from './memory-store.js'
import { DEFAULT_RETRY_SCHEDULE, assertRetrySchedule, parseRetrySchedule } from './retry.js'
import { generateSecret, secretKey } from './signing.js'
import { TargetGuard, type SsrfOptions } from './ssrf.js'
import type { DeliveryStatus, EndpointQuery, WebhookAttempt, WebhookDelivery, WebhookStore } from './store.js'

/** Default time an endpoint may fail without a success before it is disabled: 5 days. */
export const DEFAULT_DISABLE_AFTER_DAYS = 5
/** Default time the previous secret keeps signing after a rotation: 24 hours. */
export const DEFAULT_ROTATION_GRACE_MS = 24 * 3600 * 1000
/** Most secrets an endpoint signs with at once (the current one and rotated ones not yet expired). */
export const MAX_LIVE_SECRETS = 10
/** Default page size of delivery lists. */
export const DEFAULT_DELIVERY_PAGE = 50
/** Largest page of delivery lists. */
export const MAX_DELIVERY_PAGE = 500
/** Page size when replay reads the log. */
const REPLAY_READ_PAGE = 1_000
const DAY_MS = 24 * 3600 * 1000

/** Settings of webhooks. */
export interface WebhooksOptions {
  /** Where endpoints, cursors, deliveries and attempts live; share one between the processes of a deployment. @defaultValue a new {@link MemoryWebhookStore} */
  store?: WebhookStore
  /** Seconds before each retry, for endpoints without their own. @defaultValue `TIDINGS_WEBHOOK_RETRY_SCHEDULE`, else {@link DEFAULT_RETRY_SCHEDULE} */
  retrySchedule?: number[]
  /** Longest attempt. @defaultValue {@link DEFAULT_DELIVERY_TIMEOUT_MS} */
  timeoutMs?: number
  /** An endpoint failing for this many days without a success is disabled. @defaultValue {@link DEFAULT_DISABLE_AFTER_DAYS} */
  disableAfterDays?: number
  /** How long a rotated-out secret keeps signing. @defaultValue {@link DEFAULT_ROTATION_GRACE_MS} */
  rotationGraceMs?: number
  /** The SSRF guard. @defaultValue private targets refused unless `TIDINGS_WEBHOOK_ALLOW_PRIVATE=1` */
  ssrf?: SsrfOptions
  /** Dispatcher tuning. */
  dispatcher?: DispatcherOptions
  /** Where the `TIDINGS_WEBHOOK_*` variables are read. @defaultValue `process.env` */
  env?: NodeJS.ProcessEnv
}

/** What webhooks need from a Tidings instance. */
export interface WebhooksDeps {
  readonly log: EventLog
  readonly publisher: Publisher
  readonly jobs: Jobs
  readonly queue: JobQueue
  readonly registry: JobRegistry
  readonly jobEvents: JobEvents
  readonly control: ControlFeed
  readonly logger: Logger
  subscribe(channels: readonly string[], options: SubscribeOptions): Subscription
}

/** A new endpoint, with its secret: the one time the API shows it besides a rotation. */
export type CreatedEndpoint = WebhookEndpointView & { readonly secret: string }

/** A delivery in a list: without the event, with its attempts. */
export type DeliverySummary = Omit<WebhookDelivery, 'event'> & { readonly attemptLog: readonly WebhookAttempt[] }

/** One delivery in full: the event and its attempts. */
export type DeliveryDetail = WebhookDelivery & { readonly attemptLog: readonly WebhookAttempt[] }

/** Options of {@link Webhooks.deliveries}. */
export interface DeliveryListOptions {
  status?: DeliveryStatus
  /** Only deliveries created at or after this time. */
  since?: Date
  /** @defaultValue {@link DEFAULT_DELIVERY_PAGE} */
  limit?: number
  /** The `next` of the previous page. */
  cursor?: string | null
}

/** Options of {@link Webhooks.replay}: one of them. */
export interface ReplayOptions {
  /** Events that occurred at or after this time. */
  since?: Date
  /** Events after this cursor (an SSE id, a `followFrom`, an endpoint's `cursor`). */
  after?: string
}

/** What a replay did. */
export interface ReplayResult {
  /** Deliveries enqueued: matching events the endpoint had no delivery of. */
  readonly enqueued: number
  /** Log entries read. */
  readonly scanned: number
  /** Part of the requested range had already left the log. */
  readonly truncated: boolean
}

/** Endpoints, deliveries and the dispatcher of one Tidings instance. */
export class Webhooks {
  readonly store: WebhookStore
  readonly guard: TargetGuard
  readonly dispatcher: WebhookDispatcher
  /** The delivery job; registered with the instance. */
  readonly definition: JobDefinition<DeliveryPayload, DeliveryPayload, DeliveryOutcome>
  readonly #deps: WebhooksDeps
  readonly #schedule: readonly number[]
  readonly #graceMs: number
  readonly #agents = new DeliveryAgents()
  readonly #ownsStore: boolean
  #closed = false

  constructor(deps: WebhooksDeps, options: WebhooksOptions = {}) {
    const env = options.env ?? process.env
    this.#deps = deps
    this.#ownsStore = options.store === undefined
    this.store = options.store ?? new MemoryWebhookStore()
    const schedule = options.retrySchedule ?? parseRetrySchedule(env.TIDINGS_WEBHOOK_RETRY_SCHEDULE) ?? DEFAULT_RETRY_SCHEDULE
    assertRetrySchedule(schedule, 'TIDINGS_ERR_INVALID_CONFIG')
    this.#schedule = Object.freeze([...schedule])
    const timeoutMs = options.timeoutMs ?? DEFAULT_DELIVERY_TIMEOUT_MS
    const disableAfterDays = options.disableAfterDays ?? DEFAULT_DISABLE_AFTER_DAYS
    this.#graceMs = options.rotationGraceMs ?? DEFAULT_ROTATION_GRACE_MS
    const bad = (detail: string): never => {
      throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: `webhooks.${detail}` })
    }
    if (!Number.isFinite(timeoutMs) || timeoutMs < 1 || timeoutMs > 2 ** 31 - 1) bad('timeoutMs must be a positive number of milliseconds')
    if (!Number.isFinite(disableAfterDays) || disableAfterDays <= 0) bad('disableAfterDays must be a positive number')
    if (!Number.isFinite(this.#graceMs) || this.#graceMs < 0) bad('rotationGraceMs must be a number ≥ 0')
    this.guard = new TargetGuard({ ...options.ssrf, allowPrivate: options.ssrf?.allowPrivate ?? env.TIDINGS_WEBHOOK_ALLOW_PRIVATE === '1' })
    this.definition = defineDeliveryJob({
      store: this.store,
      publisher: deps.publisher,
      logger: deps.logger,
      guard: this.guard,
      agents: this.#agents,
      rate: new RateGate(),
      schedule: this.#schedule,
      timeoutMs,
      disableAfterMs: disableAfterDays * DAY_MS,
    })
    deps.registry.add(this.definition)
    this.dispatcher = new WebhookDispatcher(
      {
        store: this.store,
        control: deps.control,
        logger: deps.logger,
        subscribe: deps.subscribe,
        filter: (e) => new EndpointFilter(e, WEBHOOK_DELIVERY_JOB),
        dispatch: (e, event) => this.#dispatch(e, event),
      },
      options.dispatcher,
    )
  }

  /** The global retry schedule, in seconds. */
  get retrySchedule(): readonly number[] {
    return this.#schedule
  }

  /**
   * Creates an endpoint. It receives the events appended after its creation (one created disabled
   * receives them once enabled). Throws `TIDINGS_ERR_INVALID_WEBHOOK`, `TIDINGS_ERR_INVALID_WEBHOOK_SECRET`
   * or `TIDINGS_ERR_WEBHOOK_TARGET_FORBIDDEN`.
   */
  async create(input: EndpointInput): Promise<CreatedEndpoint> {
    this.#open()
    const valid = validateEndpointInput(input)
    const url = parseEndpointUrl(valid.url)
    await this.#checkTarget(url)
    const secret = valid.secret ?? generateSecret()
    const now = new Date()
    const endpoint: WebhookEndpoint = {
      id: newEventId(),
      url: url.href,
      eventTypes: [...new Set(valid.eventTypes)],
      channels: valid.channels === undefined || valid.channels === null ? null : [...new Set(valid.channels)],
      tenant: valid.tenant ?? null,
      headers: valid.headers ?? {},
      rateLimit: valid.rateLimit ?? null,
      enabled: valid.enabled ?? true,
      retrySchedule: valid.retrySchedule ?? null,
      secrets: [{ secret, createdAt: now.toISOString(), expiresAt: null }],
      cursor: await this.#headCursor(),
      health: valid.enabled === false ? { ...NEW_HEALTH, disabledAt: now.toISOString(), disabledReason: 'manual' } : NEW_HEALTH,
      createdAt: now.toISOString(),
      updatedAt: now.toISOString(),
      revision: 1,
    }
    await this.store.insertEndpoint(endpoint)
    await this.#changed(endpoint.id)
    return { ...endpointView(endpoint), secret }
  }

  /** One endpoint, or null. */
  async get(id: string): Promise<WebhookEndpointView | null> {
    const e = await this.store.getEndpoint(id)
    return e === null ? null : endpointView(e)
  }

  /** Endpoints, oldest first. */
  async list(query: EndpointQuery = {}): Promise<WebhookEndpointView[]> {
    return (await this.store.listEndpoints(query)).map(endpointView)
  }

  /**
   * Changes an endpoint. Disabling it stops its deliveries; enabling it again clears its failure
   * record and resumes from its cursor, so it receives what was appended while it was off (within
   * the log's retention). Throws `TIDINGS_ERR_WEBHOOK_NOT_FOUND` and the errors of {@link create}.
   */
  async update(id: string, patch: EndpointPatch): Promise<WebhookEndpointView> {
    this.#open()
    const valid = validateEndpointPatch(patch)
    const current = await this.#require(id)
    let url: string | undefined
    if (valid.url !== undefined) {
      const u = parseEndpointUrl(valid.url)
      await this.#checkTarget(u)
      url = u.href
    }
    const now = new Date()
    let health = undefined
    if (valid.enabled === false && current.enabled) health = { disabledAt: now.toISOString(), disabledReason: 'manual' as const }
    if (valid.enabled === true && !current.enabled) health = { disabledAt: null, disabledReason: null, failingSince: null, failureStreak: 0 }
    const updated = await this.store.updateEndpoint(
      id,
      {
        url,
        eventTypes: valid.eventTypes === undefined ? undefined : [...new Set(valid.eventTypes)],
        channels: valid.channels === undefined ? undefined : valid.channels === null ? null : [...new Set(valid.channels)],
        headers: valid.headers,
        rateLimit: valid.rateLimit,
        enabled: valid.enabled,
        retrySchedule: valid.retrySchedule,
        health,
      },
      now,
    )
    if (updated === null) throw notFound(id)
    await this.#changed(id)
    return endpointView(updated)
  }

  /** Deletes an endpoint, its deliveries and their attempts. Throws `TIDINGS_ERR_WEBHOOK_NOT_FOUND`. */
  async delete(id: string): Promise<void> {
    if (!(await this.store.deleteEndpoint(id))) throw notFound(id)
    await this.#changed(id)
  }

  /**
   * Makes `secret` (or a new one) the endpoint's signing secret. The previous ones keep signing
   * alongside it for at most `graceMs`, so receivers can switch without missing a delivery; a grace
   * of 0 stops every previous secret at once (a leaked one).
   * @defaultValue graceMs the instance's `rotationGraceMs`
   */
  async rotateSecret(id: string, options: { secret?: string; graceMs?: number } = {}): Promise<{ secret: string; endpoint: WebhookEndpointView }> {
    this.#open()
    const secret = options.secret ?? generateSecret()
    secretKey(secret)
    const graceMs = options.graceMs ?? this.#graceMs
    if (!Number.isFinite(graceMs) || graceMs < 0) throw new TidingsError('TIDINGS_ERR_INVALID_WEBHOOK', { detail: 'graceMs must be a number ≥ 0' })
    const current = await this.#require(id)
    const now = new Date()
    const expiresAt = new Date(now.getTime() + graceMs).toISOString()
    const kept: EndpointSecret[] = current.secrets
      .map((s) => (s.expiresAt === null || s.expiresAt > expiresAt ? { ...s, expiresAt } : s))
      .filter((s) => s.expiresAt! > now.toISOString() && s.secret !== secret)
    const secrets = [{ secret, createdAt: now.toISOString(), expiresAt: null }, ...kept].slice(0, MAX_LIVE_SECRETS)
    const updated = await this.store.updateEndpoint(id, { secrets }, now)
    if (updated === null) throw notFound(id)
    return { secret, endpoint: endpointView(updated) }
  }

  /** An endpoint's deliveries with their attempts, newest first. Throws `TIDINGS_ERR_WEBHOOK_NOT_FOUND`. */
  async deliveries(id: string, options: DeliveryListOptions = {}): Promise<{ deliveries: DeliverySummary[]; next: string | null }> {
    await this.#require(id)
    const limit = options.limit ?? DEFAULT_DELIVERY_PAGE
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_DELIVERY_PAGE) {
      throw new TidingsError('TIDINGS_ERR_INVALID_QUERY', { detail: `limit must be an integer from 1 to ${MAX_DELIVERY_PAGE}` })
    }
    const page = await this.store.listDeliveries(id, { status: options.status, since: options.since, limit, cursor: options.cursor ?? null })
    const deliveries = await Promise.all(
      page.deliveries.map(async ({ event: _event, ...d }) => ({ ...d, attemptLog: await this.store.listAttempts(d.id) })),
    )
    return { deliveries, next: page.next }
  }

  /** One delivery with its event and attempts. Throws `TIDINGS_ERR_WEBHOOK_NOT_FOUND` or `TIDINGS_ERR_WEBHOOK_DELIVERY_NOT_FOUND`. */
  async delivery(id: string, deliveryId: string): Promise<DeliveryDetail> {
    await this.#require(id)
    const d = await this.store.getDelivery(deliveryId)
    if (d === null || d.endpointId !== id) throw new TidingsError('TIDINGS_ERR_WEBHOOK_DELIVERY_NOT_FOUND', { detail: `delivery ${deliveryId}` })
    return { ...d, attemptLog: await this.store.listAttempts(d.id) }
  }

  /**
   * Sends a delivery again, whatever its outcome so far, with a fresh schedule; its first attempt is
   * logged as `manual`. Throws `TIDINGS_ERR_WEBHOOK_DELIVERY_IN_FLIGHT` while it is still being
   * attempted and `TIDINGS_ERR_WEBHOOK_DISABLED` for a disabled endpoint.
   */
  async resend(id: string, deliveryId: string): Promise<WebhookDelivery> {
    this.#open()
    const endpoint = await this.#requireEnabled(id)
    const d = await this.store.getDelivery(deliveryId)
    if (d === null || d.endpointId !== id) throw new TidingsError('TIDINGS_ERR_WEBHOOK_DELIVERY_NOT_FOUND', { detail: `delivery ${deliveryId}` })
    if (await this.#inFlight(d)) throw new TidingsError('TIDINGS_ERR_WEBHOOK_DELIVERY_IN_FLIGHT', { detail: `delivery ${deliveryId}` })
    return this.#rerun(endpoint, d)
  }

  /**
   * Sends again every delivery of the endpoint created since `since` that failed (or whose job
   * ended without settling it). Throws `TIDINGS_ERR_WEBHOOK_DISABLED` for a disabled endpoint.
   */
  async recover(id: string, options: { since: Date }): Promise<{ recovered: number }> {
    this.#open()
    if (!(options.since instanceof Date) || Number.isNaN(options.since.getTime())) {
      throw new TidingsError('TIDINGS_ERR_INVALID_WEBHOOK', { detail: 'recover needs since, a time' })
    }
    const endpoint = await this.#requireEnabled(id)
    let recovered = 0
    let cursor: string | null = null
    do {
      const page = await this.store.listDeliveries(id, { since: options.since, limit: MAX_DELIVERY_PAGE, cursor })
      for (const d of page.deliveries) {
        if (d.status === 'succeeded' || (d.status === 'pending' && (await this.#inFlight(d)))) continue
        await this.#rerun(endpoint, d)
        recovered++
      }
      cursor = page.next
    } while (cursor !== null)
    return { recovered }
  }

  /**
   * Delivers, from the log, the events the endpoint would receive and has no delivery of: those
   * after the cursor `after`, or those that occurred since `since`, up to the log's head now. Their
   * first attempts are logged as `manual`. Throws `TIDINGS_ERR_WEBHOOK_DISABLED`,
   * `TIDINGS_ERR_INVALID_CURSOR` and `TIDINGS_ERR_EPOCH_CHANGED` (a cursor of an earlier log).
   */
  async replay(id: string, options: ReplayOptions): Promise<ReplayResult> {
    this.#open()
    const { log } = this.#deps
    const hasSince = options.since !== undefined
    if (hasSince === (options.after !== undefined) || (hasSince && (!(options.since instanceof Date) || Number.isNaN(options.since.getTime())))) {
      throw new TidingsError('TIDINGS_ERR_INVALID_WEBHOOK', { detail: 'replay needs one of since (a time) or after (a cursor)' })
    }
    const endpoint = await this.#requireEnabled(id)
    let position: string | null = null
    if (options.after !== undefined) {
      const c = parseCursor(options.after)
      if (c.epoch !== (await log.epoch())) throw new TidingsError('TIDINGS_ERR_EPOCH_CHANGED', { detail: `cursor ${options.after}` })
      if (!log.isPosition(c.position)) throw new TidingsError('TIDINGS_ERR_INVALID_CURSOR', { detail: `cursor ${options.after}` })
      position = c.position
    }
    const head = await log.head()
    if (head === null) return { enqueued: 0, scanned: 0, truncated: false }
    const since = options.since?.toISOString()
    const filter = new EndpointFilter(endpoint, WEBHOOK_DELIVERY_JOB)
    const channels = endpoint.channels === null ? undefined : { exact: endpoint.channels.filter((c) => !c.includes('*')), patterns: endpoint.channels.filter((c) => c.includes('*')) }
    let enqueued = 0
    let scanned = 0
    let truncated = false
    for (;;) {
      const page = await log.read(position, { limit: REPLAY_READ_PAGE, channels })
      truncated ||= page.truncated
      let done = page.next === null || page.next === position
      for (const entry of page.entries) {
        if (log.comparePositions(entry.position, head) > 0) {
          done = true
          break
        }
        scanned++
        const event = entry.event
        if ((since !== undefined && event.occurredAt < since) || !filter.matches(event)) continue
        if ((await this.store.findDelivery(id, event.id)) !== null) continue
        const { delivery, created } = await this.store.createDelivery({ id: newEventId(), endpointId: id, event, trigger: 'manual', at: new Date() })
        if (!created) continue
        await this.#enqueue(endpoint, delivery, dispatchKey(id, event.id))
        enqueued++
      }
      if (done || (page.next !== null && log.comparePositions(page.next, head) >= 0)) break
      position = page.next
    }
    return { enqueued, scanned, truncated }
  }

  /** Starts the dispatcher in this instance: it follows the enabled endpoints it can claim. */
  async start(): Promise<void> {
    this.#open()
    await this.store.ready()
    if (!this.store.capabilities.durable && this.#deps.log.capabilities.durable) {
      this.#deps.logger.warn({ store: this.store.engine }, 'webhook endpoints and their cursors are kept in memory: they are lost at a restart although the event log is durable')
    }
    await this.dispatcher.start()
  }

  /** Stops the dispatcher, storing its cursors and giving its claims up. */
  stop(): Promise<void> {
    return this.dispatcher.stop()
  }

  /** Stops the dispatcher and closes what this instance opened. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.dispatcher.stop()
    this.#agents.destroy()
    if (this.#ownsStore) await this.store.close()
  }

  /** The dispatcher's path: one delivery per (endpoint, event), one job per dedup key. */
  async #dispatch(endpoint: WebhookEndpoint, event: TidingsEvent): Promise<void> {
    const { delivery, created } = await this.store.createDelivery({ id: newEventId(), endpointId: endpoint.id, event, trigger: 'scheduled', at: new Date() })
    if (!created && delivery.jobId !== null) return
    await this.#enqueue(endpoint, delivery, dispatchKey(endpoint.id, event.id))
  }

  async #rerun(endpoint: WebhookEndpoint, d: WebhookDelivery): Promise<WebhookDelivery> {
    const updated = await this.store.updateDelivery(d.id, { status: 'pending', nextTrigger: 'manual', failureReason: null, nextAttemptAt: null, addRuns: 1 }, new Date())
    if (updated === null) throw new TidingsError('TIDINGS_ERR_WEBHOOK_DELIVERY_NOT_FOUND', { detail: `delivery ${d.id}` })
    return this.#enqueue(endpoint, updated, `${dispatchKey(endpoint.id, d.eventId)}:run-${updated.runs}`)
  }

  /**
   * Enqueues a delivery's job with as many attempts as the endpoint's schedule allows (the
   * definition's count is the global schedule's), then records the job on the delivery.
   */
  async #enqueue(endpoint: WebhookEndpoint, delivery: WebhookDelivery, key: string): Promise<WebhookDelivery> {
    const { jobs, queue, jobEvents } = this.#deps
    const maxAttempts = (endpoint.retrySchedule ?? this.#schedule).length + 1
    const prepared = jobs.prepare(this.definition, { deliveryId: delivery.id }, { key, owner: endpoint.tenant === null ? null : { tenant: endpoint.tenant } })
    const { job, created } = await queue.enqueue({ ...prepared, maxAttempts })
    if (created) await jobEvents.queued(job, 'enqueued')
    return (await this.store.updateDelivery(delivery.id, { jobId: job.id }, new Date())) ?? delivery
  }

  /** True while a delivery's job may still attempt it. */
  async #inFlight(d: WebhookDelivery): Promise<boolean> {
    if (d.status !== 'pending') return false
    if (d.jobId === null) return true
    const job = await this.#deps.queue.get(d.jobId)
    return job !== null && !FINISHED_STATUSES.includes(job.status)
  }

  async #checkTarget(url: URL): Promise<void> {
    try {
      await this.guard.check(url)
    } catch (err) {
      if (isTidingsError(err)) throw err
      // A host that does not resolve yet is not refused: every attempt checks again.
      this.#deps.logger.warn({ host: url.hostname, err: (err as Error).message }, 'webhook host does not resolve')
    }
  }

  /** A cursor before every event appended from now on. */
  async #headCursor(): Promise<string | null> {
    const { log } = this.#deps
    const [epoch, head] = await Promise.all([log.epoch(), log.head()])
    if (head !== null) return formatCursor(epoch, head)
    return log.origin === undefined ? null : formatCursor(epoch, log.origin)
  }

  async #require(id: string): Promise<WebhookEndpoint> {
    const e = await this.store.getEndpoint(id)
    if (e === null) throw notFound(id)
    return e
  }

  async #requireEnabled(id: string): Promise<WebhookEndpoint> {
    const e = await this.#require(id)
    if (!e.enabled) throw new TidingsError('TIDINGS_ERR_WEBHOOK_DISABLED', { detail: `endpoint ${id} (${e.health.disabledReason ?? 'manual'})` })
    return e
  }

  async #changed(id: string): Promise<void> {
    try {
      await this.#deps.control.send(ENDPOINT_CHANGED, { id })
    } catch (err) {
      this.#deps.logger.warn({ err, endpoint: id }, 'could not announce a webhook change; dispatchers notice at their next sync')
    }
  }

  #open(): void {
    if (this.#closed) throw new TidingsError('TIDINGS_ERR_CLOSED')
  }
}

/** The dedup key of the dispatcher's delivery of `eventId` to `endpointId`. */
export function dispatchKey(endpointId: string, eventId: string): string {
  return `webhook:${endpointId}:${eventId}`
}

function notFound(id: string): TidingsError {
  return new TidingsError('TIDINGS_ERR_WEBHOOK_NOT_FOUND', { detail: `endpoint ${id}` })
}
