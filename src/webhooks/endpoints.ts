/**
 * Webhook endpoints: what one is (URL, event-type patterns, channel filters, tenant, secrets,
 * headers, rate limit, retry schedule, health), how an API caller describes one, how that input is
 * checked, and which events an endpoint receives.
 */
import { z } from 'zod'
import { channelMatches, ChannelMatcher } from '../core/channels.js'
import { CHANNEL_PATTERN_RE, ID_RE, type TidingsEvent } from '../core/envelope.js'
import { TidingsError } from '../core/errors.js'
import { assertRetrySchedule, MAX_RETRY_DELAY_SEC, MAX_RETRY_SCHEDULE_LENGTH } from './retry.js'
import { secretKey } from './signing.js'

/** Longest endpoint URL. */
export const MAX_URL_CHARS = 2048
/** Most event-type patterns per endpoint. */
export const MAX_EVENT_TYPES = 100
/** Most channel filters per endpoint. */
export const MAX_ENDPOINT_CHANNELS = 100
/** Most custom headers per endpoint. */
export const MAX_CUSTOM_HEADERS = 20
/** Longest custom header value. */
export const MAX_HEADER_VALUE_CHARS = 1024
/** Highest rate limit, in attempts per second. */
export const MAX_RATE_LIMIT = 10_000
/** An event-type pattern: dotted words in which `*` matches any run of characters (`order.*`, `*`). */
export const EVENT_TYPE_PATTERN_RE = /^[A-Za-z0-9_*-]{1,64}(\.[A-Za-z0-9_*-]{1,64}){0,15}$/
/** Headers an endpoint may not set: the ones a delivery is made of. */
export const RESERVED_HEADERS: readonly string[] = Object.freeze([
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
  'content-type',
  'content-length',
  'host',
  'connection',
  'transfer-encoding',
  'user-agent',
])

/** Why an endpoint stopped receiving: turned off by a caller, answered 410 Gone, or failed for too long. */
export type DisabledReason = 'manual' | 'gone' | 'failing'

/** How an endpoint is doing, for the dashboard and the API. */
export interface EndpointHealth {
  readonly lastSuccessAt: string | null
  readonly lastFailureAt: string | null
  /** Status of the latest attempt; 0 when it got no answer. */
  readonly lastStatus: number | null
  /** Failed attempts since the last success. */
  readonly failureStreak: number
  /** The first failure since the last success; an endpoint failing for `disableAfterDays` is disabled. */
  readonly failingSince: string | null
  readonly disabledAt: string | null
  readonly disabledReason: DisabledReason | null
}

/** A signing secret; older ones stay valid until `expiresAt` after a rotation. */
export interface EndpointSecret {
  readonly secret: string
  readonly createdAt: string
  /** Null for the current secret. */
  readonly expiresAt: string | null
}

/** An endpoint as stored. */
export interface WebhookEndpoint {
  readonly id: string
  readonly url: string
  /** Event-type patterns (`order.*`); an event is sent when its type matches one. */
  readonly eventTypes: readonly string[]
  /** Channel names or patterns; null = every channel. */
  readonly channels: readonly string[] | null
  /** A tenant's endpoint receives only events of that tenant; null = events without a tenant. */
  readonly tenant: string | null
  /** Extra headers sent with every delivery. */
  readonly headers: Readonly<Record<string, string>>
  /** Most attempts per second, per delivering process; null = no limit. */
  readonly rateLimit: number | null
  readonly enabled: boolean
  /** Seconds before each retry; null = the global schedule. */
  readonly retrySchedule: readonly number[] | null
  /** Current secret first. */
  readonly secrets: readonly EndpointSecret[]
  /** How far in the log the dispatcher has enqueued deliveries for this endpoint. */
  readonly cursor: string | null
  readonly health: EndpointHealth
  readonly createdAt: string
  readonly updatedAt: string
  /** Increases on every change of the configuration; the dispatcher restarts a follower when it moves. */
  readonly revision: number
}

/** An endpoint as the API shows it: everything but the secrets. */
export type WebhookEndpointView = Omit<WebhookEndpoint, 'secrets'> & {
  /** When the last of the previous secrets (still signing during a rotation) expires; null when none is left. */
  readonly previousSecretsExpireAt: string | null
}

