/**
 * The producer side of jobs: enqueue (schema-checked, delayed, prioritised, deduplicated, owned),
 * cancel from any process, retry, and reading records. Workers and the scheduler are separate.
 */
import { newEventId, ID_RE } from '../envelope.js'
import { TidingsError } from '../errors.js'
import type { CancelResult, JobFilter, JobOwner, JobPage, JobQueue, JobRecord, NewJob, PageRequest } from '../job-queue.js'
import type { Logger } from '../logger.js'
import { CANCEL_REQUESTED, type ControlFeed } from './control.js'
import { MAX_PRIORITY, MIN_PRIORITY, type AnyJobDefinition } from './define.js'
import type { JobEvents } from './lifecycle.js'
import type { JobRegistry } from './registry.js'

/** Longest dedup key. */
export const MAX_JOB_KEY_CHARS = 256
/** Default page size of job lists. */
export const DEFAULT_JOB_PAGE = 50
/** Largest page of job lists. */
export const MAX_JOB_PAGE = 500
/** Longest delay: about 24.8 days, the most a timer can wait. */
export const MAX_DELAY_MS = 2 ** 31 - 1

/** Options of one enqueue. */
export interface EnqueueOptions {
  /** Run no sooner than this many milliseconds from now. */
  delay?: number
  /** Run no sooner than this time (a Date or an ISO 8601 string); not with `delay`. */
  runAt?: Date | string
  /** @defaultValue the definition's priority */
  priority?: number
  /** Dedup key: while a record with this key is retained, enqueueing again returns that job. */
  key?: string
  /** Whose job it is: its events also go to `user:{user}` with this tenant. @defaultValue none */
  owner?: { user?: string | null; tenant?: string | null } | null
}

/** What an enqueue did. */
export interface Enqueued {
  readonly id: string
  readonly job: JobRecord
  /** False when the key matched a retained job: nothing new was stored and no event published. */
  readonly created: boolean
}

/** Dependencies of {@link Jobs}. */
export interface JobsDeps {
  readonly queue: JobQueue
  readonly registry: JobRegistry
  readonly events: JobEvents
  readonly control: ControlFeed
  readonly logger: Logger
}

/** Enqueue, cancel, retry and read jobs. */
export class Jobs {
  readonly #deps: JobsDeps

  constructor(deps: JobsDeps) {
    this.#deps = deps
  }

  /**
   * Checks the payload against the definition's schema and the options, stores the job and
   * publishes `job.queued`. Throws `TIDINGS_ERR_UNKNOWN_JOB`, `TIDINGS_ERR_INVALID_PAYLOAD` or
   * `TIDINGS_ERR_INVALID_JOB_OPTIONS`; nothing is stored then.
   */
  async enqueue(job: string | AnyJobDefinition, payload: unknown, options: EnqueueOptions = {}): Promise<Enqueued> {
    const definition = typeof job === 'string' ? this.#deps.registry.require(job) : job
    const record = this.prepare(definition, payload, options)
    const { job: stored, created } = await this.#deps.queue.enqueue(record)
    if (created) await this.#deps.events.queued(stored, 'enqueued')
    return { id: stored.id, job: stored, created }
  }

