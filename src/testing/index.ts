/**
 * `tidings/testing`: helpers for an application's own tests (seed 004's in-memory sink). A memory
 * Tidings with an event collector to assert on, and a way to run one job's handler inline with a
 * fake context, without a queue or a worker.
 *
 * @packageDocumentation
 */
import { normalizeEvent, type TidingsEvent } from '../core/envelope.js'
import { TidingsError } from '../core/errors.js'
import type { JobOwner, JobProgress } from '../core/job-queue.js'
import type { AnyJobDefinition, JobInput, JobLogLevel } from '../core/jobs/define.js'
import { makeProgress } from '../core/jobs/lifecycle.js'
import type { Published } from '../core/publisher.js'
import type { Subscription } from '../core/subscription.js'
import { createTidings, type Tidings, type TidingsOptions } from '../tidings.js'

/** Default longest wait of {@link EventCollector.waitFor}. */
export const DEFAULT_WAIT_MS = 5_000

/** What an event must be: a type, or a predicate. */
export type EventMatch = string | ((event: TidingsEvent) => boolean)

/** Collects every event an instance's hub sees on the followed channels, in log order. */
export class EventCollector {
  /** Everything collected so far. */
  readonly events: TidingsEvent[] = []
  readonly #subscription: Subscription
  readonly #done: Promise<void>
  #waiters: { match: (e: TidingsEvent) => boolean; count: number; resolve: (e: TidingsEvent) => void }[] = []

  /** Follows `channels` on `tidings` from now on. @defaultValue every channel (`*`) */
  constructor(tidings: Tidings, channels: readonly string[] = ['*']) {
    const subscription = tidings.subscribe(channels)
    this.#subscription = subscription
    this.#done = (async () => {
      for await (const { event } of subscription) {
        this.events.push(event)
        this.#waiters = this.#waiters.filter((w) => {
          if (this.#count(w.match) < w.count) return true
          w.resolve(event)
          return false
        })
      }
    })().catch(() => undefined)
  }

  /** Resolves once the subscription is live (it attaches within the current turn of the event loop). */
  ready(): Promise<void> {
    return new Promise((resolve) => setImmediate(resolve))
  }

  /** Events of a type (or matching a predicate). */
  filter(match: EventMatch): TidingsEvent[] {
    const m = matcher(match)
    return this.events.filter(m)
  }

  /** Events about one job (the envelope's `job.id`), in order. */
  forJob(id: string): TidingsEvent[] {
    return this.events.filter((e) => e.job?.id === id)
  }

  /** The types of the events about one job, in order: `['job.queued', 'job.started', …]`. */
  jobTypes(id: string): string[] {
    return this.forJob(id).map((e) => e.type)
  }

  /**
   * Resolves with the `count`-th matching event once it has arrived; rejects after `timeoutMs`.
   * @defaultValue count 1, timeoutMs {@link DEFAULT_WAIT_MS}
   */
  waitFor(match: EventMatch, options: { count?: number; timeoutMs?: number } = {}): Promise<TidingsEvent> {
    const m = matcher(match)
    const count = options.count ?? 1
    const have = this.events.filter(m)
    if (have.length >= count) return Promise.resolve(have[count - 1]!)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter)
        reject(new Error(`timed out waiting for ${count} event(s) matching ${typeof match === 'string' ? match : 'a predicate'}; have ${this.#count(m)}`))
      }, options.timeoutMs ?? DEFAULT_WAIT_MS)
      const waiter = {
        match: m,
        count,
        resolve: (e: TidingsEvent) => {
          clearTimeout(timer)
          resolve(e)
        },
      }
      this.#waiters.push(waiter)
    })
  }

  /** Waits for a job to finish and returns its final lifecycle event (`job.succeeded`, `job.failed` or `job.cancelled`). */
  waitForJob(id: string, options: { timeoutMs?: number } = {}): Promise<TidingsEvent> {
    return this.waitFor((e) => e.job?.id === id && (e.type === 'job.succeeded' || e.type === 'job.failed' || e.type === 'job.cancelled'), options)
  }

  /** Forgets what was collected. */
  clear(): void {
    this.events.length = 0
  }

  /** Stops collecting. */
  async close(): Promise<void> {
    await this.#subscription.return()
    await this.#done
  }

  #count(m: (e: TidingsEvent) => boolean): number {
    let n = 0
    for (const e of this.events) if (m(e)) n++
    return n
  }
}

