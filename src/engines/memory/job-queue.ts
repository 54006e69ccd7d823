/**
 * The embedded memory `JobQueue`: records in a map, waiting jobs in one priority heap per
 * (queue, name) lane, in-process wake-ups and timers. Every operation runs to completion in one
 * turn of the event loop, which is what makes leases and schedule ticks atomic here. Share one
 * instance between several Tidings instances to stand in for processes.
 */
import { randomBytes } from 'node:crypto'
import { TidingsError } from '../../core/errors.js'
import { FINISHED_STATUSES } from '../../core/job-queue.js'
import type {
  CancelResult,
  EnqueueResult,
  HeartbeatResult,
  JobError,
  JobFilter,
  JobLease,
  JobOwner,
  JobPage,
  JobProgress,
  JobQueue,
  JobQueueCapabilities,
  JobRecord,
  JobStatus,
  LeaseRef,
  LeaseRequest,
  LeaseResult,
  NewJob,
  PageRequest,
  ScheduleInput,
  WaitRequest,
  ScheduleRecord,
} from '../../core/job-queue.js'

/** Default time finished records are kept: one day. */
export const DEFAULT_MEMORY_JOB_RETENTION_MS = 24 * 60 * 60 * 1000
/** Shortest pause between two retention sweeps. */
const PRUNE_EVERY_MS = 1_000

/** Options for {@link MemoryJobQueue}. */
export interface MemoryJobQueueOptions {
  /** How long finished (succeeded, failed, cancelled) records are kept. @defaultValue {@link DEFAULT_MEMORY_JOB_RETENTION_MS} */
  retentionMs?: number
  /** Clock, for tests. @defaultValue `Date.now` */
  now?: () => number
}

/** The mutable record the engine keeps; times in epoch milliseconds. */
interface StoredJob {
  readonly id: string
  readonly seq: number
  readonly name: string
  readonly queue: string
  readonly lane: string
  readonly payload: unknown
  readonly priority: number
  readonly key: string | null
  readonly owner: JobOwner | null
  readonly maxAttempts: number
  readonly enqueuedAt: number
  status: JobStatus
  attempts: number
  runAt: number
  startedAt: number | null
  finishedAt: number | null
  durationMs: number | null
  progress: JobProgress | null
  result: unknown
  error: JobError | null
  workerId: string | null
  token: string | null
  leaseExpiresAt: number | null
  cancelRequestedAt: number | null
  updatedAt: number
  /** Bumped on every state change; heap entries of an older version are stale. */
  version: number
  removed: boolean
}

interface HeapEntry {
  readonly job: StoredJob
  readonly version: number
}

/** A binary min-heap over `before`. */
class Heap {
  readonly #items: HeapEntry[] = []
  readonly #before: (a: StoredJob, b: StoredJob) => boolean

  constructor(before: (a: StoredJob, b: StoredJob) => boolean) {
    this.#before = before
  }

  get size(): number {
    return this.#items.length
  }

  peek(): HeapEntry | undefined {
    return this.#items[0]
  }

  push(entry: HeapEntry): void {
    const items = this.#items
    items.push(entry)
    let i = items.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.#before(items[i]!.job, items[parent]!.job)) break
      ;[items[i], items[parent]] = [items[parent]!, items[i]!]
      i = parent
    }
  }

  pop(): HeapEntry | undefined {
    const items = this.#items
    const top = items[0]
    const last = items.pop()
    if (items.length > 0 && last !== undefined) {
      items[0] = last
      let i = 0
      while (true) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < items.length && this.#before(items[l]!.job, items[m]!.job)) m = l
        if (r < items.length && this.#before(items[r]!.job, items[m]!.job)) m = r
        if (m === i) break
        ;[items[i], items[m]] = [items[m]!, items[i]!]
        i = m
      }
    }
    return top
  }
}

/** Waiting jobs of one (queue, name): due ones by priority, future ones by time. */
interface Lane {
  readonly due: Heap
  readonly future: Heap
}

interface Waiter {
  readonly lanes: ReadonlySet<string>
  readonly wake: () => void
}

