/**
 * `createTidings`: one instance of the library — a log, the hub over it, the publisher, the HTTP
 * surface, and jobs (definitions, workers, the scheduler) on a job queue — to use in-process or
 * mount in an existing server.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { z } from 'zod'
import { OPEN_PRINCIPAL } from './core/auth.js'
import { assertChannel, type EventInput } from './core/envelope.js'
import { TidingsError } from './core/errors.js'
import type { EventLog } from './core/event-log.js'
import type { CancelResult, JobFilter, JobPage, JobQueue, JobRecord, PageRequest, ScheduleRecord } from './core/job-queue.js'
import { ControlFeed } from './core/jobs/control.js'
import { defineJob, type AnyJobDefinition, type JobDefinition, type JobInput, type JobSpec, type PayloadOf } from './core/jobs/define.js'
import { Jobs, type EnqueueOptions } from './core/jobs/jobs.js'
import { JobEvents } from './core/jobs/lifecycle.js'
import { JobRegistry } from './core/jobs/registry.js'
import { Scheduler, type ScheduleDefinition, type SchedulerOptions } from './core/jobs/scheduler.js'
import { Worker, type WorkerOptions } from './core/jobs/worker.js'
import { Hub, type HubOptions } from './core/hub.js'
import { createLogger, type Logger } from './core/logger.js'
import { TidingsMetrics } from './core/metrics.js'
import { Publisher, type PublishOptions, type Published } from './core/publisher.js'
import { Subscription, type SubscribeOptions } from './core/subscription.js'
import { MemoryEventLog } from './engines/memory/event-log.js'
import { MemoryJobQueue } from './engines/memory/job-queue.js'
import { RequestAuthenticator, type AuthOptions } from './http/auth.js'
import { HttpSurface, type HttpOptions } from './http/handler.js'
import { registerJobRoutes } from './http/jobs-routes.js'
import { registerWebhookRoutes } from './http/webhooks-routes.js'
import { Webhooks, type WebhooksOptions } from './webhooks/webhooks.js'

/** Options of {@link createTidings}. */
export interface TidingsOptions {
  /** The event log. @defaultValue a new {@link MemoryEventLog} */
  events?: EventLog
  /** How HTTP callers are authenticated. Required for the HTTP handler: `jwt`, `authenticate`, or `open: true`. */
  auth?: AuthOptions
  /** Hub tuning. */
  hub?: HubOptions
  /** HTTP settings. */
  http?: HttpOptions
  /** Largest serialised event in bytes. @defaultValue 65536 */
  maxEventBytes?: number
  /** Most events per publish call. @defaultValue 1000 */
  maxBatch?: number
  /** A pino-compatible logger. @defaultValue pino at `TIDINGS_LOG_LEVEL` */
  logger?: Logger
  /** Collect Node's default process metrics too. @defaultValue false */
  defaultMetrics?: boolean
  /** The job queue and schedule store; share one between instances of one deployment. @defaultValue a new {@link MemoryJobQueue} */
  jobs?: JobQueue
  /** Job definitions known from the start (as if passed to {@link Tidings.registerJobs}). */
  jobDefinitions?: readonly AnyJobDefinition[]
  /** Defaults of the workers this instance starts; `startWorker(options)` overrides them. */
  worker?: WorkerOptions
  /** Scheduler settings. */
  scheduler?: SchedulerOptions
  /** Webhook settings; `tidings.webhooks` is set up on first use. */
  webhooks?: WebhooksOptions
}

/** Options of {@link Tidings.schedule}. */
export interface ScheduleOptions {
  /** IANA zone the pattern is read in. @defaultValue UTC */
  timezone?: string
  /** @defaultValue true */
  enabled?: boolean
}

