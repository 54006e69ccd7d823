/**
 * `defineJob`: a named, schema-checked unit of work with its retry, backoff, timeout, queue and
 * priority settings, and the context its handler runs with.
 */
import type { z } from 'zod'
import { EVENT_TYPE_RE, ID_RE, type PublishInput } from '../envelope.js'
import { TidingsError } from '../errors.js'
import type { JobOwner } from '../job-queue.js'
import type { Published } from '../publisher.js'
import { assertBackoff, DEFAULT_BACKOFF, type Backoff } from './backoff.js'

/** Default retries after the first attempt (seed 002): a job runs at most 4 times. */
export const DEFAULT_JOB_RETRIES = 3
/** Default longest attempt: 300 s (seed 002). */
export const DEFAULT_JOB_TIMEOUT_MS = 300_000
/** Default queue. */
export const DEFAULT_QUEUE = 'default'
/** Default priority; higher runs first. */
export const DEFAULT_PRIORITY = 0
/** Lowest priority. */
export const MIN_PRIORITY = -1000
/** Highest priority. */
export const MAX_PRIORITY = 1000
/** Most retries a definition may ask for. */
export const MAX_JOB_RETRIES = 1000

/** Marks the objects `defineJob` makes, so a module loader can tell them from anything else. */
export const JOB_DEFINITION: unique symbol = Symbol.for('tidings.jobDefinition')

/** Levels of `ctx.log`. */
export type JobLogLevel = 'debug' | 'info' | 'warn' | 'error'

/** What a handler knows about the job it runs. */
export interface JobInfo {
  readonly id: string
  readonly name: string
  readonly queue: string
  /** This attempt, 1-based. */
  readonly attempt: number
  readonly maxAttempts: number
  readonly enqueuedAt: Date
  readonly startedAt: Date
  readonly owner: JobOwner | null
}

/** An event a handler publishes: channels default to `job:{id}`, the tenant to the owner's; `job` is filled in. */
export type JobEventInput = Omit<PublishInput, 'job' | 'channels'> & { channels?: string[] }

/** The context a handler runs with. */
export interface JobContext<Payload = unknown, State = unknown> {
  /** The payload, parsed by the definition's schema. */
  readonly payload: Payload
  /** What the worker's `onStartup` returned (a database pool, a client), shared by every job it runs. */
  readonly state: State
  readonly job: JobInfo
  /** Aborts on cancel (from any process), on timeout, and when the worker loses the lease or shuts down. */
  readonly signal: AbortSignal
  /** Records progress on the job and publishes `job.progress`. */
  progress(current: number, total?: number, message?: string): Promise<void>
  /** Publishes a `job.log` line. @defaultValue level `info` */
  log(message: string, level?: JobLogLevel): Promise<void>
  /** Publishes the application's own event about this job. */
  publish(event: JobEventInput): Promise<Published>
}

/** What `defineJob` takes. */
export interface JobSpec<S extends z.ZodType, Result, State> {
  /** Dotted words, like `videos.transcode`. */
  name: string
  /** zod schema of the payload: checked at enqueue and again before the handler runs. */
  schema: S
  /** Retries after a failed attempt. @defaultValue {@link DEFAULT_JOB_RETRIES} */
  retries?: number
  /** Delay before each retry. @defaultValue exponential with full jitter from 1 s ({@link DEFAULT_BACKOFF}) */
  backoff?: Backoff
  /** Longest attempt in milliseconds; past it the signal aborts and the attempt fails. @defaultValue {@link DEFAULT_JOB_TIMEOUT_MS} */
  timeout?: number
  /** @defaultValue {@link DEFAULT_QUEUE} */
  queue?: string
  /** Default priority of its jobs; higher runs first. @defaultValue {@link DEFAULT_PRIORITY} */
  priority?: number
  /** The work. Its resolved value (JSON) becomes the record's `result`; a throw fails the attempt. */
  handler(ctx: JobContext<z.output<S>, State>): Promise<Result> | Result
}

