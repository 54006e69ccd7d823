/**
 * The worker: leases jobs, runs their handlers with a context, keeps the leases alive with
 * heartbeats, enforces timeouts, honours cancels from any process, records each attempt's outcome
 * and publishes the lifecycle. Graceful shutdown stops leasing, lets running jobs finish within a
 * grace period and gives the rest back to the queue.
 */
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { TidingsError, isTidingsError, type ErrorCode } from '../errors.js'
import type { JobError, JobLease, JobQueue, LeaseResult } from '../job-queue.js'
import type { Logger } from '../logger.js'
import type { Publisher } from '../publisher.js'
import { retryDelay } from './backoff.js'
import { CANCEL_REQUESTED, type ControlFeed } from './control.js'
import type { AnyJobDefinition, JobContext, JobLogLevel } from './define.js'
import { makeProgress, toJobError, type JobEvents } from './lifecycle.js'
import type { JobRegistry } from './registry.js'

/** Default heartbeat interval: a dead worker's job runs again within two of these. */
export const DEFAULT_JOB_HEARTBEAT_MS = 5_000
/** Default lease length, in heartbeat intervals: long enough to survive one late heartbeat, short enough to recover within two. */
export const DEFAULT_LEASE_HEARTBEATS = 1.5
/** Default jobs run at once by one worker. */
export const DEFAULT_WORKER_CONCURRENCY = 1
/** Default longest idle wait before asking the queue again (engines without wake-ups rely on it). */
export const DEFAULT_WORKER_POLL_MS = 1_000
/** Default time running jobs get to finish on shutdown before they are given back. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000
/** Most jobs one worker may run at once. */
export const MAX_WORKER_CONCURRENCY = 10_000

/** Where a worker is in its life. */
export type WorkerState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped'

/** Settings of a worker. */
export interface WorkerOptions<State = unknown> {
  /** Channel-safe id; events go to `worker:{id}`. @defaultValue `<host>-<pid>-<random>` */
  id?: string
  /** Queues to take jobs from. @defaultValue the queues of the definitions it runs */
  queues?: string[]
  /** Definitions to run. @defaultValue every definition of the Tidings instance, looked up at each lease */
  jobs?: readonly AnyJobDefinition[]
  /** Jobs run at once. @defaultValue {@link DEFAULT_WORKER_CONCURRENCY} */
  concurrency?: number
  /** @defaultValue {@link DEFAULT_JOB_HEARTBEAT_MS} */
  heartbeatMs?: number
  /** Lease length; must exceed `heartbeatMs`. @defaultValue `heartbeatMs` × {@link DEFAULT_LEASE_HEARTBEATS} */
  leaseMs?: number
  /** @defaultValue {@link DEFAULT_WORKER_POLL_MS} */
  pollMs?: number
  /** @defaultValue {@link DEFAULT_SHUTDOWN_GRACE_MS} */
  shutdownGraceMs?: number
  /** Builds the state every handler gets as `ctx.state` (a database pool, a client). */
  onStartup?: () => Promise<State> | State
  /** Releases what `onStartup` built, after the last job. */
  onShutdown?: (state: State) => Promise<void> | void
}

/** What a worker needs from its Tidings instance. */
export interface WorkerDeps {
  readonly queue: JobQueue
  readonly registry: JobRegistry
  readonly events: JobEvents
  readonly publisher: Publisher
  readonly control: ControlFeed
  readonly logger: Logger
}

/** Why an attempt's signal fired. */
type Ending = 'cancel' | 'timeout' | 'lost' | 'shutdown' | 'crash'

const ENDING_CODES: Record<Ending, ErrorCode> = {
  cancel: 'TIDINGS_ERR_JOB_CANCELLED',
  timeout: 'TIDINGS_ERR_JOB_TIMEOUT',
  lost: 'TIDINGS_ERR_JOB_LEASE_LOST',
  shutdown: 'TIDINGS_ERR_WORKER_SHUTDOWN',
  crash: 'TIDINGS_ERR_WORKER_SHUTDOWN',
}

interface Attempt {
  readonly lease: JobLease
  readonly definition: AnyJobDefinition
  readonly controller: AbortController
  ending: Ending | null
  done: Promise<void>
}