/** A Tidings instance. */
export interface Tidings {
  readonly log: EventLog
  readonly hub: Hub
  readonly metrics: TidingsMetrics
  readonly logger: Logger
  readonly publisher: Publisher
  /** The HTTP surface; jobs and webhooks add routes to `http.router`. */
  readonly http: HttpSurface
  /** `(req, res)` handler for `node:http`, Express and friends. */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void
  /**
   * Publishes one event (resolves to one {@link Published}) or a batch (resolves to an array), once
   * the log holds them. `mode: 'failOpen'` logs and counts a log failure instead of rejecting.
   */
  publish(event: EventInput, options?: PublishOptions): Promise<Published>
  publish(events: readonly EventInput[], options?: PublishOptions): Promise<Published[]>
  /** Follows channels in-process: `for await (const { cursor, event } of tidings.subscribe([...]))`. */
  subscribe(channels: readonly string[], options?: SubscribeOptions): Subscription
  /** Starts the hub's tail (the first subscriber does it too). */
  ready(): Promise<void>
  /** The job queue and schedule store. */
  readonly jobQueue: JobQueue
  /** Enqueue, cancel, retry and read jobs, with the details the HTTP API needs. */
  readonly jobs: Jobs
  /** Cron schedules: CRUD at any time; `scheduler.start()` fires them from this instance. */
  readonly scheduler: Scheduler
  /** The job definitions this instance knows. */
  readonly registry: JobRegistry
  /**
   * Webhook endpoints, deliveries and the dispatcher, set up on first use (which registers the
   * delivery job, so this instance's workers deliver). `webhooks.start()` dispatches from here.
   */
  readonly webhooks: Webhooks
  /** Defines a job and registers it with this instance. */
  defineJob<S extends z.ZodType, Result = unknown, State = unknown>(spec: JobSpec<S, Result, State>): JobDefinition<z.input<S>, z.output<S>, Result, State>
  /** Registers definitions made with the standalone `defineJob` (a module of jobs). */
  registerJobs(...definitions: readonly AnyJobDefinition[]): void
  /**
   * Enqueues a job and resolves to its id once it is stored and `job.queued` is published.
   * Throws `TIDINGS_ERR_UNKNOWN_JOB`, `TIDINGS_ERR_INVALID_PAYLOAD` or `TIDINGS_ERR_INVALID_JOB_OPTIONS`.
   */
  enqueue<D extends AnyJobDefinition>(job: D, payload: JobInput<D>, options?: EnqueueOptions): Promise<string>
  enqueue<N extends string>(name: N, payload: PayloadOf<N>, options?: EnqueueOptions): Promise<string>
  /** Cancels a job from this or any other instance (see {@link Jobs.cancel}). */
  cancel(id: string): Promise<CancelResult>
  /** Queues a failed or cancelled job again. */
  retry(id: string): Promise<JobRecord>
  /** One job record, or null. */
  getJob(id: string): Promise<JobRecord | null>
  /** Job records, newest first. */
  listJobs(filter?: JobFilter, page?: Partial<PageRequest>): Promise<JobPage>
  /** Creates or replaces a cron schedule that enqueues `job` with `payload` at each tick. */
  schedule(name: string, cron: string, job: string, payload?: unknown, options?: ScheduleOptions): Promise<ScheduleRecord>
  /** A worker (not started); the instance's `worker` options are its defaults. It stops on close. */
  worker<State = unknown>(options?: WorkerOptions<State>): Worker<State>
  /** A started worker. */
  startWorker<State = unknown>(options?: WorkerOptions<State>): Promise<Worker<State>>
  /** Runs `fn` on close, before the log closes (jobs and webhooks stop here). Latest first. */
  onClose(fn: () => Promise<void> | void): void
  /** Ends streams and stops the hub; closes the log if this instance created it. */
  close(): Promise<void>
}