/** A job definition: the spec with every default applied. */
export interface JobDefinition<Input = unknown, Payload = unknown, Result = unknown, State = unknown> {
  readonly [JOB_DEFINITION]: true
  readonly name: string
  readonly schema: z.ZodType<Payload, Input>
  readonly retries: number
  /** `retries + 1`. */
  readonly maxAttempts: number
  readonly backoff: Backoff
  readonly timeoutMs: number
  readonly queue: string
  readonly priority: number
  handler(ctx: JobContext<Payload, State>): Promise<Result> | Result
}

/** Any job definition, whatever its types. */
export type AnyJobDefinition = JobDefinition<unknown, unknown, unknown, unknown>

/** The payload type a definition accepts at enqueue. */
export type JobInput<D> = D extends JobDefinition<infer I, infer _P, infer _R, infer _S> ? I : never

/**
 * Payload types by job name, for `enqueue(name, payload)`. Empty here; an application adds its own
 * jobs by declaration merging:
 *
 * ```ts
 * declare module 'tidings' {
 *   interface JobPayloads { 'videos.transcode': { videoId: string } }
 * }
 * ```
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface JobPayloads {}

/** The payload `enqueue(name, …)` takes: the merged type for a known name, else anything (checked at run time). */
export type PayloadOf<N extends string> = N extends keyof JobPayloads ? JobPayloads[N] : unknown

/** Defines a job. Throws `TIDINGS_ERR_INVALID_JOB_DEFINITION` for a bad field. */
export function defineJob<S extends z.ZodType, Result = unknown, State = unknown>(
  spec: JobSpec<S, Result, State>,
): JobDefinition<z.input<S>, z.output<S>, Result, State> {
  const bad = (detail: string): never => {
    throw new TidingsError('TIDINGS_ERR_INVALID_JOB_DEFINITION', { detail: `job ${JSON.stringify(spec.name)}: ${detail}` })
  }
  if (typeof spec.name !== 'string' || !EVENT_TYPE_RE.test(spec.name)) bad('name must be dotted words of [A-Za-z0-9_-], like videos.transcode')
  if (spec.schema === null || typeof spec.schema !== 'object' || typeof spec.schema.safeParse !== 'function') bad('schema must be a zod schema')
  if (typeof spec.handler !== 'function') bad('handler must be a function')
  const retries = spec.retries ?? DEFAULT_JOB_RETRIES
  if (!Number.isInteger(retries) || retries < 0 || retries > MAX_JOB_RETRIES) bad(`retries must be an integer from 0 to ${MAX_JOB_RETRIES}`)
  const timeoutMs = spec.timeout ?? DEFAULT_JOB_TIMEOUT_MS
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > 2 ** 31 - 1) bad('timeout must be a positive number of milliseconds below 2^31')
  const queue = spec.queue ?? DEFAULT_QUEUE
  if (typeof queue !== 'string' || !ID_RE.test(queue)) bad('queue must be 1–128 characters of [A-Za-z0-9._:@-]')
  const priority = spec.priority ?? DEFAULT_PRIORITY
  if (!Number.isInteger(priority) || priority < MIN_PRIORITY || priority > MAX_PRIORITY) bad(`priority must be an integer from ${MIN_PRIORITY} to ${MAX_PRIORITY}`)
  const backoff = spec.backoff ?? DEFAULT_BACKOFF
  assertBackoff(backoff, spec.name)
  const handler = spec.handler
  return Object.freeze({
    [JOB_DEFINITION]: true as const,
    name: spec.name,
    schema: spec.schema as z.ZodType<z.output<S>, z.input<S>>,
    retries,
    maxAttempts: retries + 1,
    backoff,
    timeoutMs,
    queue,
    priority,
    handler: (ctx: JobContext<z.output<S>, State>) => handler(ctx),
  })
}

/** True when `value` is a definition `defineJob` made. */
export function isJobDefinition(value: unknown): value is AnyJobDefinition {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[JOB_DEFINITION] === true
}