  /** Validates an enqueue and builds the record to store, without storing it. */
  prepare(definition: AnyJobDefinition, payload: unknown, options: EnqueueOptions = {}, now = new Date()): NewJob {
    const parsed = definition.schema.safeParse(payload)
    if (!parsed.success) {
      throw new TidingsError('TIDINGS_ERR_INVALID_PAYLOAD', {
        detail: `job ${definition.name}: ${parsed.error.issues
          .slice(0, 5)
          .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
          .join('; ')}`,
        details: parsed.error.issues.map((i) => ({ path: i.path.map(String), message: i.message })),
      })
    }
    let stored: unknown
    try {
      stored = payload === undefined ? null : JSON.parse(JSON.stringify(payload))
    } catch (err) {
      throw new TidingsError('TIDINGS_ERR_INVALID_PAYLOAD', { detail: `job ${definition.name}: the payload is not JSON`, cause: err })
    }
    const bad = (detail: string): never => {
      throw new TidingsError('TIDINGS_ERR_INVALID_JOB_OPTIONS', { detail })
    }
    let runAt = now
    if (options.delay !== undefined && options.runAt !== undefined) bad('give delay or runAt, not both')
    if (options.delay !== undefined) {
      if (typeof options.delay !== 'number' || !Number.isFinite(options.delay) || options.delay < 0 || options.delay > MAX_DELAY_MS) {
        bad(`delay must be a number of milliseconds from 0 to ${MAX_DELAY_MS}`)
      }
      runAt = new Date(now.getTime() + Math.round(options.delay))
    }
    if (options.runAt !== undefined) {
      const t = options.runAt instanceof Date ? options.runAt : typeof options.runAt === 'string' ? new Date(options.runAt) : new Date(NaN)
      if (Number.isNaN(t.getTime())) bad('runAt must be a Date or an ISO 8601 time')
      runAt = t.getTime() < now.getTime() ? now : t
    }
    const priority = options.priority ?? definition.priority
    if (!Number.isInteger(priority) || priority < MIN_PRIORITY || priority > MAX_PRIORITY) {
      bad(`priority must be an integer from ${MIN_PRIORITY} to ${MAX_PRIORITY}`)
    }
    const key = options.key ?? null
    if (key !== null && (typeof key !== 'string' || key.length === 0 || key.length > MAX_JOB_KEY_CHARS)) bad(`key must be 1–${MAX_JOB_KEY_CHARS} characters`)
    return {
      id: newEventId(),
      name: definition.name,
      queue: definition.queue,
      payload: stored,
      priority,
      key,
      owner: ownerOf(options.owner),
      maxAttempts: definition.maxAttempts,
      enqueuedAt: now,
      runAt,
    }
  }

  /**
   * Cancels a job from any process. A waiting job ends `cancelled` at once (and `job.cancelled` is
   * published); for a running one the request goes through the event log to the worker holding it,
   * whose signal fires; the record ends `cancelled` when that worker confirms. A finished job is
   * left alone (`outcome: 'finished'`). Throws `TIDINGS_ERR_JOB_NOT_FOUND`.
   */
  async cancel(id: string): Promise<CancelResult> {
    const result = await this.#deps.queue.cancel(id)
    if (result === null) throw new TidingsError('TIDINGS_ERR_JOB_NOT_FOUND', { detail: `job ${id}` })
    if (result.outcome === 'cancelled') {
      await this.#deps.events.publish(result.job, result.job.attempts, 'job.cancelled', { attempts: result.job.attempts, running: false })
    } else if (result.outcome === 'requested') {
      await this.#deps.control.send(CANCEL_REQUESTED, { id, workerId: result.job.workerId })
    }
    return result
  }

  /**
   * Queues a failed or cancelled job again with a fresh attempt count and publishes `job.queued`.
   * Throws `TIDINGS_ERR_JOB_NOT_FOUND` or `TIDINGS_ERR_JOB_NOT_RETRYABLE`.
   */
  async retry(id: string, options: { delay?: number } = {}): Promise<JobRecord> {
    const delay = options.delay ?? 0
    if (!Number.isFinite(delay) || delay < 0 || delay > MAX_DELAY_MS) {
      throw new TidingsError('TIDINGS_ERR_INVALID_JOB_OPTIONS', { detail: `delay must be a number of milliseconds from 0 to ${MAX_DELAY_MS}` })
    }
    const job = await this.#deps.queue.retry(id, new Date(Date.now() + delay))
    await this.#deps.events.queued(job, 'retried')
    return job
  }

  /** One record, or null. */
  get(id: string): Promise<JobRecord | null> {
    return this.#deps.queue.get(id)
  }

  /** Records, newest first. @defaultValue page size {@link DEFAULT_JOB_PAGE} */
  list(filter: JobFilter = {}, page: Partial<PageRequest> = {}): Promise<JobPage> {
    const limit = page.limit ?? DEFAULT_JOB_PAGE
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_JOB_PAGE) {
      throw new TidingsError('TIDINGS_ERR_INVALID_QUERY', { detail: `limit must be an integer from 1 to ${MAX_JOB_PAGE}` })
    }
    return this.#deps.queue.list(filter, { limit, cursor: page.cursor ?? null })
  }
}

function ownerOf(owner: EnqueueOptions['owner']): JobOwner | null {
  if (owner === undefined || owner === null) return null
  const user = owner.user ?? null
  const tenant = owner.tenant ?? null
  for (const [field, v] of [['owner.user', user], ['owner.tenant', tenant]] as const) {
    if (v !== null && (typeof v !== 'string' || !ID_RE.test(v))) {
      throw new TidingsError('TIDINGS_ERR_INVALID_JOB_OPTIONS', { detail: `${field} must be 1–128 characters of [A-Za-z0-9._:@-]` })
    }
  }
  return user === null && tenant === null ? null : { user, tenant }
}
