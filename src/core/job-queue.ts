/**
 * The `JobQueue` port (DESIGN §2): the one contract every engine implements for jobs and cron
 * schedules. Everything above it — definitions, workers, the scheduler, HTTP, the CLI — is
 * engine-agnostic.
 *
 * The contract in one paragraph: execution is at-least-once. `enqueue` resolves once the job is
 * stored and it is never lost after that. A worker takes a job with `lease`, which hands out a
 * random `token` and an expiry; it keeps the lease with `heartbeat` and ends it with `complete`,
 * `fail`, `confirmCancel` or `release`, each of which checks the token, so a worker whose lease
 * expired (it stalled or died, and another worker took the job over) can no longer change the
 * record. A lease that expires makes the job leasable again. Times are ISO 8601 strings on the
 * records (wire-friendly) and `Date`s in arguments.
 */

/** Who a job belongs to: events go to `user:{user}` with the owner's tenant, and owners may read and cancel it over HTTP. */
export interface JobOwner {
  readonly user: string | null
  readonly tenant: string | null
}

/** Where a running job reports it has got to (seed 004's progress shape). */
export interface JobProgress {
  readonly current: number
  readonly total: number | null
  /** `current / total` as 0–100, or null without a total. */
  readonly percent: number | null
  readonly message: string | null
  readonly at: string
}

/** Why an attempt failed, as stored on the record and carried by `job.failed` / `job.retrying`. */
export interface JobError {
  readonly message: string
  /** A `TIDINGS_ERR_…` code, or the `code` of the error the handler threw; null when it had none. */
  readonly code: string | null
  readonly stack: string | null
}

/** Every state a job can be in. */
export type JobStatus = 'delayed' | 'queued' | 'running' | 'retrying' | 'succeeded' | 'failed' | 'cancelled'

/** The states after which a job never runs again unless someone retries it. */
export const FINISHED_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'cancelled']

/** The fields every job record has, whatever its state. Null fields are always present. */
export interface JobRecordFields {
  /** A UUIDv7: time-ordered. */
  readonly id: string
  readonly name: string
  readonly queue: string
  /** The payload as enqueued (checked against the definition's schema first). */
  readonly payload: unknown
  /** Higher runs first; ties run in `runAt`, then enqueue, order. */
  readonly priority: number
  /** The dedup key: while a record with this key is retained, enqueueing it again returns that record. */
  readonly key: string | null
  readonly owner: JobOwner | null
  /** Attempts started so far. */
  readonly attempts: number
  readonly maxAttempts: number
  readonly enqueuedAt: string
  /** When the job may run (next). */
  readonly runAt: string
  /** Start of the latest attempt. */
  readonly startedAt: string | null
  readonly finishedAt: string | null
  /** `finishedAt - startedAt` of the last attempt, in milliseconds. */
  readonly durationMs: number | null
  readonly progress: JobProgress | null
  readonly result: unknown
  /** The error of the latest failed attempt. */
  readonly error: JobError | null
  /** The worker holding the lease while running. */
  readonly workerId: string | null
  readonly leaseExpiresAt: string | null
  /** Set when a cancel was asked for while the job was running. */
  readonly cancelRequestedAt: string | null
  readonly updatedAt: string
}

/** A job record: the common fields, narrowed by `status`. */
export type JobRecord = JobRecordFields &
  (
    | { readonly status: 'delayed' | 'queued'; readonly finishedAt: null; readonly workerId: null }
    | { readonly status: 'running'; readonly startedAt: string; readonly finishedAt: null; readonly workerId: string; readonly leaseExpiresAt: string }
    | { readonly status: 'retrying'; readonly error: JobError; readonly finishedAt: null; readonly workerId: null }
    | { readonly status: 'succeeded'; readonly finishedAt: string; readonly error: null; readonly workerId: null }
    | { readonly status: 'failed'; readonly finishedAt: string; readonly error: JobError; readonly workerId: null }
    | { readonly status: 'cancelled'; readonly finishedAt: string; readonly workerId: null }
  )

/** What the runtime stores for a new job; the engine assigns nothing but positions in its indexes. */
export interface NewJob {
  readonly id: string
  readonly name: string
  readonly queue: string
  readonly payload: unknown
  readonly priority: number
  readonly key: string | null
  readonly owner: JobOwner | null
  readonly maxAttempts: number
  readonly enqueuedAt: Date
  /** In the future: the job starts `delayed`. */
  readonly runAt: Date
}

/** The result of {@link JobQueue.enqueue}. */
export interface EnqueueResult {
  readonly job: JobRecord
  /** False when a retained record with the same key already existed: `job` is that record. */
  readonly created: boolean
}

