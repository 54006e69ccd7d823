/**
 * The delivery job: each (endpoint, event) delivery is one job with its own retries, so a failing
 * event never blocks the next. An attempt signs the event's bytes, sends them, logs the attempt,
 * updates the endpoint's health and decides what comes next: done (2xx), another attempt on the
 * endpoint's schedule, or an end — exhausted (`webhook.exhausted`), 410 Gone or failing for too long
 * (the endpoint is disabled, `webhook.endpoint.disabled`).
 *
 * The runtime's backoff sees only `(attempt, error)`, while the delay depends on the endpoint's
 * schedule and on the answer (`Retry-After`, 429/502/504). So the handler works the delay out and
 * states it at the start of the error it throws; the definition's backoff reads it back from there,
 * and falls back to the global schedule for any other error.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { z } from 'zod'
import { newEventId, serializeEvent } from '../core/envelope.js'
import { TidingsError } from '../core/errors.js'
import type { CustomBackoff } from '../core/jobs/backoff.js'
import { defineJob, type JobContext, type JobDefinition } from '../core/jobs/define.js'
import type { Logger } from '../core/logger.js'
import type { Publisher } from '../core/publisher.js'
import { attemptDelivery, type AttemptResult, type DeliveryAgents } from './delivery.js'
import { liveSecrets, type DisabledReason, type WebhookEndpoint } from './endpoints.js'
import { nextDelayMs } from './retry.js'
import { signedHeaders } from './signing.js'
import type { TargetGuard } from './ssrf.js'
import type { WebhookStore } from './store.js'

/** The name of the delivery job. */
export const WEBHOOK_DELIVERY_JOB = 'webhooks.deliver'
/** The queue delivery jobs run on. */
export const WEBHOOK_QUEUE = 'webhooks'
/** Time a delivery job may take beyond the attempt's own timeout (waiting for its rate limit). */
export const DELIVERY_JOB_SLACK_MS = 60_000
/** The `User-Agent` of deliveries. */
export const WEBHOOK_USER_AGENT = 'Tidings-Webhooks/1'

const HINT_RE = /^next attempt in (\d+) ms/

/** The payload of a delivery job. */
export interface DeliveryPayload {
  readonly deliveryId: string
}

/** What a delivery job reports when it ends without an exception. */
export interface DeliveryOutcome {
  readonly delivered: boolean
  /** Why it was not: `gone`, `endpoint disabled`, `exhausted`, `deleted`. */
  readonly reason: string | null
  readonly status: number | null
}

/** Spaces attempts to one endpoint, per process. */
export class RateGate {
  readonly #next = new Map<string, number>()