type Outcome = { readonly kind: 'ok'; readonly value: unknown } | { readonly kind: 'error'; readonly error: unknown } | { readonly kind: 'aborted' }

/** Runs jobs. Create it with `tidings.startWorker(options)`. */
export class Worker<State = unknown> {
  readonly id: string
  readonly #deps: WorkerDeps
  readonly #options: WorkerOptions<State>
  readonly #concurrency: number
  readonly #heartbeatMs: number
  readonly #leaseMs: number
  readonly #pollMs: number
  readonly #graceMs: number
  readonly #logger: Logger
  #state: WorkerState = 'idle'
  #userState: State | undefined
  readonly #active = new Map<string, Attempt>()
  /** Handlers that have not settled yet: they hold a concurrency slot even after their outcome is recorded. */
  #busy = 0
  #slotFreed: (() => void) | null = null
  readonly #loopAbort = new AbortController()
  #loop: Promise<void> | undefined
  #heartbeat: NodeJS.Timeout | undefined
  #beating = false
  #offCancel: (() => void) | undefined
  #stopping: Promise<void> | undefined

  constructor(deps: WorkerDeps, options: WorkerOptions<State> = {}) {
    this.#deps = deps
    this.#options = options
    this.id = options.id ?? defaultWorkerId()
    this.#concurrency = options.concurrency ?? DEFAULT_WORKER_CONCURRENCY
    this.#heartbeatMs = options.heartbeatMs ?? DEFAULT_JOB_HEARTBEAT_MS
    this.#leaseMs = options.leaseMs ?? Math.round(this.#heartbeatMs * DEFAULT_LEASE_HEARTBEATS)
    this.#pollMs = options.pollMs ?? DEFAULT_WORKER_POLL_MS
    this.#graceMs = options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS
    this.#logger = deps.logger.child({ worker: this.id })
    const bad = (detail: string): never => {
      throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: `worker: ${detail}` })
    }
    if (!/^[A-Za-z0-9._:@-]{1,128}$/.test(this.id)) bad('id must be 1–128 characters of [A-Za-z0-9._:@-]')
    if (!Number.isInteger(this.#concurrency) || this.#concurrency < 1 || this.#concurrency > MAX_WORKER_CONCURRENCY) bad(`concurrency must be an integer from 1 to ${MAX_WORKER_CONCURRENCY}`)
    for (const [k, v] of [['heartbeatMs', this.#heartbeatMs], ['leaseMs', this.#leaseMs], ['pollMs', this.#pollMs]] as const) {
      if (!Number.isFinite(v) || v < 1) bad(`${k} must be a positive number of milliseconds`)
    }
    if (this.#leaseMs <= this.#heartbeatMs) bad('leaseMs must be longer than heartbeatMs')
    if (!Number.isFinite(this.#graceMs) || this.#graceMs < 0) bad('shutdownGraceMs must be a number ≥ 0')
  }

  /** Where the worker is in its life. */
  get state(): WorkerState {
    return this.#state
  }

  /** Jobs whose outcome is not recorded yet. */
  get running(): number {
    return this.#active.size
  }

  /** Runs `onStartup`, then starts leasing and publishes `worker.started` on `worker:{id}`. */
  async start(): Promise<void> {
    if (this.#state !== 'idle') throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: `worker ${this.id} was already started` })
    this.#state = 'starting'
    try {
      this.#userState = this.#options.onStartup ? await this.#options.onStartup() : undefined
    } catch (err) {
      this.#state = 'stopped'
      throw err
    }
    this.#offCancel = this.#deps.control.on(CANCEL_REQUESTED, (event) => {
      const id = (event.data as { id?: unknown } | null)?.id
      const attempt = typeof id === 'string' ? this.#active.get(id) : undefined
      if (attempt !== undefined) this.#abort(attempt, 'cancel')
    })
    this.#heartbeat = setInterval(() => void this.#beat(), this.#heartbeatMs)
    this.#heartbeat.unref()
    this.#state = 'running'
    this.#loop = this.#run()
    await this.#announce('worker.started')
  }

  /**
   * Stops gracefully: no new leases; running jobs get `graceMs` to finish, then their signals abort
   * and they go back to the queue (without counting the attempt); `onShutdown` runs last.
   * @defaultValue graceMs the worker's `shutdownGraceMs`
   */
  stop(graceMs: number = this.#graceMs): Promise<void> {
    if (this.#state === 'idle') {
      this.#state = 'stopped'
      return Promise.resolve()
    }
    this.#stopping ??= this.#stop(graceMs)
    return this.#stopping
  }

  /**
   * For tests: stops as if the process had died — no more leases, no heartbeats, nothing recorded
   * or published; running handlers see their signal abort. Their jobs run again elsewhere once the
   * leases expire.
   */
  simulateCrash(): void {
    this.#state = 'stopped'
    this.#loopAbort.abort()
    clearInterval(this.#heartbeat)
    this.#offCancel?.()
    this.#wakeLoop()
    for (const a of this.#active.values()) this.#abort(a, 'crash')
  }

  async #stop(graceMs: number): Promise<void> {
    if (this.#state === 'stopped') return
    this.#state = 'stopping'
    this.#loopAbort.abort()
    this.#wakeLoop()
    await this.#loop
    if (this.#active.size > 0) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        Promise.allSettled([...this.#active.values()].map((a) => a.done)),
        new Promise((resolve) => (timer = setTimeout(resolve, graceMs))),
      ])
      clearTimeout(timer)
      for (const a of this.#active.values()) this.#abort(a, 'shutdown')
      await Promise.allSettled([...this.#active.values()].map((a) => a.done))
    }
    clearInterval(this.#heartbeat)
    this.#offCancel?.()
    try {
      await this.#options.onShutdown?.(this.#userState as State)
    } catch (err) {
      this.#logger.error({ err }, 'worker onShutdown failed')
    }
    await this.#announce('worker.stopped')
    this.#state = 'stopped'
  }

  /** The definitions this worker runs right now, by name, limited to its queues. */
  #definitions(): Map<string, AnyJobDefinition> {
    const all = this.#options.jobs ?? this.#deps.registry.all()
    const queues = this.#options.queues
    return new Map(all.filter((d) => queues === undefined || queues.includes(d.queue)).map((d) => [d.name, d]))
  }

  async #run(): Promise<void> {
    const signal = this.#loopAbort.signal
    while (this.#state === 'running') {
      if (this.#busy >= this.#concurrency) {
        await new Promise<void>((resolve) => (this.#slotFreed = resolve))
        // Handlers that end in the same turn free their slots together: one lease call for all of them.
        await new Promise<void>((resolve) => setImmediate(resolve))
        continue
      }
      const definitions = this.#definitions()
      const names = [...definitions.keys()]
      const queues = this.#options.queues ?? [...new Set([...definitions.values()].map((d) => d.queue))]
      let result: LeaseResult = { leases: [], lost: [] }
      if (names.length > 0 && queues.length > 0) {
        try {
          result = await this.#deps.queue.lease({ queues, names, workerId: this.id, leaseMs: this.#leaseMs, limit: this.#concurrency - this.#busy })
        } catch (err) {
          this.#logger.warn({ err }, 'lease failed; trying again')
          await sleep(this.#pollMs, undefined, { signal }).catch(() => undefined)
          continue
        }
      }
      for (const job of result.lost) {
        this.#deps.events
          .publish(job, job.attempts, 'job.failed', { error: job.error!, attempts: job.attempts, durationMs: job.durationMs })
          .catch((err: unknown) => this.#logger.error({ err, job: job.id }, 'could not publish job.failed'))
      }
      if (this.#state !== 'running') {
        // Stopped while the lease was in flight: a stopping worker gives the jobs back; a crashed one just vanishes.
        if (this.#state === 'stopping') for (const lease of result.leases) await this.#giveBack(lease)
        return
      }
      for (const lease of result.leases) this.#begin(lease, definitions.get(lease.job.name)!)
      if (result.leases.length === 0) {
        await this.#deps.queue.waitForJobs({ queues, names }, Math.min(this.#pollMs, this.#heartbeatMs / 2), signal).catch(() => undefined)
      }
    }
  }

  #wakeLoop(): void {
    const w = this.#slotFreed
    this.#slotFreed = null
    w?.()
  }

  #begin(lease: JobLease, definition: AnyJobDefinition): void {
    const attempt: Attempt = { lease, definition, controller: new AbortController(), ending: null, done: Promise.resolve() }
    this.#active.set(lease.id, attempt)
    this.#busy++
    attempt.done = this.#execute(attempt)
      .catch((err: unknown) => this.#logger.error({ err, job: lease.id }, 'job attempt bookkeeping failed'))
      .finally(() => this.#active.delete(lease.id))
  }

  #abort(attempt: Attempt, ending: Ending): void {
    if (attempt.ending !== null) return
    attempt.ending = ending
    const detail = ending === 'timeout' ? `job ${attempt.lease.job.name} ran past its timeout of ${attempt.definition.timeoutMs} ms` : `job ${attempt.lease.id}`
    attempt.controller.abort(new TidingsError(ENDING_CODES[ending], { detail }))
  }

  async #execute(attempt: Attempt): Promise<void> {
    const { lease, definition, controller } = attempt
    const job = lease.job
    let slotHeld = true
    const freeSlot = (): void => {
      if (!slotHeld) return
      slotHeld = false
      this.#busy--
      this.#wakeLoop()
    }
    // Not awaited: the handler starts at once. Every later event of this attempt (progress, logs,
    // the outcome) goes through the same publisher, which appends in call order, so job.started
    // still comes first in the log.
    this.#deps.events
      .publish(job, lease.attempt, 'job.started', { attempt: lease.attempt, maxAttempts: job.maxAttempts, workerId: this.id })
      .catch((err: unknown) => this.#logger.error({ err, job: job.id }, 'could not publish job.started'))
    const parsed = definition.schema.safeParse(job.payload)
    if (!parsed.success) {
      freeSlot()
      const err = new TidingsError('TIDINGS_ERR_INVALID_PAYLOAD', { detail: `job ${job.name}: the stored payload no longer matches the schema` })
      await this.#record(attempt, () => this.#failure(attempt, toJobError(err), false))
      return
    }
    const timer = setTimeout(() => this.#abort(attempt, 'timeout'), definition.timeoutMs)
    const ctx = this.#context(attempt, parsed.data)
    const handler = Promise.resolve().then(() => definition.handler(ctx))
    handler.then(freeSlot, freeSlot)
    const aborted = new Promise<Outcome>((resolve) => {
      if (controller.signal.aborted) resolve({ kind: 'aborted' })
      else controller.signal.addEventListener('abort', () => resolve({ kind: 'aborted' }), { once: true })
    })
    const outcome = await Promise.race([handler.then((value): Outcome => ({ kind: 'ok', value }), (error: unknown): Outcome => ({ kind: 'error', error })), aborted])
    clearTimeout(timer)
    switch (attempt.ending) {
      case null:
        if (outcome.kind === 'ok') await this.#record(attempt, () => this.#success(attempt, outcome.value))
        else if (outcome.kind === 'error') await this.#record(attempt, () => this.#failure(attempt, toJobError(outcome.error), true))
        return
      case 'timeout':
        await this.#record(attempt, () => this.#failure(attempt, toJobError(controller.signal.reason), true))
        return
      case 'cancel':
        await this.#record(attempt, async () => {
          const rec = await this.#deps.queue.confirmCancel(lease)
          await this.#deps.events.publish(rec, lease.attempt, 'job.cancelled', { attempts: rec.attempts, running: true })
        })
        return
      case 'shutdown':
        await this.#giveBack(lease)
        return
      case 'lost':
        this.#logger.warn({ job: job.id }, 'lost the lease of a running job; another worker may run it')
        return
      case 'crash':
        return
    }
  }

  #context(attempt: Attempt, payload: unknown): JobContext<unknown, unknown> {
    const { lease, controller } = attempt
    const job = lease.job
    const events = this.#deps.events
    let sequence = 0
    return {
      payload,
      state: this.#userState,
      job: {
        id: job.id,
        name: job.name,
        queue: job.queue,
        attempt: lease.attempt,
        maxAttempts: job.maxAttempts,
        enqueuedAt: new Date(job.enqueuedAt),
        startedAt: new Date(job.startedAt!),
        owner: job.owner,
      },
      signal: controller.signal,
      progress: async (current: number, total?: number, message?: string) => {
        if (!Number.isFinite(current) || (total !== undefined && !Number.isFinite(total))) {
          throw new TidingsError('TIDINGS_ERR_INVALID_EVENT', { detail: 'progress takes finite numbers' })
        }
        const p = makeProgress(current, total, message, new Date())
        await this.#deps.queue.setProgress(lease, p)
        await events.publish(job, lease.attempt, 'job.progress', { current: p.current, total: p.total, percent: p.percent, message: p.message })
      },
      log: async (message: string, level: JobLogLevel = 'info') => {
        await events.publish(job, lease.attempt, 'job.log', { level, message: String(message), sequence: ++sequence })
      },
      publish: (event) => events.publishRaw(job, lease.attempt, { ...event, channels: event.channels ?? [`job:${job.id}`] }),
    }
  }

  async #success(attempt: Attempt, value: unknown): Promise<void> {
    let result: unknown
    try {
      result = value === undefined ? null : JSON.parse(JSON.stringify(value))
    } catch (err) {
      await this.#failure(attempt, toJobError(new TidingsError('TIDINGS_ERR_INTERNAL', { detail: `the handler's result is not JSON: ${(err as Error).message}` })), false)
      return
    }
    const rec = await this.#deps.queue.complete(attempt.lease, result)
    await this.#deps.events.publish(rec, attempt.lease.attempt, 'job.succeeded', { result: rec.result, attempt: attempt.lease.attempt, durationMs: rec.durationMs })
  }

  async #failure(attempt: Attempt, error: JobError, retryable: boolean): Promise<void> {
    const { lease, definition } = attempt
    const n = lease.attempt
    if (retryable && n < lease.job.maxAttempts) {
      const delayMs = retryDelay(definition.backoff, n, error)
      const retryAt = new Date(Date.now() + delayMs)
      const rec = await this.#deps.queue.fail(lease, error, retryAt)
      await this.#deps.events.publish(rec, n, 'job.retrying', { error, attempt: n, retryAt: retryAt.toISOString(), delayMs })
      return
    }
    const rec = await this.#deps.queue.fail(lease, error, null)
    await this.#deps.events.publish(rec, n, 'job.failed', { error, attempts: n, durationMs: rec.durationMs })
  }

  async #giveBack(lease: JobLease): Promise<void> {
    await this.#record({ lease }, async () => {
      const rec = await this.#deps.queue.release(lease)
      await this.#deps.events.queued(rec, 'released')
    })
  }

  /** Runs one bookkeeping step; a lost lease means another worker owns the job now, so it is only logged. */
  async #record(attempt: Pick<Attempt, 'lease'>, step: () => Promise<void>): Promise<void> {
    try {
      await step()
    } catch (err) {
      if (isTidingsError(err, 'TIDINGS_ERR_JOB_LEASE_LOST')) this.#logger.warn({ job: attempt.lease.id }, 'lease lost before the outcome was recorded')
      else this.#logger.error({ err, job: attempt.lease.id }, 'could not record the outcome of an attempt')
    }
  }

  async #beat(): Promise<void> {
    if (this.#beating || this.#active.size === 0) return
    this.#beating = true
    try {
      const held = [...this.#active.values()].filter((a) => a.ending === null)
      if (held.length === 0) return
      const answers = await this.#deps.queue.heartbeat(
        held.map((a) => ({ id: a.lease.id, token: a.lease.token })),
        this.#leaseMs,
      )
      for (const r of answers) {
        const a = this.#active.get(r.id)
        if (a === undefined) continue
        if (!r.held) this.#abort(a, 'lost')
        else if (r.cancelRequested) this.#abort(a, 'cancel')
      }
    } catch (err) {
      this.#logger.warn({ err }, 'heartbeat failed')
    } finally {
      this.#beating = false
    }
  }

  async #announce(type: 'worker.started' | 'worker.stopped'): Promise<void> {
    const definitions = this.#definitions()
    try {
      await this.#deps.publisher.publish(
        {
          type,
          channels: [`worker:${this.id}`],
          data: {
            id: this.id,
            queues: this.#options.queues ?? [...new Set([...definitions.values()].map((d) => d.queue))],
            jobs: [...definitions.keys()],
            concurrency: this.#concurrency,
          },
        },
        { mode: 'strict' },
      )
    } catch (err) {
      this.#logger.warn({ err }, `could not publish ${type}`)
    }
  }
}

/** `<host>-<pid>-<random>`, channel-safe. */
function defaultWorkerId(): string {
  const host = hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 60) || 'host'
  return `${host}-${process.pid}-${randomBytes(3).toString('hex')}`
}