/** What a worker asks {@link JobQueue.lease} for. */
export interface LeaseRequest {
  /** Queues to take from. */
  readonly queues: readonly string[]
  /** Only jobs of these names (the definitions the worker has). */
  readonly names: readonly string[]
  readonly workerId: string
  /** Lease length; the worker heartbeats well within it. */
  readonly leaseMs: number
  /** Most jobs to lease at once. */
  readonly limit: number
}

/** What a worker waits for in {@link JobQueue.waitForJobs}. */
export type WaitRequest = Pick<LeaseRequest, 'queues' | 'names'>

/** A worker's hold on one running job. */
export interface JobLease {
  readonly id: string
  /** Random per lease; every call that changes the job must present it. */
  readonly token: string
  /** The attempt this lease runs (1-based). */
  readonly attempt: number
  /** The record as leased (status `running`). */
  readonly job: JobRecord
}

/** The lease token of a job; every call that ends or extends a lease takes it. */
export interface LeaseRef {
  readonly id: string
  readonly token: string
}

/** The result of {@link JobQueue.lease}. */
export interface LeaseResult {
  readonly leases: readonly JobLease[]
  /**
   * Jobs whose lease had expired (their worker died or stalled) with no attempt left: the engine
   * ended them `failed` with code `TIDINGS_ERR_JOB_WORKER_LOST`; the caller publishes `job.failed`.
   */
  readonly lost: readonly JobRecord[]
}

/** One answer of {@link JobQueue.heartbeat}. */
export interface HeartbeatResult {
  readonly id: string
  /** False when the lease is gone: expired and taken over, or the job was ended elsewhere. */
  readonly held: boolean
  /** A cancel was asked for: the worker should abort the job (also announced on the event log). */
  readonly cancelRequested: boolean
}

/** The result of {@link JobQueue.cancel}. */
export type CancelResult =
  /** It was waiting (delayed, queued or retrying) and is now `cancelled`. */
  | { readonly outcome: 'cancelled'; readonly job: JobRecord }
  /** It is running: `cancelRequestedAt` is set and the worker holding it must stop it. */
  | { readonly outcome: 'requested'; readonly job: JobRecord }
  /** It had already finished; nothing changed. */
  | { readonly outcome: 'finished'; readonly job: JobRecord }

/** Filters of {@link JobQueue.list}; absent fields do not filter. */
export interface JobFilter {
  readonly status?: readonly JobStatus[]
  readonly name?: string
  readonly queue?: string
  /** Owner's user id; together with `tenant` when both are given. */
  readonly user?: string
  /** Owner's tenant; `null` matches jobs of no tenant. */
  readonly tenant?: string | null
}

/** A page request of {@link JobQueue.list}. */
export interface PageRequest {
  readonly limit: number
  /** The `next` of the previous page; omitted = the newest jobs. */
  readonly cursor?: string | null
}

/** One page of jobs, newest first. */
export interface JobPage {
  readonly jobs: readonly JobRecord[]
  /** Pass as `cursor` for the next (older) page; null at the end. */
  readonly next: string | null
}

/** A stored cron schedule (seed 002's ScheduledJob). */
export interface ScheduleRecord {
  readonly name: string
  /** A croner pattern: 5 fields, or 6 with seconds first. */
  readonly cron: string
  /** IANA time zone the pattern is read in; null = UTC. */
  readonly timezone: string | null
  /** The job it enqueues. */
  readonly job: string
  readonly payload: unknown
  readonly enabled: boolean
  /** The latest tick that fired. */
  readonly lastRunAt: string | null
  /** The id of the job the latest tick enqueued. */
  readonly lastJobId: string | null
  /** The next tick; null while disabled. */
  readonly nextRunAt: string | null
  /** Increases on every change; a tick is claimed against the revision its timer was set from. */
  readonly revision: number
  readonly createdAt: string
  readonly updatedAt: string
}

/** What {@link JobQueue.putSchedule} stores; lastRunAt and lastJobId are kept from the stored record. */
export interface ScheduleInput {
  readonly name: string
  readonly cron: string
  readonly timezone: string | null
  readonly job: string
  readonly payload: unknown
  readonly enabled: boolean
  readonly nextRunAt: Date | null
}

/** What an engine can and cannot do; conformance tests skip what is declared missing, with the reason. */
export interface JobQueueCapabilities {
  /** Jobs and schedules survive a process restart. */
  readonly durable: boolean
  /** {@link JobQueue.waitForJobs} resolves as soon as work arrives; without it workers poll. */
  readonly wakeUps: boolean
  /**
   * {@link JobQueue.lease} hands out due jobs in exact order (priority, then `runAt`, then enqueue
   * order) across every waiting job of the lanes asked for. False when an engine orders only the
   * jobs one lease call examines (a bounded window per lane; NATS JetStream) and beyond it takes
   * them first in, first out. @defaultValue true
   */
  readonly exactOrder?: boolean
}