  /** Waits for the endpoint's next slot under `perSecond`; at once without a limit. */
  async take(key: string, perSecond: number | null, signal: AbortSignal): Promise<void> {
    if (perSecond === null) return
    const now = Date.now()
    const slot = Math.max(now, this.#next.get(key) ?? 0)
    this.#next.set(key, slot + 1000 / perSecond)
    if (slot > now) await sleep(slot - now, undefined, { signal })
  }
}

/** What the delivery job needs. */
export interface DeliveryJobDeps {
  readonly store: WebhookStore
  readonly publisher: Publisher
  readonly logger: Logger
  readonly guard: TargetGuard
  readonly agents: DeliveryAgents
  readonly rate: RateGate
  /** The global retry schedule (seconds). */
  readonly schedule: readonly number[]
  readonly timeoutMs: number
  /** An endpoint failing for this long is disabled. */
  readonly disableAfterMs: number
}

/** The backoff of the delivery job: the delay the handler stated, else the global schedule. */
export function deliveryBackoff(schedule: readonly number[]): CustomBackoff {
  return (attempt, error) => {
    const hint = error.code === 'TIDINGS_ERR_WEBHOOK_ATTEMPT_FAILED' ? HINT_RE.exec(error.message) : null
    if (hint !== null) return Number(hint[1])
    return nextDelayMs(schedule, attempt, { status: 0, retryAfterMs: null }) ?? 0
  }
}

/** Defines the delivery job. */
export function defineDeliveryJob(deps: DeliveryJobDeps): JobDefinition<DeliveryPayload, DeliveryPayload, DeliveryOutcome> {
  return defineJob({
    name: WEBHOOK_DELIVERY_JOB,
    queue: WEBHOOK_QUEUE,
    schema: z.object({ deliveryId: z.string().min(1).max(128) }),
    retries: deps.schedule.length,
    backoff: deliveryBackoff(deps.schedule),
    timeout: deps.timeoutMs + DELIVERY_JOB_SLACK_MS,
    handler: (ctx) => deliver(deps, ctx),
  })
}

/** One way an attempt went, in words for the attempt log and the job record. */
function describe(url: string, r: AttemptResult): string {
  return r.status === 0 ? `no answer from ${url}: ${r.error ?? 'connection closed'}` : `HTTP ${r.status} from ${url}`
}

async function deliver(deps: DeliveryJobDeps, ctx: JobContext<DeliveryPayload>): Promise<DeliveryOutcome> {
  const { store } = deps
  const delivery = await store.getDelivery(ctx.payload.deliveryId)
  const endpoint = delivery === null ? null : await store.getEndpoint(delivery.endpointId)
  if (delivery === null || endpoint === null) return { delivered: false, reason: 'deleted', status: null }
  if (!endpoint.enabled) {
    await store.updateDelivery(delivery.id, { status: 'failed', failureReason: 'endpoint disabled', nextAttemptAt: null }, new Date())
    return { delivered: false, reason: 'endpoint disabled', status: null }
  }
  await deps.rate.take(endpoint.id, endpoint.rateLimit, ctx.signal)

  const body = Buffer.from(serializeEvent(delivery.event))
  const at = new Date()
  const headers = {
    ...endpoint.headers,
    'content-type': 'application/json',
    'user-agent': WEBHOOK_USER_AGENT,
    ...signedHeaders(liveSecrets(endpoint, at), delivery.eventId, body, at),
  }
  const result = await attemptDelivery({ url: new URL(endpoint.url), body, headers, timeoutMs: deps.timeoutMs, guard: deps.guard, agents: deps.agents, signal: ctx.signal })
  // Stopped from outside (shutdown, cancel): the job goes back or ends without this attempt counting.
  if (ctx.signal.aborted && (result.status < 200 || result.status > 299)) throw ctx.signal.reason

  const ok = result.status >= 200 && result.status <= 299
  const health = await store.recordOutcome(endpoint.id, { ok, status: result.status, at })
  const log = (change: Parameters<WebhookStore['recordAttempt']>[1]) =>
    store.recordAttempt(
      {
        id: newEventId(),
        deliveryId: delivery.id,
        endpointId: endpoint.id,
        eventId: delivery.eventId,
        at: at.toISOString(),
        url: endpoint.url,
        status: result.status,
        durationMs: result.durationMs,
        responseBody: result.responseBody,
        error: result.error,
        trigger: delivery.nextTrigger,
      },
      { lastStatus: result.status, lastAttemptAt: at.toISOString(), nextTrigger: 'scheduled', ...change },
    )

  if (ok) {
    await log({ status: 'succeeded', nextAttemptAt: null, failureReason: null })
    return { delivered: true, reason: null, status: result.status }
  }
  const failingFor = health === null || health.failingSince === null ? 0 : at.getTime() - Date.parse(health.failingSince)
  const end = result.status === 410 ? 'gone' : failingFor >= deps.disableAfterMs ? 'failing' : null
  if (end !== null) {
    await log({ status: 'failed', nextAttemptAt: null, failureReason: end === 'gone' ? 'gone' : 'endpoint disabled' })
    await disable(deps, endpoint, end, at, result)
    return { delivered: false, reason: end === 'gone' ? 'gone' : 'endpoint disabled', status: result.status }
  }
  const last = ctx.job.attempt >= ctx.job.maxAttempts
  const delay = last ? null : nextDelayMs(endpoint.retrySchedule ?? deps.schedule, ctx.job.attempt, result)
  if (delay === null) {
    const logged = await log({ status: 'failed', nextAttemptAt: null, failureReason: 'exhausted' })
    await announce(deps, endpoint, 'webhook.exhausted', {
      endpointId: endpoint.id,
      deliveryId: delivery.id,
      eventId: delivery.eventId,
      eventType: delivery.eventType,
      attempts: logged?.delivery.attempts ?? null,
      lastStatus: result.status,
      url: endpoint.url,
    })
    // The job fails only on its own last attempt; a schedule shortened since it was enqueued ends it here instead.
    if (last) throw new TidingsError('TIDINGS_ERR_WEBHOOK_ATTEMPT_FAILED', { detail: `no attempt left: ${describe(endpoint.url, result)}` })
    return { delivered: false, reason: 'exhausted', status: result.status }
  }
  await log({ status: 'pending', nextAttemptAt: new Date(at.getTime() + delay).toISOString() })
  throw new TidingsError('TIDINGS_ERR_WEBHOOK_ATTEMPT_FAILED', { detail: `next attempt in ${delay} ms: ${describe(endpoint.url, result)}` })
}

async function disable(deps: DeliveryJobDeps, endpoint: WebhookEndpoint, reason: DisabledReason, at: Date, result: AttemptResult): Promise<void> {
  const disabled = await deps.store.disableEndpoint(endpoint.id, reason, at)
  if (disabled === null) return
  deps.logger.warn({ endpoint: endpoint.id, reason, status: result.status }, 'webhook endpoint disabled')
  await announce(deps, disabled, 'webhook.endpoint.disabled', {
    endpointId: endpoint.id,
    url: endpoint.url,
    reason,
    lastStatus: result.status,
    failingSince: disabled.health.failingSince,
  })
}

/** Publishes a `webhook.*` event on `webhook:{id}` with the endpoint's tenant; a log failure is logged, not thrown. */
export async function announce(deps: Pick<DeliveryJobDeps, 'publisher' | 'logger'>, endpoint: Pick<WebhookEndpoint, 'id' | 'tenant'>, type: string, data: Record<string, unknown>): Promise<void> {
  try {
    await deps.publisher.publish({ type, channels: [`webhook:${endpoint.id}`], tenant: endpoint.tenant, data }, { mode: 'strict' })
  } catch (err) {
    deps.logger.error({ err, endpoint: endpoint.id, type }, 'could not publish a webhook event')
  }
}
