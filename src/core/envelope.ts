/**
 * The event envelope (DESIGN §4): the one JSON shape every event has on the wire, its input forms
 * (camelCase, and seed 000's snake_case) and their normalisation.
 */
import { randomFillSync } from 'node:crypto'
import { v7 as uuidv7 } from 'uuid'
import { z } from 'zod'
import { TidingsError } from './errors.js'

/** Envelope schema version written into every event. */
export const SCHEMA_VERSION = 1
/** Default largest serialised envelope, in bytes. */
export const DEFAULT_MAX_EVENT_BYTES = 64 * 1024
/** Most channels one event may name. */
export const MAX_CHANNELS_PER_EVENT = 32

/** Characters a channel name may use; `*` is added for patterns. */
export const CHANNEL_RE = /^[A-Za-z0-9._:@/+=-]{1,200}$/
/** A channel pattern: a channel name in which `*` matches any run of characters. */
export const CHANNEL_PATTERN_RE = /^[A-Za-z0-9._:@/+=*-]{1,200}$/
/** Event types are dotted words: `job.progress`, `provider.token.expiring`. */
export const EVENT_TYPE_RE = /^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,15}$/
/** Event ids (the dedup key) and tenants: safe in URLs, headers and SSE fields. */
export const ID_RE = /^[A-Za-z0-9._:@-]{1,128}$/

/** Job context carried by job lifecycle events. */
export interface EventJobRef {
  id: string
  name: string
  queue: string
  attempt: number
}

/** A normalised event, as stored in the log and sent to clients. Null fields are always present. */
export interface TidingsEvent {
  id: string
  schemaVersion: number
  type: string
  channels: string[]
  tenant: string | null
  key: string | null
  occurredAt: string
  data: unknown
  job: EventJobRef | null
  traceparent: string | null
}

const channelSchema = z.string().regex(CHANNEL_RE, 'invalid channel name: 1–200 characters of [A-Za-z0-9._:@/+=-]')
const jsonValue: z.ZodType<unknown> = z.unknown()

const jobRefSchema = z.strictObject({
  id: z.string().regex(ID_RE),
  name: z.string().regex(EVENT_TYPE_RE),
  queue: z.string().regex(ID_RE),
  attempt: z.number().int().min(0),
})

/** What a publisher sends in camelCase form; `id`, `occurredAt` and the null fields are optional. */
export const publishInputSchema = z.strictObject({
  id: z.string().regex(ID_RE, 'id must be 1–128 characters of [A-Za-z0-9._:@-]').optional(),
  schemaVersion: z.literal(SCHEMA_VERSION).optional(),
  type: z.string().regex(EVENT_TYPE_RE, 'type must be dotted words of [A-Za-z0-9_-], like job.progress'),
  channels: z.array(channelSchema).min(1, 'an event needs at least one channel').max(MAX_CHANNELS_PER_EVENT),
  tenant: z.string().regex(ID_RE, 'tenant must be 1–128 characters of [A-Za-z0-9._:@-]').nullable().optional(),
  key: z.string().min(1).max(256).nullable().optional(),
  occurredAt: z.iso.datetime({ offset: true }).optional(),
  data: jsonValue.optional(),
  job: jobRefSchema.nullable().optional(),
  traceparent: z.string().max(256).nullable().optional(),
})

/** Seed 000's snake_case form: `user_id` becomes channel `user:{user_id}`. */
export const snakeInputSchema = z.strictObject({
  event_id: z.string().regex(ID_RE, 'event_id must be 1–128 characters of [A-Za-z0-9._:@-]').optional(),
  event_type: z.string().regex(EVENT_TYPE_RE, 'event_type must be dotted words of [A-Za-z0-9_-]'),
  user_id: z.string().regex(ID_RE, 'user_id must be 1–128 characters of [A-Za-z0-9._:@-]'),
  data: jsonValue.optional(),
  occurred_at: z.iso.datetime({ offset: true }).optional(),
})

/** The camelCase publish input. */
export type PublishInput = z.input<typeof publishInputSchema>
/** Seed 000's snake_case input. */
export type SnakeCaseInput = z.input<typeof snakeInputSchema>
/** Anything `publish` accepts for one event. */
export type EventInput = PublishInput | SnakeCaseInput

/** Options for {@link normalizeEvent}. */
export interface NormalizeOptions {
  /** Largest serialised envelope in bytes. @defaultValue {@link DEFAULT_MAX_EVENT_BYTES} */
  maxEventBytes?: number
  /** Clock, for tests. */
  now?: () => Date
}

function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ')
}

/**
 * Validates one event in either input form and returns the normalised envelope.
 * Throws `TIDINGS_ERR_INVALID_EVENT`, `TIDINGS_ERR_INVALID_CHANNEL` or `TIDINGS_ERR_EVENT_TOO_LARGE`.
 */