/** Creates a Tidings instance. */
export function createTidings(options: TidingsOptions = {}): Tidings {
  const ownsLog = options.events === undefined
  const log = options.events ?? new MemoryEventLog()
  const logger = options.logger ?? createLogger()
  const metrics = new TidingsMetrics({ defaultMetrics: options.defaultMetrics })
  const hub = new Hub(log, metrics, logger, options.hub)
  const publisher = new Publisher(log, metrics, logger, { maxEventBytes: options.maxEventBytes, maxBatch: options.maxBatch })
  const ownsJobQueue = options.jobs === undefined
  const jobQueue = options.jobs ?? new MemoryJobQueue()
  const registry = new JobRegistry()
  registry.add(...(options.jobDefinitions ?? []))
  const jobEvents = new JobEvents(publisher)
  const subscribeControl = (channels: readonly string[]): Subscription => tidings.subscribe(channels)
  const control = new ControlFeed(subscribeControl, publisher, logger)
  const jobs = new Jobs({ queue: jobQueue, registry, events: jobEvents, control, logger })
  const scheduler = new Scheduler({ queue: jobQueue, registry, jobs, events: jobEvents, control, logger }, options.scheduler)
  const workers = new Set<Worker<unknown>>()
  const makeWorker = <State>(opts: WorkerOptions<State> = {}): Worker<State> => {
    if (closed) throw new TidingsError('TIDINGS_ERR_CLOSED')
    const given = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as WorkerOptions<State>
    const worker = new Worker<State>({ queue: jobQueue, registry, events: jobEvents, publisher, control, logger }, { ...(options.worker as WorkerOptions<State>), ...given })
    workers.add(worker as Worker<unknown>)
    return worker
  }
  let http: HttpSurface | undefined
  const getHttp = (): HttpSurface => {
    if (http === undefined) {
      http = new HttpSurface({ log, hub, publisher, metrics, logger, auth: new RequestAuthenticator(options.auth) }, options.http)
      registerJobRoutes(http, { jobs, scheduler, log, maxBodyBytes: options.http?.maxBodyBytes })
      registerWebhookRoutes(http, { webhooks: getWebhooks, maxBodyBytes: options.http?.maxBodyBytes })
    }
    return http
  }
  const closers: (() => Promise<void> | void)[] = [
    async () => {
      await Promise.all([...workers].map((w) => w.stop()))
      await scheduler.stop()
      await control.close()
      if (ownsJobQueue) await jobQueue.close()
    },
  ]
  let closed = false
  let webhooks: Webhooks | undefined
  const getWebhooks = (): Webhooks => {
    if (webhooks === undefined) {
      if (closed) throw new TidingsError('TIDINGS_ERR_CLOSED')
      const created = new Webhooks({ log, publisher, jobs, queue: jobQueue, registry, jobEvents, control, logger, subscribe: (c, o) => tidings.subscribe(c, o) }, options.webhooks)
      webhooks = created
      // The dispatcher stops before the workers; the rest closes last, once deliveries have finished.
      closers.push(() => created.stop())
      closers.unshift(() => created.close())
    }
    return webhooks
  }

  const tidings: Tidings = {
    log,
    hub,
    metrics,
    logger,
    publisher,
    get http() {
      return getHttp()
    },
    get handler() {
      return getHttp().handler
    },
    publish: (async (input: EventInput | readonly EventInput[], opts?: PublishOptions) => {
      if (closed) throw new TidingsError('TIDINGS_ERR_CLOSED')
      const out = await publisher.publish(input, opts)
      return Array.isArray(input) ? out : out[0]
    }) as Tidings['publish'],
    subscribe(channels, opts = {}) {
      if (closed) throw new TidingsError('TIDINGS_ERR_CLOSED')
      for (const c of channels) assertChannel(c, true)
      const sub = new Subscription(hub, channels, opts.principal ?? OPEN_PRINCIPAL, opts)
      // Without `from`, "now" is the hub's position at this call, not when the attach completes.
      hub.attach(sub, opts.from ?? hub.cursor).catch((err: unknown) => sub.fail(err instanceof Error ? err : new Error(String(err))))
      return sub
    },
    ready: () => hub.start(),
    jobQueue,
    jobs,
    scheduler,
    registry,
    get webhooks() {
      return getWebhooks()
    },
    defineJob(spec) {
      const definition = defineJob(spec)
      registry.add(definition)
      return definition
    },
    registerJobs(...definitions) {
      registry.add(...definitions)
    },
    enqueue: (async (job: string | AnyJobDefinition, payload: unknown, opts?: EnqueueOptions) => {
      if (closed) throw new TidingsError('TIDINGS_ERR_CLOSED')
      return (await jobs.enqueue(job, payload, opts)).id
    }) as Tidings['enqueue'],
    cancel: (id) => jobs.cancel(id),
    retry: (id) => jobs.retry(id),
    getJob: (id) => jobs.get(id),
    listJobs: (filter, page) => jobs.list(filter, page),
    schedule: (name, cron, job, payload, opts = {}) => {
      const definition: ScheduleDefinition = { name, cron, job, payload, timezone: opts.timezone ?? null, enabled: opts.enabled ?? true }
      return scheduler.put(definition)
    },
    worker: makeWorker,
    async startWorker(opts) {
      const worker = makeWorker(opts)
      await worker.start()
      return worker
    },
    onClose(fn) {
      closers.push(fn)
    },
    async close() {
      if (closed) return
      closed = true
      for (const fn of closers.reverse()) await fn()
      http?.close()
      await hub.close()
      // A log passed in may be shared with other instances: its owner closes it.
      if (ownsLog) await log.close()
    },
  }
  return tidings
}