const WAITING: ReadonlySet<JobStatus> = new Set(['delayed', 'queued', 'retrying'])
const FINISHED: ReadonlySet<JobStatus> = new Set(FINISHED_STATUSES)

const laneOf = (queue: string, name: string): string => `${queue}\u0000${name}`
const iso = (ms: number): string => new Date(ms).toISOString()
const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms))

/** In-process job queue and schedule store. */
export class MemoryJobQueue implements JobQueue {
  readonly engine = 'memory'
  readonly capabilities: JobQueueCapabilities = { durable: false, wakeUps: true }
  readonly #retentionMs: number
  readonly #now: () => number
  readonly #jobs = new Map<string, StoredJob>()
  readonly #byKey = new Map<string, StoredJob>()
  /** Every record in enqueue order (removed ones are compacted away lazily), for listing. */
  #order: StoredJob[] = []
  readonly #lanes = new Map<string, Lane>()
  readonly #running = new Set<StoredJob>()
  /** Finished records in the order they finished, for retention. */
  readonly #finished = new Set<StoredJob>()
  #lastPrune = 0
  #seq = 0
  /** Lease tokens are fencing tokens, not secrets: a random prefix per queue and a counter are enough. */
  readonly #tokenPrefix = randomBytes(6).toString('base64url')
  #tokens = 0
  #waiters = new Set<Waiter>()
  #pendingWake = new Set<string>()
  #wakeScheduled = false
  readonly #schedules = new Map<string, ScheduleRecord>()
  #closed = false