export function normalizeEvent(input: unknown, options: NormalizeOptions = {}): TidingsEvent {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new TidingsError('TIDINGS_ERR_INVALID_EVENT', { detail: 'an event must be a JSON object' })
  }
  const now = options.now ?? (() => new Date())
  let event: TidingsEvent
  if ('event_type' in input || 'user_id' in input || 'event_id' in input) {
    const parsed = snakeInputSchema.safeParse(input)
    if (!parsed.success) throw invalid(parsed.error)
    const s = parsed.data
    event = {
      id: s.event_id ?? newEventId(),
      schemaVersion: SCHEMA_VERSION,
      type: s.event_type,
      channels: [`user:${s.user_id}`],
      tenant: null,
      key: null,
      occurredAt: toIso(s.occurred_at, now),
      data: s.data ?? null,
      job: null,
      traceparent: null,
    }
  } else {
    let p = fastPublishInput(input as Record<string, unknown>)
    if (p === null) {
      const parsed = publishInputSchema.safeParse(input)
      if (!parsed.success) throw invalid(parsed.error)
      p = parsed.data
    }
    event = {
      id: p.id ?? newEventId(),
      schemaVersion: SCHEMA_VERSION,
      type: p.type,
      channels: [...new Set(p.channels)],
      tenant: p.tenant ?? null,
      key: p.key ?? null,
      occurredAt: toIso(p.occurredAt, now),
      data: p.data ?? null,
      job: p.job ?? null,
      traceparent: p.traceparent ?? null,
    }
  }
  const max = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES
  const json = serializeEvent(event)
  // Every character takes at least one byte and at most three (UTF-16 to UTF-8), so most events need no count.
  const size = json.length * 3 <= max ? json.length : Buffer.byteLength(json)
  if (size > max) {
    throw new TidingsError('TIDINGS_ERR_EVENT_TOO_LARGE', { detail: `event ${event.id} is ${size} bytes, the limit is ${max}` })
  }
  serialized.set(event, json)
  return event
}

/** The keys {@link publishInputSchema} allows, for the fast path. */
const PUBLISH_INPUT_KEYS = new Set(['id', 'schemaVersion', 'type', 'channels', 'tenant', 'key', 'occurredAt', 'data', 'job', 'traceparent'])
const JOB_REF_KEYS = new Set(['id', 'name', 'queue', 'attempt'])

/**
 * The camelCase input checked by hand, for the common case that holds no surprise: returns it when
 * {@link publishInputSchema} would certainly accept it as it is, null when in any doubt (then the
 * schema decides and words the error). Never accepts what the schema rejects — a unit test holds
 * the two side by side. Worth it because every job lifecycle event passes here: zod's general
 * object walk was a tenth of a busy worker's CPU.
 */
export function fastPublishInput(input: Record<string, unknown>): z.output<typeof publishInputSchema> | null {
  for (const k in input) if (!PUBLISH_INPUT_KEYS.has(k)) return null
  const { id, schemaVersion, type, channels, tenant, key, occurredAt, job, traceparent } = input
  if (id !== undefined && !(typeof id === 'string' && ID_RE.test(id))) return null
  if (schemaVersion !== undefined && schemaVersion !== SCHEMA_VERSION) return null
  if (!(typeof type === 'string' && EVENT_TYPE_RE.test(type))) return null
  if (!Array.isArray(channels) || channels.length < 1 || channels.length > MAX_CHANNELS_PER_EVENT) return null
  for (const c of channels) if (!(typeof c === 'string' && CHANNEL_RE.test(c))) return null
  if (tenant !== undefined && tenant !== null && !(typeof tenant === 'string' && ID_RE.test(tenant))) return null
  if (key !== undefined && key !== null && !(typeof key === 'string' && key.length >= 1 && key.length <= 256)) return null
  // Datetimes have many accepted forms: the schema judges those.
  if (occurredAt !== undefined) return null
  if (traceparent !== undefined && traceparent !== null && !(typeof traceparent === 'string' && traceparent.length <= 256)) return null
  if (job !== undefined && job !== null) {
    if (typeof job !== 'object' || Array.isArray(job)) return null
    for (const k in job) if (!JOB_REF_KEYS.has(k)) return null
    const j = job as Record<string, unknown>
    if (!(typeof j.id === 'string' && ID_RE.test(j.id))) return null
    if (!(typeof j.name === 'string' && EVENT_TYPE_RE.test(j.name))) return null
    if (!(typeof j.queue === 'string' && ID_RE.test(j.queue))) return null
    if (!(typeof j.attempt === 'number' && Number.isSafeInteger(j.attempt) && j.attempt >= 0)) return null
    // A copy, as the schema would make: the envelope must not change with the caller's object.
    return { ...(input as z.output<typeof publishInputSchema>), job: { id: j.id, name: j.name, queue: j.queue, attempt: j.attempt } }
  }
  return input as z.output<typeof publishInputSchema>
}

function invalid(error: z.ZodError): TidingsError {
  const channelIssue = error.issues.some((i) => i.path[0] === 'channels' && i.path.length === 2)
  return new TidingsError(channelIssue ? 'TIDINGS_ERR_INVALID_CHANNEL' : 'TIDINGS_ERR_INVALID_EVENT', {
    detail: formatIssues(error.issues),
    details: error.issues.map((i) => ({ path: i.path.map(String), message: i.message })),
  })
}

