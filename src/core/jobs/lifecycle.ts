/**
 * Lifecycle events of jobs (DESIGN §4): `job.queued|started|progress|log|succeeded|failed|retrying|cancelled`
 * on `job:{id}`, `queue:{name}` and the owner's `user:{id}` with the owner's tenant, the envelope's
 * `job` field filled in, published strict. Also how a thrown value becomes a stored {@link JobError}.
 */
import { isTidingsError } from '../errors.js'
import type { EventJobRef, PublishInput } from '../envelope.js'
import type { JobError, JobOwner, JobProgress, JobRecord } from '../job-queue.js'
import type { Published, Publisher } from '../publisher.js'
import type { JobLogLevel } from './define.js'

/** Every lifecycle event type. */
export const JOB_EVENT_TYPES = ['job.queued', 'job.started', 'job.progress', 'job.log', 'job.succeeded', 'job.failed', 'job.retrying', 'job.cancelled'] as const

/** A lifecycle event type. */
export type JobEventType = (typeof JOB_EVENT_TYPES)[number]

/** Longest stack kept on a record. */
const MAX_STACK_CHARS = 4_000
/** Longest error message kept on a record. */
const MAX_ERROR_MESSAGE_CHARS = 2_000

/** The `data` of each lifecycle event type. */
export interface JobEventData {
  'job.queued': { name: string; queue: string; priority: number; runAt: string; delayed: boolean; reason: 'enqueued' | 'retried' | 'released'; schedule: string | null }
  'job.started': { attempt: number; maxAttempts: number; workerId: string }
  'job.progress': { current: number; total: number | null; percent: number | null; message: string | null }
  'job.log': { level: JobLogLevel; message: string; sequence: number }
  'job.succeeded': { result: unknown; attempt: number; durationMs: number | null }
  'job.failed': { error: JobError; attempts: number; durationMs: number | null }
  'job.retrying': { error: JobError; attempt: number; retryAt: string; delayMs: number }
  'job.cancelled': { attempts: number; running: boolean }
}

/** The channels a job's lifecycle goes to. */
export function jobChannels(job: { id: string; queue: string; owner: JobOwner | null }): string[] {
  const channels = [`job:${job.id}`, `queue:${job.queue}`]
  if (job.owner?.user) channels.push(`user:${job.owner.user}`)
  return channels
}

/** The envelope's `job` field for a record at an attempt. */
export function jobRef(job: Pick<JobRecord, 'id' | 'name' | 'queue'>, attempt: number): EventJobRef {
  return { id: job.id, name: job.name, queue: job.queue, attempt }
}

/** The publishing side of lifecycle events. */
export class JobEvents {
  readonly #publisher: Publisher

  constructor(publisher: Publisher) {
    this.#publisher = publisher
  }

  /** Publishes one lifecycle event about `job` (strict: rejects when the log does not take it). */
  publish<T extends JobEventType>(job: Pick<JobRecord, 'id' | 'name' | 'queue' | 'owner'>, attempt: number, type: T, data: JobEventData[T]): Promise<Published> {
    return this.publishRaw(job, attempt, { type, channels: jobChannels(job), data })
  }

  /** Publishes an event about `job` with the job field and owner tenant filled in (for `ctx.publish`). */
  async publishRaw(job: Pick<JobRecord, 'id' | 'name' | 'queue' | 'owner'>, attempt: number, input: Omit<PublishInput, 'job'>): Promise<Published> {
    const [published] = await this.#publisher.publish(
      { ...input, tenant: input.tenant === undefined ? (job.owner?.tenant ?? null) : input.tenant, job: jobRef(job, attempt) },
      { mode: 'strict' },
    )
    return published!
  }

  /** `job.queued` for a record just stored. */
  queued(job: JobRecord, reason: JobEventData['job.queued']['reason'], schedule: string | null = null): Promise<Published> {
    return this.publish(job, job.attempts, 'job.queued', {
      name: job.name,
      queue: job.queue,
      priority: job.priority,
      runAt: job.runAt,
      delayed: job.status === 'delayed',
      reason,
      schedule,
    })
  }
}

/** Progress as stored and published: percent derived from current and total. */
export function makeProgress(current: number, total: number | undefined, message: string | undefined, at: Date): JobProgress {
  const t = total ?? null
  const percent = t !== null && t > 0 ? Math.max(0, Math.min(100, Math.round((current / t) * 1000) / 10)) : null
  return { current, total: t, percent, message: message ?? null, at: at.toISOString() }
}

/** What is stored about a thrown value: its message, its code (a Tidings code or the error's own), its stack. */
export function toJobError(err: unknown): JobError {
  if (err instanceof Error) {
    const own = (err as { code?: unknown }).code
    const code = isTidingsError(err) ? err.code : typeof own === 'string' || typeof own === 'number' ? String(own) : null
    return {
      message: err.message.slice(0, MAX_ERROR_MESSAGE_CHARS),
      code,
      stack: err.stack === undefined ? null : err.stack.slice(0, MAX_STACK_CHARS),
    }
  }
  return { message: String(err).slice(0, MAX_ERROR_MESSAGE_CHARS), code: null, stack: null }
}