/** The durable store of jobs and schedules. */
export interface JobQueue {
  /** Engine name, for logs and metrics: `memory`, `redis`, … */
  readonly engine: string
  readonly capabilities: JobQueueCapabilities
  /** Connects and creates what the engine needs. Idempotent. */
  ready(): Promise<void>

  /** Stores a job. With a key that a retained record already has, stores nothing and returns that record. */
  enqueue(job: NewJob): Promise<EnqueueResult>
  /**
   * Atomically takes up to `limit` due jobs (delayed or retrying ones once `runAt` has passed, and
   * running ones whose lease expired) from the queues, highest priority first, and marks them
   * running with a new token. Each lease counts an attempt. A job whose lease expired with no
   * attempt left is ended `failed` instead and reported in `lost`.
   */
  lease(request: LeaseRequest): Promise<LeaseResult>
  /**
   * Resolves when a job the request could lease may be due (a hint: the next `lease` may still find
   * nothing), after `maxWaitMs`, or when `signal` aborts. Engines without wake-ups just wait.
   */
  waitForJobs(request: WaitRequest, maxWaitMs: number, signal: AbortSignal): Promise<void>
  /** Extends leases to now + `leaseMs`; says which are still held and which were asked to cancel. */
  heartbeat(leases: readonly LeaseRef[], leaseMs: number): Promise<HeartbeatResult[]>
  /** Records progress on a running job. Throws `TIDINGS_ERR_JOB_LEASE_LOST` when the lease is gone. */
  setProgress(lease: LeaseRef, progress: JobProgress): Promise<void>
  /** Ends the attempt `succeeded`. Throws `TIDINGS_ERR_JOB_LEASE_LOST` when the lease is gone. */
  complete(lease: LeaseRef, result: unknown): Promise<JobRecord>
  /**
   * Ends the attempt with `error`: `retrying` until `retryAt` when given, else `failed`.
   * Throws `TIDINGS_ERR_JOB_LEASE_LOST` when the lease is gone.
   */
  fail(lease: LeaseRef, error: JobError, retryAt: Date | null): Promise<JobRecord>
  /** The worker stopped a job whose cancel was asked for: it ends `cancelled`. Throws `TIDINGS_ERR_JOB_LEASE_LOST`. */
  confirmCancel(lease: LeaseRef): Promise<JobRecord>
  /** Gives a running job back (graceful shutdown) without counting the attempt. Throws `TIDINGS_ERR_JOB_LEASE_LOST`. */
  release(lease: LeaseRef): Promise<JobRecord>
  /** Cancels a waiting job at once, or marks a running one for its worker to stop. Null when unknown. */
  cancel(id: string): Promise<CancelResult | null>
  /**
   * Queues a `failed` or `cancelled` job again with a fresh attempt count. Throws
   * `TIDINGS_ERR_JOB_NOT_FOUND` or `TIDINGS_ERR_JOB_NOT_RETRYABLE`.
   */
  retry(id: string, runAt: Date): Promise<JobRecord>
  /** One record, or null. */
  get(id: string): Promise<JobRecord | null>
  /** Records matching `filter`, newest first, a page at a time. */
  list(filter: JobFilter, page: PageRequest): Promise<JobPage>
  /** Removes finished records that finished before `before`; resolves to how many. */
  prune(before: Date): Promise<number>

  /** Creates or replaces a schedule, keeping its `lastRunAt`, `lastJobId` and `createdAt`. */
  putSchedule(schedule: ScheduleInput): Promise<ScheduleRecord>
  /** One schedule, or null. */
  getSchedule(name: string): Promise<ScheduleRecord | null>
  /** Every schedule, by name. */
  listSchedules(): Promise<ScheduleRecord[]>
  /** Deletes a schedule; true when it existed. */
  deleteSchedule(name: string): Promise<boolean>
  /**
   * Fires one tick of a schedule exactly once across every process: atomically, if the schedule
   * still has `revision`, is enabled and has not fired at `tick` or later, enqueues `job`, sets
   * `lastRunAt = tick`, `lastJobId` and `nextRunAt`, and resolves to the new record; otherwise
   * resolves to null and changes nothing.
   */
  claimScheduleTick(name: string, revision: number, tick: Date, nextRunAt: Date | null, job: NewJob): Promise<JobRecord | null>

  /** Releases connections and wakes every waiter. */
  close(): Promise<void>
}