function toIso(value: string | undefined, now: () => Date): string {
  return value === undefined ? now().toISOString() : new Date(value).toISOString()
}

/**
 * The JSON of envelopes {@link normalizeEvent} made, so the engine that stores one does not
 * serialise it a second time. Envelopes are not changed after normalisation.
 */
const serialized = new WeakMap<TidingsEvent, string>()

/** The envelope's canonical JSON (fixed key order, null fields present, one line). */
export function serializeEvent(e: TidingsEvent): string {
  const known = serialized.get(e)
  if (known !== undefined) return known
  return JSON.stringify({
    id: e.id,
    schemaVersion: e.schemaVersion,
    type: e.type,
    channels: e.channels,
    tenant: e.tenant,
    key: e.key,
    occurredAt: e.occurredAt,
    data: e.data,
    job: e.job,
    traceparent: e.traceparent,
  })
}

/** Throws `TIDINGS_ERR_INVALID_CHANNEL` unless `name` is a valid channel (or, with `allowPattern`, pattern). */
export function assertChannel(name: string, allowPattern = false): void {
  const re = allowPattern ? CHANNEL_PATTERN_RE : CHANNEL_RE
  if (!re.test(name)) {
    throw new TidingsError('TIDINGS_ERR_INVALID_CHANNEL', { detail: `channel ${JSON.stringify(name.slice(0, 60))} is not valid` })
  }
}

/** A new UUIDv7 (time-ordered, monotonic within this process) id. */
export function newEventId(): string {
  const random = pooledRandom()
  const now = Date.now()
  // uuid keeps its monotonic counter only when it draws its own randomness, so with pooled bytes
  // the counter is kept here, the way uuid's v7 keeps it: a random start each millisecond, +1 after.
  if (now > v7Msecs) {
    v7Msecs = now
    v7Seq = (((random[6]! & 0x7f) << 24) | (random[7]! << 16) | (random[8]! << 8) | random[9]!) >>> 0
  } else {
    v7Seq = (v7Seq + 1) | 0
    if (v7Seq === 0) v7Msecs++
  }
  return uuidv7({ random, msecs: v7Msecs, seq: v7Seq })
}

let v7Msecs = -Infinity
let v7Seq = 0

// One getRandomValues call per 256 ids instead of one per id: ids are made on every publish and
// several times per job, and the per-call cost dominated uuid's own work.
const RANDOM_POOL = new Uint8Array(16 * 256)
let poolOffset = RANDOM_POOL.length
function pooledRandom(): Uint8Array {
  if (poolOffset === RANDOM_POOL.length) {
    randomFillSync(RANDOM_POOL)
    poolOffset = 0
  }
  poolOffset += 16
  return RANDOM_POOL.subarray(poolOffset - 16, poolOffset)
}

/** `occurredAt` as {@link normalizeEvent} writes it: `Date.prototype.toISOString()` in UTC. */
const CANONICAL_TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const ENVELOPE_KEYS = 10

function isJobRef(v: unknown): v is EventJobRef {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false
  const j = v as Record<string, unknown>
  return (
    Object.keys(j).length === 4 &&
    typeof j.id === 'string' && ID_RE.test(j.id) &&
    typeof j.name === 'string' && EVENT_TYPE_RE.test(j.name) &&
    typeof j.queue === 'string' && ID_RE.test(j.queue) &&
    typeof j.attempt === 'number' && Number.isInteger(j.attempt) && j.attempt >= 0
  )
}

/**
 * True when `value` is already a normalised envelope, exactly as {@link normalizeEvent} returns it:
 * the ten fields, valid values, no others. Engines use it on what they read back from storage, a
 * fast path that spares the schema validation of events Tidings itself wrote; anything else goes
 * through {@link normalizeEvent}.
 */
export function isEnvelope(value: unknown): value is TidingsEvent {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const e = value as Record<string, unknown>
  if (Object.keys(e).length !== ENVELOPE_KEYS || !('data' in e)) return false
  const channels = e.channels
  if (!Array.isArray(channels) || channels.length < 1 || channels.length > MAX_CHANNELS_PER_EVENT) return false
  for (const c of channels) if (typeof c !== 'string' || !CHANNEL_RE.test(c)) return false
  if (channels.length > 1 && new Set(channels).size !== channels.length) return false
  return (
    typeof e.id === 'string' && ID_RE.test(e.id) &&
    e.schemaVersion === SCHEMA_VERSION &&
    typeof e.type === 'string' && EVENT_TYPE_RE.test(e.type) &&
    (e.tenant === null || (typeof e.tenant === 'string' && ID_RE.test(e.tenant))) &&
    (e.key === null || (typeof e.key === 'string' && e.key.length >= 1 && e.key.length <= 256)) &&
    typeof e.occurredAt === 'string' && CANONICAL_TIME_RE.test(e.occurredAt) &&
    (e.job === null || isJobRef(e.job)) &&
    (e.traceparent === null || (typeof e.traceparent === 'string' && e.traceparent.length <= 256))
  )
}