/** What a caller gives to create an endpoint. */
export interface EndpointInput {
  /** An absolute `http:` or `https:` URL, without credentials. */
  url: string
  /** Event-type patterns, like `order.*`; `*` for every type. */
  eventTypes: string[]
  /** Channel names or `*` patterns the event must be on. @defaultValue every channel */
  channels?: string[] | null
  /** `whsec_` and the base64 of 24–64 bytes. @defaultValue a new random secret */
  secret?: string
  /** @defaultValue none (the caller's tenant over HTTP) */
  tenant?: string | null
  /** Extra headers for every delivery. @defaultValue none */
  headers?: Record<string, string>
  /** Most attempts per second. @defaultValue no limit */
  rateLimit?: number | null
  /** @defaultValue true */
  enabled?: boolean
  /** Seconds before each retry. @defaultValue the global schedule */
  retrySchedule?: number[] | null
}

/** A change to an endpoint; absent fields keep their value. */
export type EndpointPatch = Partial<Omit<EndpointInput, 'secret' | 'tenant'>>

const headersSchema = z
  .record(z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/, 'header names are HTTP tokens'), z.string().max(MAX_HEADER_VALUE_CHARS).regex(/^[\t\x20-\x7e\x80-\uffff]*$/, 'header values are one line of text'))
  .refine((h) => Object.keys(h).length <= MAX_CUSTOM_HEADERS, `at most ${MAX_CUSTOM_HEADERS} headers`)
  .refine((h) => Object.keys(h).every((k) => !RESERVED_HEADERS.includes(k.toLowerCase())), `these headers are set by Tidings: ${RESERVED_HEADERS.join(', ')}`)

const fields = {
  url: z.string().max(MAX_URL_CHARS),
  eventTypes: z.array(z.string().regex(EVENT_TYPE_PATTERN_RE, 'an event-type pattern is dotted words of [A-Za-z0-9_-] and *, like order.*')).min(1).max(MAX_EVENT_TYPES),
  channels: z.array(z.string().regex(CHANNEL_PATTERN_RE, 'a channel is 1–200 characters of [A-Za-z0-9._:@/+=-], patterns may use *')).min(1).max(MAX_ENDPOINT_CHANNELS).nullable(),
  secret: z.string().max(200),
  tenant: z.string().regex(ID_RE, 'tenant must be 1–128 characters of [A-Za-z0-9._:@-]').nullable(),
  headers: headersSchema,
  rateLimit: z.int().min(1).max(MAX_RATE_LIMIT).nullable(),
  enabled: z.boolean(),
  retrySchedule: z.array(z.number().min(0).max(MAX_RETRY_DELAY_SEC)).max(MAX_RETRY_SCHEDULE_LENGTH).nullable(),
}

/** The body of `POST /v1/webhooks`. */
export const endpointInputSchema = z.strictObject({
  url: fields.url,
  eventTypes: fields.eventTypes,
  channels: fields.channels.optional(),
  secret: fields.secret.optional(),
  tenant: fields.tenant.optional(),
  headers: fields.headers.optional(),
  rateLimit: fields.rateLimit.optional(),
  enabled: fields.enabled.optional(),
  retrySchedule: fields.retrySchedule.optional(),
})

/** The body of `PATCH /v1/webhooks/:id`. */
export const endpointPatchSchema = z.strictObject({
  url: fields.url.optional(),
  eventTypes: fields.eventTypes.optional(),
  channels: fields.channels.optional(),
  headers: fields.headers.optional(),
  rateLimit: fields.rateLimit.optional(),
  enabled: fields.enabled.optional(),
  retrySchedule: fields.retrySchedule.optional(),
})

/** Parses with `schema`, throwing `TIDINGS_ERR_INVALID_WEBHOOK` (or `…_SECRET` for the secret) with every issue. */
export function parseEndpointBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body)
  if (r.success) return r.data
  const onlySecret = r.error.issues.every((i) => i.path[0] === 'secret')
  throw new TidingsError(onlySecret ? 'TIDINGS_ERR_INVALID_WEBHOOK_SECRET' : 'TIDINGS_ERR_INVALID_WEBHOOK', {
    detail: r.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
      .join('; '),
    details: r.error.issues.map((i) => ({ path: i.path.map(String), message: i.message })),
  })
}