function matcher(match: EventMatch): (e: TidingsEvent) => boolean {
  return typeof match === 'string' ? (e) => e.type === match : match
}

/** A memory Tidings with a collector on every channel. */
export interface TestTidings {
  readonly tidings: Tidings
  readonly events: EventCollector
  /** Closes the collector and the instance. */
  close(): Promise<void>
}

/** Creates a memory Tidings (open auth unless given) and starts collecting its events. */
export async function createTestTidings(options: TidingsOptions = {}): Promise<TestTidings> {
  const tidings = createTidings({ auth: { open: true }, ...options })
  await tidings.ready()
  const events = new EventCollector(tidings)
  await events.ready()
  return {
    tidings,
    events,
    async close() {
      await events.close()
      await tidings.close()
    },
  }
}

/** Options of {@link runJobInline}. */
export interface InlineRunOptions<State = unknown> {
  /** `ctx.state`. */
  state?: State
  /** @defaultValue 1 */
  attempt?: number
  owner?: JobOwner | null
  /** @defaultValue a random id */
  id?: string
  /** Abort it to test how the handler reacts to a cancel. */
  signal?: AbortSignal
  /** Aborts the signal after this long, with a `TIDINGS_ERR_JOB_TIMEOUT` reason. @defaultValue the definition's timeout */
  timeoutMs?: number
}

/** What one inline run did. */
export interface InlineRun {
  readonly status: 'succeeded' | 'failed'
  readonly result: unknown
  /** What the handler threw. */
  readonly error: unknown
  readonly progress: JobProgress[]
  readonly logs: { level: JobLogLevel; message: string }[]
  /** Events `ctx.publish` was given, as they would have been published (no log involved). */
  readonly published: TidingsEvent[]
}

/**
 * Runs a definition's handler once, inline, with a fake context that records progress, log lines
 * and published events. The payload is checked against the schema first (throws
 * `TIDINGS_ERR_INVALID_PAYLOAD`); the handler's own failure is reported, not thrown.
 */
export async function runJobInline<D extends AnyJobDefinition>(definition: D, payload: JobInput<D>, options: InlineRunOptions = {}): Promise<InlineRun> {
  const parsed = definition.schema.safeParse(payload)
  if (!parsed.success) throw new TidingsError('TIDINGS_ERR_INVALID_PAYLOAD', { detail: `job ${definition.name}`, details: parsed.error.issues })
  const controller = new AbortController()
  const forward = (): void => controller.abort(options.signal?.reason)
  if (options.signal?.aborted) forward()
  else options.signal?.addEventListener('abort', forward, { once: true })
  const timeoutMs = options.timeoutMs ?? definition.timeoutMs
  const timer = setTimeout(() => controller.abort(new TidingsError('TIDINGS_ERR_JOB_TIMEOUT', { detail: `after ${timeoutMs} ms` })), timeoutMs)
  const id = options.id ?? `inline-${Math.random().toString(36).slice(2)}`
  const progress: JobProgress[] = []
  const logs: InlineRun['logs'] = []
  const published: TidingsEvent[] = []
  const now = new Date()
  try {
    const result = await definition.handler({
      payload: parsed.data,
      state: options.state,
      job: { id, name: definition.name, queue: definition.queue, attempt: options.attempt ?? 1, maxAttempts: definition.maxAttempts, enqueuedAt: now, startedAt: now, owner: options.owner ?? null },
      signal: controller.signal,
      progress: async (current, total, message) => {
        progress.push(makeProgress(current, total, message, new Date()))
      },
      log: async (message, level = 'info') => {
        logs.push({ level, message })
      },
      publish: async (input) => {
        const event = normalizeEvent({
          ...input,
          channels: input.channels ?? [`job:${id}`],
          tenant: input.tenant === undefined ? (options.owner?.tenant ?? null) : input.tenant,
          job: { id, name: definition.name, queue: definition.queue, attempt: options.attempt ?? 1 },
        })
        published.push(event)
        return { id: event.id, position: null, cursor: null, event } satisfies Published
      },
    })
    return { status: 'succeeded', result, error: null, progress, logs, published }
  } catch (error) {
    return { status: 'failed', result: null, error, progress, logs, published }
  } finally {
    clearTimeout(timer)
    options.signal?.removeEventListener('abort', forward)
  }
}