  constructor(options: MemoryJobQueueOptions = {}) {
    this.#retentionMs = options.retentionMs ?? DEFAULT_MEMORY_JOB_RETENTION_MS
    this.#now = options.now ?? Date.now
    if (!(this.#retentionMs > 0)) throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: 'retentionMs must be positive' })
  }

  async ready(): Promise<void> {}

  async enqueue(job: NewJob): Promise<EnqueueResult> {
    this.#assertOpen()
    this.#maybePrune()
    return this.#enqueue(job)
  }

  async lease(request: LeaseRequest): Promise<LeaseResult> {
    this.#assertOpen()
    const now = this.#now()
    const queues = new Set(request.queues)
    const lost: JobRecord[] = []
    for (const job of this.#running) {
      if (!queues.has(job.queue) || job.leaseExpiresAt! > now) continue
      if (job.attempts >= job.maxAttempts) {
        this.#finish(job, 'failed', now, {
          error: { message: new TidingsError('TIDINGS_ERR_JOB_WORKER_LOST').message, code: 'TIDINGS_ERR_JOB_WORKER_LOST', stack: null },
        })
        lost.push(this.#view(job))
      } else {
        this.#running.delete(job)
        job.status = 'queued'
        job.workerId = null
        job.token = null
        job.leaseExpiresAt = null
        job.runAt = now
        this.#touch(job, now)
        this.#lane(job.lane).due.push({ job, version: job.version })
      }
    }
    const lanes: Lane[] = []
    for (const q of request.queues) {
      for (const n of request.names) {
        const lane = this.#lanes.get(laneOf(q, n))
        if (lane) lanes.push(lane)
      }
    }
    const leases: JobLease[] = []
    while (leases.length < request.limit) {
      let best: Lane | undefined
      for (const lane of lanes) {
        const top = this.#cleanTop(lane, now)
        if (top !== undefined && (best === undefined || dueBefore(top.job, best.due.peek()!.job))) best = lane
      }
      if (best === undefined) break
      const job = best.due.pop()!.job
      const token = `${this.#tokenPrefix}.${(++this.#tokens).toString(36)}`
      job.status = 'running'
      job.attempts++
      job.startedAt = now
      job.finishedAt = null
      job.durationMs = null
      job.progress = null
      job.workerId = request.workerId
      job.token = token
      job.leaseExpiresAt = now + request.leaseMs
      this.#touch(job, now)
      this.#running.add(job)
      leases.push({ id: job.id, token, attempt: job.attempts, job: this.#view(job) })
    }
    return { leases, lost }
  }

  waitForJobs(request: WaitRequest, maxWaitMs: number, signal: AbortSignal): Promise<void> {
    if (this.#closed || signal.aborted) return Promise.resolve()
    const now = this.#now()
    const lanes = new Set<string>()
    let nextDue = now + maxWaitMs
    for (const q of request.queues) {
      for (const n of request.names) {
        const key = laneOf(q, n)
        lanes.add(key)
        const lane = this.#lanes.get(key)
        if (lane === undefined) continue
        if (this.#cleanTop(lane, now) !== undefined) return Promise.resolve()
        const future = lane.future.peek()
        if (future !== undefined) nextDue = Math.min(nextDue, future.job.runAt)
      }
    }
    for (const job of this.#running) {
      if (lanes.has(job.lane)) nextDue = Math.min(nextDue, job.leaseExpiresAt!)
    }
    if (nextDue <= now) return Promise.resolve()
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        this.#waiters.delete(waiter)
        resolve()
      }
      const waiter: Waiter = { lanes, wake: done }
      const timer = setTimeout(done, nextDue - now)
      signal.addEventListener('abort', done, { once: true })
      this.#waiters.add(waiter)
    })
  }

  async heartbeat(leases: readonly LeaseRef[], leaseMs: number): Promise<HeartbeatResult[]> {
    const now = this.#now()
    return leases.map((ref) => {
      const job = this.#jobs.get(ref.id)
      if (job === undefined || job.status !== 'running' || job.token !== ref.token) return { id: ref.id, held: false, cancelRequested: false }
      job.leaseExpiresAt = now + leaseMs
      job.updatedAt = now
      return { id: ref.id, held: true, cancelRequested: job.cancelRequestedAt !== null }
    })
  }

  async setProgress(lease: LeaseRef, progress: JobProgress): Promise<void> {
    const job = this.#held(lease)
    job.progress = progress
    job.updatedAt = this.#now()
  }

  async complete(lease: LeaseRef, result: unknown): Promise<JobRecord> {
    const job = this.#held(lease)
    this.#finish(job, 'succeeded', this.#now(), { result: result === undefined ? null : frozenCopy(result), error: null })
    return this.#view(job)
  }

  async fail(lease: LeaseRef, error: JobError, retryAt: Date | null): Promise<JobRecord> {
    const job = this.#held(lease)
    const now = this.#now()
    if (retryAt === null) {
      this.#finish(job, 'failed', now, { error })
      return this.#view(job)
    }
    this.#running.delete(job)
    job.status = 'retrying'
    job.error = error
    job.durationMs = now - job.startedAt!
    job.workerId = null
    job.token = null
    job.leaseExpiresAt = null
    job.runAt = retryAt.getTime()
    this.#touch(job, now)
    this.#park(job, now)
    return this.#view(job)
  }

  async confirmCancel(lease: LeaseRef): Promise<JobRecord> {
    const job = this.#held(lease)
    this.#finish(job, 'cancelled', this.#now(), {})
    return this.#view(job)
  }

  async release(lease: LeaseRef): Promise<JobRecord> {
    const job = this.#held(lease)
    const now = this.#now()
    this.#running.delete(job)
    job.status = 'queued'
    job.attempts = Math.max(0, job.attempts - 1)
    job.workerId = null
    job.token = null
    job.leaseExpiresAt = null
    job.runAt = now
    this.#touch(job, now)
    this.#park(job, now)
    return this.#view(job)
  }

  async cancel(id: string): Promise<CancelResult | null> {
    const job = this.#jobs.get(id)
    if (job === undefined) return null
    const now = this.#now()
    if (WAITING.has(job.status)) {
      this.#finish(job, 'cancelled', now, { duration: false })
      return { outcome: 'cancelled', job: this.#view(job) }
    }
    if (job.status === 'running') {
      job.cancelRequestedAt ??= now
      job.updatedAt = now
      return { outcome: 'requested', job: this.#view(job) }
    }
    return { outcome: 'finished', job: this.#view(job) }
  }

  async retry(id: string, runAt: Date): Promise<JobRecord> {
    const job = this.#jobs.get(id)
    if (job === undefined) throw new TidingsError('TIDINGS_ERR_JOB_NOT_FOUND', { detail: `job ${id}` })
    if (job.status !== 'failed' && job.status !== 'cancelled') {
      throw new TidingsError('TIDINGS_ERR_JOB_NOT_RETRYABLE', { detail: `job ${id} is ${job.status}` })
    }
    const now = this.#now()
    job.attempts = 0
    job.error = null
    job.result = null
    job.progress = null
    job.startedAt = null
    job.finishedAt = null
    job.durationMs = null
    job.cancelRequestedAt = null
    job.runAt = runAt.getTime()
    job.status = job.runAt > now ? 'delayed' : 'queued'
    this.#touch(job, now)
    this.#park(job, now)
    return this.#view(job)
  }

  async get(id: string): Promise<JobRecord | null> {
    const job = this.#jobs.get(id)
    return job === undefined ? null : this.#view(job)
  }

  async list(filter: JobFilter, page: PageRequest): Promise<JobPage> {
    this.#maybePrune()
    const now = this.#now()
    const before = page.cursor === undefined || page.cursor === null ? Infinity : Number(page.cursor)
    if (!Number.isInteger(before) && before !== Infinity) {
      throw new TidingsError('TIDINGS_ERR_INVALID_CURSOR', { detail: 'not a cursor of this job list' })
    }
    const statuses = filter.status && filter.status.length > 0 ? new Set(filter.status) : null
    const jobs: JobRecord[] = []
    let last: StoredJob | undefined
    let more = false
    for (let i = this.#order.length - 1; i >= 0; i--) {
      const job = this.#order[i]!
      if (job.removed || job.seq >= before) continue
      if (filter.name !== undefined && job.name !== filter.name) continue
      if (filter.queue !== undefined && job.queue !== filter.queue) continue
      if (filter.user !== undefined && job.owner?.user !== filter.user) continue
      if (filter.tenant !== undefined && (job.owner?.tenant ?? null) !== filter.tenant) continue
      if (statuses !== null && !statuses.has(this.#statusAt(job, now))) continue
      if (jobs.length === page.limit) {
        more = true
        break
      }
      jobs.push(this.#view(job))
      last = job
    }
    return { jobs, next: more && last !== undefined ? String(last.seq) : null }
  }

  async prune(before: Date): Promise<number> {
    return this.#prune(before.getTime())
  }

  async putSchedule(input: ScheduleInput): Promise<ScheduleRecord> {
    this.#assertOpen()
    const now = iso(this.#now())
    const old = this.#schedules.get(input.name)
    const nextRunAt = input.nextRunAt === null ? null : input.nextRunAt.toISOString()
    const same =
      old !== undefined &&
      old.cron === input.cron &&
      old.timezone === input.timezone &&
      old.job === input.job &&
      old.enabled === input.enabled &&
      JSON.stringify(old.payload) === JSON.stringify(input.payload)
    const record: ScheduleRecord = {
      name: input.name,
      cron: input.cron,
      timezone: input.timezone,
      job: input.job,
      payload: frozenCopy(input.payload),
      enabled: input.enabled,
      lastRunAt: old?.lastRunAt ?? null,
      lastJobId: old?.lastJobId ?? null,
      nextRunAt: same ? old.nextRunAt : nextRunAt,
      revision: same ? old.revision : (old?.revision ?? 0) + 1,
      createdAt: old?.createdAt ?? now,
      updatedAt: same ? old.updatedAt : now,
    }
    this.#schedules.set(input.name, record)
    return record
  }

  async getSchedule(name: string): Promise<ScheduleRecord | null> {
    return this.#schedules.get(name) ?? null
  }

  async listSchedules(): Promise<ScheduleRecord[]> {
    return [...this.#schedules.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  }

  async deleteSchedule(name: string): Promise<boolean> {
    return this.#schedules.delete(name)
  }

  async claimScheduleTick(name: string, revision: number, tick: Date, nextRunAt: Date | null, job: NewJob): Promise<JobRecord | null> {
    this.#assertOpen()
    const s = this.#schedules.get(name)
    if (s === undefined || s.revision !== revision || !s.enabled) return null
    if (s.lastRunAt !== null && Date.parse(s.lastRunAt) >= tick.getTime()) return null
    const { job: record, created } = this.#enqueue(job)
    this.#schedules.set(name, {
      ...s,
      lastRunAt: tick.toISOString(),
      lastJobId: record.id,
      nextRunAt: nextRunAt === null ? null : nextRunAt.toISOString(),
      updatedAt: iso(this.#now()),
    })
    return created ? record : null
  }

  async close(): Promise<void> {
    this.#closed = true
    for (const w of [...this.#waiters]) w.wake()
  }

  #enqueue(input: NewJob): EnqueueResult {
    if (input.key !== null) {
      const existing = this.#byKey.get(input.key)
      if (existing !== undefined) return { job: this.#view(existing), created: false }
    }
    if (this.#jobs.has(input.id)) throw new TidingsError('TIDINGS_ERR_INTERNAL', { detail: `duplicate job id ${input.id}` })
    const now = this.#now()
    const runAt = input.runAt.getTime()
    const job: StoredJob = {
      id: input.id,
      seq: ++this.#seq,
      name: input.name,
      queue: input.queue,
      lane: laneOf(input.queue, input.name),
      payload: frozenCopy(input.payload),
      priority: input.priority,
      key: input.key,
      owner: input.owner === null ? null : { user: input.owner.user, tenant: input.owner.tenant },
      maxAttempts: input.maxAttempts,
      enqueuedAt: input.enqueuedAt.getTime(),
      status: runAt > now ? 'delayed' : 'queued',
      attempts: 0,
      runAt,
      startedAt: null,
      finishedAt: null,
      durationMs: null,
      progress: null,
      result: null,
      error: null,
      workerId: null,
      token: null,
      leaseExpiresAt: null,
      cancelRequestedAt: null,
      updatedAt: now,
      version: 0,
      removed: false,
    }
    this.#jobs.set(job.id, job)
    if (job.key !== null) this.#byKey.set(job.key, job)
    this.#order.push(job)
    this.#park(job, now)
    return { job: this.#view(job), created: true }
  }

  /** Puts a waiting job into its lane and wakes the workers that take from it. */
  #park(job: StoredJob, now: number): void {
    const lane = this.#lane(job.lane)
    ;(job.runAt <= now ? lane.due : lane.future).push({ job, version: job.version })
    this.#wake(job.lane)
  }

  #lane(key: string): Lane {
    let lane = this.#lanes.get(key)
    if (lane === undefined) {
      lane = { due: new Heap(dueBefore), future: new Heap((a, b) => a.runAt < b.runAt || (a.runAt === b.runAt && a.seq < b.seq)) }
      this.#lanes.set(key, lane)
    }
    return lane
  }

  /** Moves due jobs of a lane from `future` to `due`, drops stale entries, and returns the best due one. */
  #cleanTop(lane: Lane, now: number): HeapEntry | undefined {
    let f = lane.future.peek()
    while (f !== undefined && (f.version !== f.job.version || !WAITING.has(f.job.status) || f.job.runAt <= now)) {
      lane.future.pop()
      if (f.version === f.job.version && WAITING.has(f.job.status)) lane.due.push(f)
      f = lane.future.peek()
    }
    let d = lane.due.peek()
    while (d !== undefined && (d.version !== d.job.version || !WAITING.has(d.job.status))) {
      lane.due.pop()
      d = lane.due.peek()
    }
    return d
  }

  /**
   * Wakes waiters on the next turn rather than now: the enqueuer publishes `job.queued` right after
   * `enqueue` resolves, and a worker woken in the same turn could otherwise publish `job.started`
   * first.
   */
  #wake(lane: string): void {
    this.#pendingWake.add(lane)
    if (this.#wakeScheduled) return
    this.#wakeScheduled = true
    setImmediate(() => {
      this.#wakeScheduled = false
      const lanes = this.#pendingWake
      this.#pendingWake = new Set()
      for (const w of [...this.#waiters]) {
        for (const l of lanes) {
          if (w.lanes.has(l)) {
            w.wake()
            break
          }
        }
      }
    })
  }

  #held(lease: LeaseRef): StoredJob {
    const job = this.#jobs.get(lease.id)
    if (job === undefined || job.status !== 'running' || job.token !== lease.token) {
      throw new TidingsError('TIDINGS_ERR_JOB_LEASE_LOST', { detail: `job ${lease.id}` })
    }
    return job
  }

  #finish(job: StoredJob, status: 'succeeded' | 'failed' | 'cancelled', now: number, fields: { result?: unknown; error?: JobError | null; duration?: boolean }): void {
    this.#running.delete(job)
    job.status = status
    job.finishedAt = now
    job.durationMs = fields.duration === false || job.startedAt === null ? null : now - job.startedAt
    if ('result' in fields) job.result = fields.result
    if (fields.error !== undefined) job.error = fields.error
    job.workerId = null
    job.token = null
    job.leaseExpiresAt = null
    this.#touch(job, now)
    this.#finished.delete(job)
    this.#finished.add(job)
  }

  #touch(job: StoredJob, now: number): void {
    job.version++
    job.updatedAt = now
  }

  #statusAt(job: StoredJob, now: number): JobStatus {
    return job.status === 'delayed' && job.runAt <= now ? 'queued' : job.status
  }

  #view(job: StoredJob): JobRecord {
    return {
      id: job.id,
      name: job.name,
      queue: job.queue,
      status: this.#statusAt(job, this.#now()),
      payload: job.payload,
      priority: job.priority,
      key: job.key,
      owner: job.owner === null ? null : { ...job.owner },
      attempts: job.attempts,
      maxAttempts: job.maxAttempts,
      enqueuedAt: iso(job.enqueuedAt),
      runAt: iso(job.runAt),
      startedAt: isoOrNull(job.startedAt),
      finishedAt: isoOrNull(job.finishedAt),
      durationMs: job.durationMs,
      progress: job.progress,
      result: job.result,
      error: job.error,
      workerId: job.workerId,
      leaseExpiresAt: isoOrNull(job.leaseExpiresAt),
      cancelRequestedAt: isoOrNull(job.cancelRequestedAt),
      updatedAt: iso(job.updatedAt),
    } as JobRecord
  }

  #maybePrune(): void {
    const now = this.#now()
    if (now - this.#lastPrune < PRUNE_EVERY_MS) return
    this.#lastPrune = now
    this.#prune(now - this.#retentionMs)
  }

  #prune(before: number): number {
    let removed = 0
    for (const job of this.#finished) {
      if (!FINISHED.has(job.status)) {
        this.#finished.delete(job)
        continue
      }
      if (job.finishedAt! >= before) break
      this.#finished.delete(job)
      job.removed = true
      this.#jobs.delete(job.id)
      if (job.key !== null && this.#byKey.get(job.key) === job) this.#byKey.delete(job.key)
      removed++
    }
    if (removed > 0) this.#order = this.#order.filter((j) => !j.removed)
    return removed
  }

  #assertOpen(): void {
    if (this.#closed) throw new TidingsError('TIDINGS_ERR_CLOSED', { detail: 'the job queue is closed' })
  }
}

/** A deep copy nobody can change: records hand out the same object instead of a copy per read. */
function frozenCopy<T>(value: T): T {
  const freeze = (v: unknown): void => {
    if (typeof v !== 'object' || v === null || Object.isFrozen(v)) return
    Object.freeze(v)
    for (const child of Object.values(v)) freeze(child)
  }
  const copy = structuredClone(value)
  freeze(copy)
  return copy
}

function dueBefore(a: StoredJob, b: StoredJob): boolean {
  if (a.priority !== b.priority) return a.priority > b.priority
  if (a.runAt !== b.runAt) return a.runAt < b.runAt
  return a.seq < b.seq
}