/** Checks an endpoint URL's syntax and returns it parsed. Throws `TIDINGS_ERR_INVALID_WEBHOOK`. */
export function parseEndpointUrl(url: string): URL {
  const bad = (detail: string): never => {
    throw new TidingsError('TIDINGS_ERR_INVALID_WEBHOOK', { detail: `url: ${detail}` })
  }
  let u: URL
  try {
    u = new URL(url)
  } catch {
    return bad(`${JSON.stringify(String(url).slice(0, 100))} is not an absolute URL`)
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') bad('only http: and https: URLs can receive webhooks')
  if (u.username !== '' || u.password !== '') bad('credentials in the URL would show in the attempt log; send them in headers instead')
  if (u.hostname === '') bad('the URL has no host')
  u.hash = ''
  return u
}

/** Checks a whole input (the library path; HTTP bodies pass {@link endpointInputSchema} first). */
export function validateEndpointInput(input: EndpointInput): EndpointInput {
  const parsed = parseEndpointBody(endpointInputSchema, input)
  if (parsed.secret !== undefined) secretKey(parsed.secret)
  if (parsed.retrySchedule !== undefined && parsed.retrySchedule !== null) assertRetrySchedule(parsed.retrySchedule)
  parseEndpointUrl(parsed.url)
  return parsed
}

/** Checks a patch. */
export function validateEndpointPatch(patch: EndpointPatch): EndpointPatch {
  const parsed = parseEndpointBody(endpointPatchSchema, patch)
  if (parsed.url !== undefined) parseEndpointUrl(parsed.url)
  return parsed
}

/** Health of a new endpoint. */
export const NEW_HEALTH: EndpointHealth = Object.freeze({
  lastSuccessAt: null,
  lastFailureAt: null,
  lastStatus: null,
  failureStreak: 0,
  failingSince: null,
  disabledAt: null,
  disabledReason: null,
})

/** The API's view of an endpoint. */
export function endpointView(e: WebhookEndpoint): WebhookEndpointView {
  const { secrets, ...rest } = e
  const previous = secrets.filter((s) => s.expiresAt !== null).map((s) => s.expiresAt!)
  return { ...rest, previousSecretsExpireAt: previous.length === 0 ? null : previous.sort().at(-1)! }
}

/** The secrets that sign at `now`: the current one and previous ones not yet expired. */
export function liveSecrets(e: Pick<WebhookEndpoint, 'secrets'>, now: Date = new Date()): string[] {
  const t = now.toISOString()
  return e.secrets.filter((s) => s.expiresAt === null || s.expiresAt > t).map((s) => s.secret)
}

/** Decides which events an endpoint receives. */
export class EndpointFilter {
  readonly #types: readonly string[]
  readonly #channels: ChannelMatcher | null
  readonly #tenant: string | null
  readonly #endpointId: string
  readonly #deliveryJob: string

  /** `deliveryJob` is the name of the delivery job, whose own lifecycle events are never delivered. */
  constructor(endpoint: Pick<WebhookEndpoint, 'id' | 'eventTypes' | 'channels' | 'tenant'>, deliveryJob: string) {
    this.#types = endpoint.eventTypes
    this.#channels = endpoint.channels === null ? null : ChannelMatcher.of(endpoint.channels)
    this.#tenant = endpoint.tenant
    this.#endpointId = endpoint.id
    this.#deliveryJob = deliveryJob
  }

  /**
   * True when `event` goes to this endpoint: its type matches a pattern, it is on a matching
   * channel, its tenant is the endpoint's (tenant endpoints never see other tenants' or untenanted
   * events), and it is not Tidings' own plumbing — control events, the delivery jobs' lifecycle,
   * or a `webhook.*` event about this very endpoint (which would feed itself).
   */
  matches(event: TidingsEvent): boolean {
    if (event.tenant !== this.#tenant) return false
    if (event.type.startsWith('tidings.') || event.job?.name === this.#deliveryJob) return false
    if (event.channels.some((c) => c.startsWith('control:'))) return false
    if (event.type.startsWith('webhook.') && (event.data as { endpointId?: unknown } | null)?.endpointId === this.#endpointId) return false
    if (!this.#types.some((p) => channelMatches(p, event.type))) return false
    return this.#channels === null || this.#channels.matchesAny(event.channels)
  }
}
