/**
 * The NATS JetStream `JobQueue` (DESIGN §2): a hybrid in which a KV bucket is the source of truth
 * and a work-queue stream carries deliveries and timers.
 *
 * - **Records** live in the bucket (`job.<id>`, `key.<dedup key>`, `schedule.<name>`), and every
 *   state change is a KV `update` against the revision it read: of several processes racing for a
 *   job, a lease or a schedule tick, exactly one write lands and the others read again.
 * - **Deliveries**: each job has a message `{id, gen}` in the work stream, on the subject of its
 *   (queue, job name) lane, with one durable pull consumer per lane. `lease` pulls what a lane has
 *   ready, looks each job up and either takes it, or hands the message back with `nak(delay)` set
 *   to when the job next needs a look: its `runAt` when it is delayed, its lease expiry while it
 *   runs. A worker that dies therefore leaves a message that comes back when its lease expires, and
 *   the next `lease` takes the job over (or ends it `failed` when no attempt is left). A finished
 *   job's message is acked, by the worker that finished it or by the next `lease` to see it.
 * - A transition that makes a job wait again (a retry, a release) publishes a message of the next
 *   generation *before* it writes the record, so a committed waiting record always has a message
 *   that will reach a worker; messages of an older generation are acked as stale, and one of a
 *   generation the record has not reached yet is looked at again shortly (its write may be in
 *   flight) and dropped once it is older than {@link ABANDON_AFTER_MS}.
 *
 * Order: within the messages one `lease` call pulls (up to `scanPerLane` per lane), jobs are handed
 * out by priority, then `runAt`, then enqueue order (`enqueuedAt`, then id); beyond that window a
 * lane is first in, first out (`capabilities.exactOrder` is false). See docs/engines/nats.md#jobs.
 *
 * `@nats-io/*` are optional peer dependencies, imported when a queue first connects.
 */
import { createHash, randomBytes } from 'node:crypto'
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import type { KV, KvEntry } from '@nats-io/kv'
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node'
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
  ScheduleRecord,
  WaitRequest,
} from '../../core/job-queue.js'
import { createLogger, type Logger } from '../../core/logger.js'
import {
  DEFAULT_NATS_API_TIMEOUT_MS,
  DEFAULT_NATS_REPLICAS,
  closeConnection,
  encodeToken,
  isConsumerNotFound,
  isStreamNotFound,
  isWrongLastSequence,
  loadNats,
  nanos,
  openConnection,
  parseAckSubject,
  type NatsConnectionOptions,
  type OpenConnection,
} from './connection.js'

/** Default KV bucket of job records, dedup keys and schedules. */
export const DEFAULT_NATS_JOB_BUCKET = 'tidings_jobs'
/** Default name of the work-queue stream that carries deliveries. */
export const DEFAULT_NATS_WORK_STREAM = 'TIDINGS_JOBS'
/** Default subject prefix of the work stream (`<prefix>.lane.<queue>.<name>`) and of wake-ups (`<prefix>.wake`). */
export const DEFAULT_NATS_WORK_SUBJECT_PREFIX = 'tidings.jobs'
/** Default time finished (succeeded, failed, cancelled) records are kept: one day. */
export const DEFAULT_NATS_JOB_RETENTION_MS = 24 * 60 * 60 * 1000
/** Default most messages one `lease` call pulls from one lane: the window within which priority order holds. */
export const DEFAULT_NATS_SCAN_PER_LANE = 64
/** Default ack wait of the lane consumers: how soon a message comes back when a `lease` call died holding it. */
export const DEFAULT_NATS_ACK_WAIT_MS = 30_000
/** Default interval between two retention sweeps of one queue instance (each one scans the bucket). */
export const DEFAULT_NATS_PRUNE_INTERVAL_MS = 60_000
/** Added to every nak delay, so that a job is due (or its lease expired) when its message comes back. */
const NAK_SLACK_MS = 5
/** How soon a message whose record is not written yet is looked at again. */
const RECHECK_MS = 250
/** Duplicate window of the work stream: a message published twice within it (same id and generation) is stored once. */
const WORK_DUPLICATE_WINDOW_MS = 2 * 60 * 1000
/** Age after which a message whose record never reached its generation is dropped; longer than the duplicate window. */
const ABANDON_AFTER_MS = 5 * 60 * 1000
/** A schedule tick claimed this long ago whose job was never enqueued (its claimer died) is enqueued by the next claimer. */
const PENDING_TICK_RECOVERY_MS = 30_000
/** Most messages one pull of a bucket scan asks for. */
const SCAN_BATCH = 1_000
/** A scan's consumer is removed by the server this long after its scan died without deleting it. */
const SCAN_INACTIVE_MS = 30_000
/** Most revision conflicts one operation tolerates before it gives up. */
const MAX_CONFLICTS = 100

const NAME_RE = /^[A-Za-z0-9_-]{1,64}$/
const SUBJECT_PREFIX_RE = /^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,7}$/

/** Options of {@link NatsJobQueue}. */
export interface NatsJobQueueOptions extends NatsConnectionOptions {
  /** KV bucket of records; created if missing. @defaultValue {@link DEFAULT_NATS_JOB_BUCKET} */
  bucket?: string
  /** Work-queue stream; created if missing. @defaultValue {@link DEFAULT_NATS_WORK_STREAM} */
  workStream?: string
  /** Subject prefix of the work stream and of wake-ups; must not overlap another stream's subjects. @defaultValue {@link DEFAULT_NATS_WORK_SUBJECT_PREFIX} */
  workSubjectPrefix?: string
  /** How long finished records are kept, in milliseconds. @defaultValue {@link DEFAULT_NATS_JOB_RETENTION_MS} */
  retentionMs?: number
  /** Most messages one `lease` call pulls from one lane. @defaultValue {@link DEFAULT_NATS_SCAN_PER_LANE} */
  scanPerLane?: number
  /** Ack wait of the lane consumers, in milliseconds. @defaultValue {@link DEFAULT_NATS_ACK_WAIT_MS} */
  ackWaitMs?: number
  /** Interval between retention sweeps, in milliseconds. @defaultValue {@link DEFAULT_NATS_PRUNE_INTERVAL_MS} */
  pruneIntervalMs?: number
  /** Stream and bucket replicas (on a cluster: 1, 3 or 5). @defaultValue {@link DEFAULT_NATS_REPLICAS} */
  replicas?: number
}

/** A job as the bucket stores it; times in epoch milliseconds. */
interface StoredJob {
  readonly id: string
  readonly name: string
  readonly queue: string
  readonly payload: unknown
  readonly priority: number
  readonly key: string | null
  readonly owner: JobOwner | null
  readonly maxAttempts: number
  readonly enqueuedAt: number
  readonly status: JobStatus
  readonly attempts: number
  readonly runAt: number
  readonly startedAt: number | null
  readonly finishedAt: number | null
  readonly durationMs: number | null
  readonly progress: JobProgress | null
  readonly result: unknown
  readonly error: JobError | null
  readonly workerId: string | null
  readonly token: string | null
  readonly leaseExpiresAt: number | null
  readonly cancelRequestedAt: number | null
  readonly updatedAt: number
  /** Generation of the job's delivery message: bumped by every transition that publishes a new one. */
  readonly gen: number
  /** Set while an enqueue with a dedup key has not won the key yet: the job is not leasable. */
  readonly hold?: boolean
  /** Ack subject of the delivery that leased the job, to ack its message when the job finishes. */
  readonly ack?: string | null
}

/** A stored schedule; `pending` is a claimed tick whose job may not be enqueued yet. */
interface StoredSchedule extends ScheduleRecord {
  readonly pending: { readonly job: StoredNewJob; readonly claimedAt: number } | null
}

/** A {@link NewJob} as JSON. */
interface StoredNewJob extends Omit<NewJob, 'enqueuedAt' | 'runAt'> {
  readonly enqueuedAt: number
  readonly runAt: number
}

/** The body of a delivery message. */
interface WorkMessage {
  readonly id: string
  readonly gen: number
}

/** A record and the revision it was read at. */
interface Versioned<T> {
  readonly value: T
  readonly revision: number
}

interface Waiter {
  readonly lanes: ReadonlySet<string>
  readonly wake: () => void
}

/** The parts of a connection this queue uses. */
interface Live {
  readonly conn: OpenConnection
  readonly jsm: JetStreamManager
  readonly js: JetStreamClient
  readonly kv: KV
  readonly wakeSub: Subscription
}

/** A message `lease` pulled whose job is due for a lease: waiting and due, or running with an expired lease and attempts left. */
interface Pulled {
  readonly msg: Msg
  readonly job: Versioned<StoredJob>
  /** The job was running: its worker's lease expired and this lease takes it over. */
  readonly takeover: boolean
}

const WAITING: ReadonlySet<JobStatus> = new Set(['delayed', 'queued', 'retrying'])
const FINISHED: ReadonlySet<JobStatus> = new Set(FINISHED_STATUSES)
const iso = (ms: number): string => new Date(ms).toISOString()
const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms))
const encoder = new TextEncoder()

/** A JobQueue on NATS JetStream: records in KV, deliveries and timers on a work-queue stream. */
export class NatsJobQueue implements JobQueue {
  readonly engine = 'nats'
  readonly capabilities: JobQueueCapabilities = { durable: true, wakeUps: true, exactOrder: false }
  /** The KV bucket's name. */
  readonly bucket: string
  /** The work stream's name. */
  readonly workStream: string
  /** The work stream's subject prefix. */
  readonly workSubjectPrefix: string
  readonly #options: NatsJobQueueOptions
  readonly #retentionMs: number
  readonly #scanPerLane: number
  readonly #ackWaitMs: number
  readonly #pruneIntervalMs: number
  readonly #apiTimeoutMs: number
  readonly #logger: Logger
  readonly #lostError: JobError
  #live: Live | undefined
  #ready: Promise<Live> | undefined
  readonly #consumers = new Map<string, Promise<string>>()
  readonly #waiters = new Set<Waiter>()
  /** Wake-ups received per lane, and how many of them the last `lease` of that lane had seen. */
  readonly #wakes = new Map<string, number>()
  readonly #seen = new Map<string, number>()
  #lastPrune = Date.now()
  #closed = false

  constructor(options: NatsJobQueueOptions = {}) {
    this.#options = options
    this.bucket = options.bucket ?? DEFAULT_NATS_JOB_BUCKET
    this.workStream = options.workStream ?? DEFAULT_NATS_WORK_STREAM
    this.workSubjectPrefix = options.workSubjectPrefix ?? DEFAULT_NATS_WORK_SUBJECT_PREFIX
    this.#retentionMs = options.retentionMs ?? DEFAULT_NATS_JOB_RETENTION_MS
    this.#scanPerLane = options.scanPerLane ?? DEFAULT_NATS_SCAN_PER_LANE
    this.#ackWaitMs = options.ackWaitMs ?? DEFAULT_NATS_ACK_WAIT_MS
    this.#pruneIntervalMs = options.pruneIntervalMs ?? DEFAULT_NATS_PRUNE_INTERVAL_MS
    this.#apiTimeoutMs = options.apiTimeoutMs ?? DEFAULT_NATS_API_TIMEOUT_MS
    this.#logger = options.logger ?? createLogger().child({ engine: 'nats', port: 'jobs' })
    const invalid = (detail: string): TidingsError => new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail })
    if (!NAME_RE.test(this.bucket)) throw invalid('nats bucket must be 1–64 characters of [A-Za-z0-9_-]')
    if (!NAME_RE.test(this.workStream)) throw invalid('nats workStream must be 1–64 characters of [A-Za-z0-9_-]')
    if (!SUBJECT_PREFIX_RE.test(this.workSubjectPrefix)) throw invalid('nats workSubjectPrefix must be 1–8 dot-separated tokens of [A-Za-z0-9_-]')
    if (!(this.#retentionMs > 0)) throw invalid('retentionMs must be positive')
    for (const [name, value] of [
      ['scanPerLane', this.#scanPerLane],
      ['ackWaitMs', this.#ackWaitMs],
      ['pruneIntervalMs', this.#pruneIntervalMs],
      ['apiTimeoutMs', this.#apiTimeoutMs],
      ['replicas', options.replicas ?? DEFAULT_NATS_REPLICAS],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < 1) throw invalid(`nats ${name} must be a positive integer`)
    }
    const lost = new TidingsError('TIDINGS_ERR_JOB_WORKER_LOST')
    this.#lostError = { message: lost.message, code: lost.code, stack: null }
  }

  /** Connects, creates the bucket and the work stream if missing, and subscribes to wake-ups. Idempotent. */
  async ready(): Promise<void> {
    await this.#connect()
  }

  /** The subject of a (queue, job name) lane in the work stream. */
  laneSubject(queue: string, name: string): string {
    return `${this.workSubjectPrefix}.lane.${encodeToken(queue)}.${encodeToken(name)}`
  }

  async enqueue(input: NewJob): Promise<EnqueueResult> {
    const live = await this.#connect()
    this.#maybePrune()
    if (input.key !== null) {
      const existing = await this.#byKey(live, input.key)
      if (existing !== null) return { job: this.#view(existing.value), created: false }
    }
    const now = Date.now()
    let record: StoredJob = {
      id: input.id,
      name: input.name,
      queue: input.queue,
      payload: input.payload ?? null,
      priority: input.priority,
      key: input.key,
      owner: input.owner === null ? null : { user: input.owner.user, tenant: input.owner.tenant },
      maxAttempts: input.maxAttempts,
      enqueuedAt: input.enqueuedAt.getTime(),
      status: input.runAt.getTime() > now ? 'delayed' : 'queued',
      attempts: 0,
      runAt: input.runAt.getTime(),
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
      gen: 1,
      ...(input.key === null ? {} : { hold: true }),
    }
    await this.#publishWork(live, record)
    let revision: number
    try {
      revision = await live.kv.create(jobKey(record.id), encode(record))
    } catch (err) {
      if (isWrongLastSequence(err)) throw new TidingsError('TIDINGS_ERR_INTERNAL', { detail: `duplicate job id ${record.id}` })
      throw err
    }
    if (input.key !== null) {
      const winner = await this.#claimKey(live, input.key, record.id)
      if (winner !== null) {
        await live.kv.delete(jobKey(record.id), { previousSeq: revision }).catch(() => undefined)
        return { job: this.#view(winner.value), created: false }
      }
      const { hold: _hold, ...visible } = record
      record = visible
      await live.kv.update(jobKey(record.id), encode(record), revision)
    }
    if (record.status === 'queued') this.#announce(live, record)
    return { job: this.#view(record), created: true }
  }

  async lease(request: LeaseRequest): Promise<LeaseResult> {
    const live = await this.#connect()
    const lanes = this.#lanes(request)
    for (const lane of lanes) this.#seen.set(lane, this.#wakes.get(lane) ?? 0)
    const limit = Math.max(0, Math.floor(request.limit))
    if (lanes.length === 0 || limit === 0) return { leases: [], lost: [] }
    const pulled = (await Promise.all(lanes.map((lane) => this.#pull(live, lane, Math.max(limit, this.#scanPerLane))))).flat()
    const now = Date.now()
    const lost: JobRecord[] = []
    const candidates: Pulled[] = []
    await Promise.all(
      pulled.map(async (msg) => {
        const verdict = await this.#examine(live, msg, now)
        if (verdict === null) return
        if ('msg' in verdict) candidates.push(verdict)
        else lost.push(verdict)
      }),
    )
    candidates.sort((a, b) => dueBefore(a, b, now))
    const leases: JobLease[] = []
    let next = 0
    while (leases.length < limit && next < candidates.length) {
      const batch = candidates.slice(next, next + (limit - leases.length))
      next += batch.length
      const taken = await Promise.all(batch.map((c) => this.#take(live, c, request, now)))
      for (const l of taken) if (l !== null) leases.push(l)
    }
    const rest = candidates.slice(next)
    for (const c of rest) this.#settle(c.msg, '-NAK')
    if (rest.length > 0) this.#announce(live, rest[0]!.job.value)
    return { leases, lost }
  }

  waitForJobs(request: WaitRequest, maxWaitMs: number, signal: AbortSignal): Promise<void> {
    if (this.#closed || signal.aborted) return Promise.resolve()
    const lanes = new Set(this.#lanes(request))
    for (const lane of lanes) {
      // A wake-up that arrived since the last lease of this lane looked.
      if ((this.#wakes.get(lane) ?? 0) > (this.#seen.get(lane) ?? 0)) return Promise.resolve()
    }
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        this.#waiters.delete(waiter)
        resolve()
      }
      const waiter: Waiter = { lanes, wake: done }
      const timer = setTimeout(done, maxWaitMs)
      signal.addEventListener('abort', done, { once: true })
      this.#waiters.add(waiter)
      this.#connect().catch(() => done())
    })
  }

  async heartbeat(leases: readonly LeaseRef[], leaseMs: number): Promise<HeartbeatResult[]> {
    const live = await this.#connect()
    return Promise.all(
      leases.map(async (ref): Promise<HeartbeatResult> => {
        let cancelRequested = false
        const res = await this.#update(live, ref.id, (job, now) => {
          if (job.status !== 'running' || job.token !== ref.token) return null
          cancelRequested = job.cancelRequestedAt !== null
          return { ...job, leaseExpiresAt: now + leaseMs, updatedAt: now }
        })
        return res === null ? { id: ref.id, held: false, cancelRequested: false } : { id: ref.id, held: true, cancelRequested }
      }),
    )
  }

  async setProgress(lease: LeaseRef, progress: JobProgress): Promise<void> {
    await this.#held(lease, (job, now) => ({ ...job, progress, updatedAt: now }))
  }

  async complete(lease: LeaseRef, result: unknown): Promise<JobRecord> {
    const job = await this.#held(lease, (j, now) => finish(j, 'succeeded', now, { result: result === undefined ? null : result, error: null }))
    return this.#view(job)
  }

  async fail(lease: LeaseRef, error: JobError, retryAt: Date | null): Promise<JobRecord> {
    if (retryAt === null) return this.#view(await this.#held(lease, (j, now) => finish(j, 'failed', now, { error })))
    const live = await this.#connect()
    const job = await this.#held(
      lease,
      (j, now) => ({
        ...j,
        status: 'retrying',
        error,
        durationMs: now - j.startedAt!,
        workerId: null,
        token: null,
        leaseExpiresAt: null,
        runAt: retryAt.getTime(),
        updatedAt: now,
        gen: j.gen + 1,
        ack: null,
      }),
      true,
    )
    if (job.runAt <= Date.now()) this.#announce(live, job)
    return this.#view(job)
  }

  async confirmCancel(lease: LeaseRef): Promise<JobRecord> {
    return this.#view(await this.#held(lease, (j, now) => finish(j, 'cancelled', now, {})))
  }

  async release(lease: LeaseRef): Promise<JobRecord> {
    const live = await this.#connect()
    const job = await this.#held(
      lease,
      (j, now) => ({
        ...j,
        status: 'queued',
        attempts: Math.max(0, j.attempts - 1),
        workerId: null,
        token: null,
        leaseExpiresAt: null,
        runAt: now,
        updatedAt: now,
        gen: j.gen + 1,
        ack: null,
      }),
      true,
    )
    this.#announce(live, job)
    return this.#view(job)
  }

  async cancel(id: string): Promise<CancelResult | null> {
    const live = await this.#connect()
    let outcome: CancelResult['outcome'] = 'finished'
    let found = false
    let unchanged: StoredJob | null = null
    const job = await this.#update(live, id, (j, now) => {
      if (j.hold === true) return null
      found = true
      if (WAITING.has(j.status)) {
        outcome = 'cancelled'
        return finish(j, 'cancelled', now, { duration: false })
      }
      if (j.status === 'running') {
        outcome = 'requested'
        return { ...j, cancelRequestedAt: j.cancelRequestedAt ?? now, updatedAt: now }
      }
      outcome = 'finished'
      unchanged = j
      return null
    })
    if (!found) return null
    return { outcome, job: this.#view(job ?? unchanged!) }
  }

  async retry(id: string, runAt: Date): Promise<JobRecord> {
    const live = await this.#connect()
    const at = runAt.getTime()
    for (let i = 0; i < MAX_CONFLICTS; i++) {
      const current = await this.#get(live, id)
      if (current === null || current.value.hold === true) throw new TidingsError('TIDINGS_ERR_JOB_NOT_FOUND', { detail: `job ${id}` })
      const j = current.value
      if (j.status !== 'failed' && j.status !== 'cancelled') throw new TidingsError('TIDINGS_ERR_JOB_NOT_RETRYABLE', { detail: `job ${id} is ${j.status}` })
      const now = Date.now()
      const next: StoredJob = {
        ...j,
        attempts: 0,
        error: null,
        result: null,
        progress: null,
        startedAt: null,
        finishedAt: null,
        durationMs: null,
        cancelRequestedAt: null,
        runAt: at,
        status: at > now ? 'delayed' : 'queued',
        updatedAt: now,
        gen: j.gen + 1,
        ack: null,
      }
      await this.#publishWork(live, next)
      try {
        await live.kv.update(jobKey(id), encode(next), current.revision)
      } catch (err) {
        if (isWrongLastSequence(err)) continue
        throw err
      }
      if (next.status === 'queued') this.#announce(live, next)
      return this.#view(next)
    }
    throw this.#tooManyConflicts(id)
  }

  async get(id: string): Promise<JobRecord | null> {
    const live = await this.#connect()
    const got = await this.#get(live, id)
    return got === null ? null : this.#view(got.value)
  }

  async list(filter: JobFilter, page: PageRequest): Promise<JobPage> {
    const before = parseListCursor(page.cursor)
    const live = await this.#connect()
    this.#maybePrune()
    const now = Date.now()
    const statuses = filter.status && filter.status.length > 0 ? new Set(filter.status) : null
    const all = (await this.#scan<StoredJob>(live, 'job.>')).map((e) => e.value)
    const matching = all
      .filter((j) => j.hold !== true)
      .filter((j) => before === null || listOrder(j, before) < 0)
      .filter((j) => filter.name === undefined || j.name === filter.name)
      .filter((j) => filter.queue === undefined || j.queue === filter.queue)
      .filter((j) => filter.user === undefined || j.owner?.user === filter.user)
      .filter((j) => filter.tenant === undefined || (j.owner?.tenant ?? null) === filter.tenant)
      .filter((j) => statuses === null || statuses.has(statusAt(j, now)))
      .sort((a, b) => listOrder(b, a))
    const limit = Math.max(0, Math.floor(page.limit))
    const jobs = matching.slice(0, limit)
    const last = jobs[jobs.length - 1]
    return { jobs: jobs.map((j) => this.#view(j, now)), next: matching.length > limit && last !== undefined ? `${last.enqueuedAt}:${last.id}` : null }
  }

  async prune(before: Date): Promise<number> {
    return this.#prune(await this.#connect(), before.getTime())
  }

  async putSchedule(input: ScheduleInput): Promise<ScheduleRecord> {
    const live = await this.#connect()
    const key = scheduleKey(input.name)
    for (let i = 0; i < MAX_CONFLICTS; i++) {
      const current = await this.#getSchedule(live, input.name)
      const old = current?.value
      const now = iso(Date.now())
      const same =
        old !== undefined &&
        old.cron === input.cron &&
        old.timezone === input.timezone &&
        old.job === input.job &&
        old.enabled === input.enabled &&
        JSON.stringify(old.payload) === JSON.stringify(input.payload)
      if (same) return scheduleView(old)
      const record: StoredSchedule = {
        name: input.name,
        cron: input.cron,
        timezone: input.timezone,
        job: input.job,
        payload: input.payload ?? null,
        enabled: input.enabled,
        lastRunAt: old?.lastRunAt ?? null,
        lastJobId: old?.lastJobId ?? null,
        nextRunAt: input.nextRunAt === null ? null : input.nextRunAt.toISOString(),
        revision: (old?.revision ?? 0) + 1,
        createdAt: old?.createdAt ?? now,
        updatedAt: now,
        pending: old?.pending ?? null,
      }
      try {
        if (current === null) await live.kv.create(key, encode(record))
        else await live.kv.update(key, encode(record), current.revision)
      } catch (err) {
        if (isWrongLastSequence(err)) continue
        throw err
      }
      return scheduleView(record)
    }
    throw this.#tooManyConflicts(`schedule ${input.name}`)
  }

  async getSchedule(name: string): Promise<ScheduleRecord | null> {
    const got = await this.#getSchedule(await this.#connect(), name)
    return got === null ? null : scheduleView(got.value)
  }

  async listSchedules(): Promise<ScheduleRecord[]> {
    const all = await this.#scan<StoredSchedule>(await this.#connect(), 'schedule.>')
    return all.map((e) => scheduleView(e.value)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  }

  async deleteSchedule(name: string): Promise<boolean> {
    const live = await this.#connect()
    const got = await this.#getSchedule(live, name)
    if (got === null) return false
    try {
      await live.kv.delete(scheduleKey(name), { previousSeq: got.revision })
      return true
    } catch (err) {
      if (isWrongLastSequence(err)) return this.deleteSchedule(name)
      throw err
    }
  }

  async claimScheduleTick(name: string, revision: number, tick: Date, nextRunAt: Date | null, job: NewJob): Promise<JobRecord | null> {
    const live = await this.#connect()
    const key = scheduleKey(name)
    for (let i = 0; i < MAX_CONFLICTS; i++) {
      const current = await this.#getSchedule(live, name)
      if (current === null) return null
      const s = current.value
      const now = Date.now()
      if (s.pending !== null && now - s.pending.claimedAt > PENDING_TICK_RECOVERY_MS) {
        await this.#finishTick(live, name, s.pending.job)
        continue
      }
      if (s.revision !== revision || !s.enabled) return null
      if (s.lastRunAt !== null && Date.parse(s.lastRunAt) >= tick.getTime()) return null
      const claimed: StoredSchedule = {
        ...s,
        lastRunAt: tick.toISOString(),
        lastJobId: job.id,
        nextRunAt: nextRunAt === null ? null : nextRunAt.toISOString(),
        updatedAt: iso(now),
        pending: { job: { ...job, enqueuedAt: job.enqueuedAt.getTime(), runAt: job.runAt.getTime() }, claimedAt: now },
      }
      try {
        await live.kv.update(key, encode(claimed), current.revision)
      } catch (err) {
        if (isWrongLastSequence(err)) continue
        throw err
      }
      // This process won the tick; enqueue its job, then clear the claim.
      const { job: record, created } = await this.#finishTick(live, name, claimed.pending!.job)
      return created || record.id === job.id ? record : null
    }
    throw this.#tooManyConflicts(`schedule ${name}`)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const w of [...this.#waiters]) w.wake()
    const ready = this.#ready
    this.#ready = undefined
    const live = this.#live ?? (await ready?.catch(() => undefined))
    live?.wakeSub.unsubscribe()
    await closeConnection(live?.conn)
  }

  /** Enqueues a claimed tick's job (idempotently, by id and key) and clears the claim. */
  async #finishTick(live: Live, name: string, pending: StoredNewJob): Promise<EnqueueResult> {
    let result: EnqueueResult
    try {
      result = await this.enqueue({ ...pending, enqueuedAt: new Date(pending.enqueuedAt), runAt: new Date(pending.runAt) })
    } catch (err) {
      const existing = await this.#get(live, pending.id)
      if (existing === null) throw err
      result = { job: this.#view(existing.value), created: false }
    }
    for (let i = 0; i < MAX_CONFLICTS; i++) {
      const current = await this.#getSchedule(live, name)
      if (current === null || current.value.pending?.job.id !== pending.id) break
      const s = current.value
      const cleared: StoredSchedule = { ...s, pending: null, lastJobId: s.lastJobId === pending.id ? result.job.id : s.lastJobId }
      try {
        await live.kv.update(scheduleKey(name), encode(cleared), current.revision)
        break
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err
      }
    }
    return result
  }

  /**
   * Looks at one pulled message and settles it unless it is a candidate for a lease: acks a stale
   * or finished one, naks one that is not due yet until it is, and ends a job whose worker was
   * lost with no attempt left (its record is returned).
   */
  async #examine(live: Live, msg: Msg, now: number): Promise<Pulled | JobRecord | null> {
    let work: WorkMessage
    try {
      work = JSON.parse(msg.string()) as WorkMessage
      if (typeof work.id !== 'string' || typeof work.gen !== 'number') throw new Error('not a work message')
    } catch (err) {
      this.#logger.warn({ err, subject: msg.subject }, 'dropping a message of the work stream that is not a Tidings delivery')
      this.#settle(msg, '+TERM')
      return null
    }
    const entry = await live.kv.get(jobKey(work.id))
    if (entry !== null && entry.operation !== 'PUT') {
      this.#settle(msg, '+ACK')
      return null
    }
    const job = entry === null ? null : entry.json<StoredJob>()
    if (job === null || job.gen < work.gen || job.hold === true) {
      // The record may still be on its way: look again shortly, up to a limit.
      const storedAt = parseAckSubject(msg.reply)?.storedAtMs ?? now
      this.#settle(msg, now - storedAt > ABANDON_AFTER_MS ? '+ACK' : nak(RECHECK_MS))
      return null
    }
    if (job.gen > work.gen || FINISHED.has(job.status)) {
      this.#settle(msg, '+ACK')
      return null
    }
    if (WAITING.has(job.status)) {
      if (job.runAt > now) {
        this.#settle(msg, nak(job.runAt - now + NAK_SLACK_MS))
        return null
      }
      return { msg, job: { value: job, revision: entry!.revision }, takeover: false }
    }
    if (job.leaseExpiresAt! > now) {
      this.#settle(msg, nak(job.leaseExpiresAt! - now + NAK_SLACK_MS))
      return null
    }
    if (job.attempts < job.maxAttempts) return { msg, job: { value: job, revision: entry!.revision }, takeover: true }
    const failed = finish(job, 'failed', now, { error: this.#lostError })
    try {
      await live.kv.update(jobKey(job.id), encode(failed), entry!.revision)
    } catch (err) {
      if (!isWrongLastSequence(err)) throw err
      // Someone changed it meanwhile (a heartbeat, a takeover): look again at once.
      this.#settle(msg, '-NAK')
      return null
    }
    this.#settle(msg, '+ACK')
    return this.#view(failed, now)
  }

  /** Leases one candidate if its record is still what the candidate saw; hands the message back otherwise. */
  async #take(live: Live, c: Pulled, request: LeaseRequest, now: number): Promise<JobLease | null> {
    const current = c.job
    const j = current.value
    const token = randomBytes(9).toString('base64url')
    const leased: StoredJob = {
      ...j,
      status: 'running',
      attempts: j.attempts + 1,
      runAt: c.takeover ? now : j.runAt,
      startedAt: now,
      finishedAt: null,
      durationMs: null,
      progress: null,
      workerId: request.workerId,
      token,
      leaseExpiresAt: now + request.leaseMs,
      updatedAt: now,
      ack: c.msg.reply ?? null,
    }
    try {
      await live.kv.update(jobKey(j.id), encode(leased), current.revision)
    } catch (err) {
      this.#settle(c.msg, '-NAK')
      if (isWrongLastSequence(err)) return null
      throw err
    }
    // The message comes back when the lease expires: a heartbeat will have moved it on, or the job is taken over.
    this.#settle(c.msg, nak(request.leaseMs + NAK_SLACK_MS))
    const job = this.#view(leased, now)
    return { id: j.id, token, attempt: leased.attempts, job }
  }

  /**
   * Changes a running job whose lease `ref` holds; throws `TIDINGS_ERR_JOB_LEASE_LOST` otherwise.
   * With `republish`, the change makes the job wait again: its next-generation message goes out
   * first. A change that finishes the job acks its delivery message.
   */
  async #held(ref: LeaseRef, change: (job: StoredJob, now: number) => StoredJob, republish = false): Promise<StoredJob> {
    const live = await this.#connect()
    for (let i = 0; i < MAX_CONFLICTS; i++) {
      const current = await this.#get(live, ref.id)
      const j = current?.value
      if (current === null || j === undefined || j.status !== 'running' || j.token !== ref.token) {
        throw new TidingsError('TIDINGS_ERR_JOB_LEASE_LOST', { detail: `job ${ref.id}` })
      }
      const next = change(j, Date.now())
      if (republish) await this.#publishWork(live, next)
      try {
        await live.kv.update(jobKey(ref.id), encode(next), current.revision)
      } catch (err) {
        if (isWrongLastSequence(err)) continue
        throw err
      }
      if (j.ack && (FINISHED.has(next.status) || next.gen !== j.gen)) this.#ackSubject(live, j.ack)
      return next
    }
    throw this.#tooManyConflicts(ref.id)
  }

  /** Read, change, write with the revision read, again on a conflict. `change` returning null writes nothing; so does a missing record. */
  async #update(live: Live, id: string, change: (job: StoredJob, now: number) => StoredJob | null): Promise<StoredJob | null> {
    for (let i = 0; i < MAX_CONFLICTS; i++) {
      const current = await this.#get(live, id)
      if (current === null) return null
      const next = change(current.value, Date.now())
      if (next === null) return null
      try {
        await live.kv.update(jobKey(id), encode(next), current.revision)
        return next
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err
      }
    }
    throw this.#tooManyConflicts(id)
  }

  async #get(live: Live, id: string): Promise<Versioned<StoredJob> | null> {
    return versioned<StoredJob>(await live.kv.get(jobKey(id)))
  }

  async #getSchedule(live: Live, name: string): Promise<Versioned<StoredSchedule> | null> {
    return versioned<StoredSchedule>(await live.kv.get(scheduleKey(name)))
  }

  /** The retained record holding a dedup key, or null. */
  async #byKey(live: Live, key: string): Promise<Versioned<StoredJob> | null> {
    const entry = versioned<string>(await live.kv.get(dedupKey(key)))
    if (entry === null) return null
    const job = await this.#get(live, entry.value)
    return job !== null && job.value.key === key ? job : null
  }

  /** Makes `id` the holder of `key`; null when it won, else the record that holds the key. */
  async #claimKey(live: Live, key: string, id: string): Promise<Versioned<StoredJob> | null> {
    for (let i = 0; i < MAX_CONFLICTS; i++) {
      try {
        await live.kv.create(dedupKey(key), encode(id))
        return null
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err
      }
      const entry = versioned<string>(await live.kv.get(dedupKey(key)))
      if (entry === null) continue
      const holder = await this.#get(live, entry.value)
      if (holder !== null && holder.value.key === key && holder.value.id !== id) return holder
      // The key points at a record that is gone (pruned, or an enqueue that died): take it over.
      try {
        await live.kv.update(dedupKey(key), encode(id), entry.revision)
        return null
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err
      }
    }
    throw this.#tooManyConflicts(`key ${key}`)
  }

  /** Publishes a job's delivery message of its current generation (stored once within the duplicate window). */
  async #publishWork(live: Live, job: StoredJob): Promise<void> {
    const body: WorkMessage = { id: job.id, gen: job.gen }
    await live.js.publish(this.laneSubject(job.queue, job.name), JSON.stringify(body), {
      msgID: `${job.id}:${job.gen}`,
      expect: { streamName: this.workStream },
      timeout: this.#apiTimeoutMs,
    })
  }

  /** Tells every instance's waiting workers of the lane that a job may be ready (a hint over core NATS). */
  #announce(live: Live, job: StoredJob): void {
    try {
      live.conn.nc.publish(`${this.workSubjectPrefix}.wake`, this.laneSubject(job.queue, job.name))
    } catch (err) {
      this.#logger.debug({ err }, 'nats job wake-up not sent')
    }
  }

  /** Pulls up to `batch` messages a lane has ready now, creating its consumer on first use. */
  async #pull(live: Live, lane: string, batch: number): Promise<Msg[]> {
    const consumer = await this.#consumer(live, lane)
    const { messages, status } = await pullNow(live.conn.nc, this.workStream, consumer, batch, this.#apiTimeoutMs)
    // Nobody answered: the consumer is gone (its stream was deleted); make it again next time.
    if (status === 503) this.#consumers.delete(lane)
    return messages
  }

  /** The durable pull consumer of a lane; created if missing. */
  #consumer(live: Live, lane: string): Promise<string> {
    let p = this.#consumers.get(lane)
    if (p === undefined) {
      p = (async () => {
        const { jetstream } = await loadNats()
        const name = `lane_${createHash('sha256').update(lane).digest('hex').slice(0, 40)}`
        try {
          await live.jsm.consumers.info(this.workStream, name)
          return name
        } catch (err) {
          if (!isConsumerNotFound(err) && !isStreamNotFound(err)) throw err
          if (isStreamNotFound(err)) await this.#ensureWorkStream(live)
        }
        try {
          await live.jsm.consumers.add(this.workStream, {
            durable_name: name,
            filter_subject: lane,
            ack_policy: jetstream.AckPolicy.Explicit,
            ack_wait: nanos(this.#ackWaitMs),
            max_deliver: -1,
            max_ack_pending: -1,
            deliver_policy: jetstream.DeliverPolicy.All,
          })
        } catch (err) {
          // Another process created it first.
          await live.jsm.consumers.info(this.workStream, name).catch(() => Promise.reject(err))
        }
        return name
      })()
      this.#consumers.set(lane, p)
      p.catch(() => this.#consumers.delete(lane))
    }
    return p
  }

  /**
   * Every live value under `filter` (a KV key pattern), read in one pass over the bucket's stream:
   * an ephemeral consumer delivering the last message per key, drained with `no_wait` pulls.
   */
  async #scan<T>(live: Live, filter: string): Promise<Versioned<T>[]> {
    const { jetstream } = await loadNats()
    const stream = `KV_${this.bucket}`
    const info = await live.jsm.consumers.add(stream, {
      filter_subject: `$KV.${this.bucket}.${filter}`,
      deliver_policy: jetstream.DeliverPolicy.LastPerSubject,
      ack_policy: jetstream.AckPolicy.None,
      inactive_threshold: nanos(SCAN_INACTIVE_MS),
      mem_storage: true,
      num_replicas: 1,
    })
    const out: Versioned<T>[] = []
    try {
      let left = info.num_pending
      while (left > 0) {
        const { messages } = await pullNow(live.conn.nc, stream, info.name, Math.min(left, SCAN_BATCH), this.#apiTimeoutMs)
        if (messages.length === 0) break
        left -= messages.length
        for (const m of messages) {
          const op = m.headers?.get('KV-Operation')
          const seq = parseAckSubject(m.reply)?.streamSeq ?? 0
          if (op !== 'DEL' && op !== 'PURGE' && m.data.length > 0) out.push({ value: m.json<T>(), revision: seq })
        }
      }
    } finally {
      await live.jsm.consumers.delete(stream, info.name).catch(() => undefined)
    }
    return out
  }

  /** Removes finished records that finished before `before` (and enqueues that died holding a key); resolves to how many finished ones. */
  async #prune(live: Live, before: number): Promise<number> {
    let removed = 0
    const now = Date.now()
    for (const { value: j, revision } of await this.#scan<StoredJob>(live, 'job.>')) {
      const stale = j.hold === true && now - j.updatedAt > ABANDON_AFTER_MS
      if (!stale && !(FINISHED.has(j.status) && j.finishedAt! < before)) continue
      try {
        await live.kv.delete(jobKey(j.id), { previousSeq: revision })
      } catch (err) {
        if (isWrongLastSequence(err)) continue
        throw err
      }
      if (!stale) removed++
      if (j.key !== null) {
        const entry = versioned<string>(await live.kv.get(dedupKey(j.key)))
        if (entry !== null && entry.value === j.id) await live.kv.delete(dedupKey(j.key), { previousSeq: entry.revision }).catch(() => undefined)
      }
    }
    return removed
  }

  /** A retention sweep at most every `pruneIntervalMs`, in the background. */
  #maybePrune(): void {
    const now = Date.now()
    if (now - this.#lastPrune < this.#pruneIntervalMs || this.#live === undefined) return
    this.#lastPrune = now
    this.#prune(this.#live, now - this.#retentionMs).catch((err: unknown) => this.#logger.warn({ err }, 'nats job retention sweep failed'))
  }

  #settle(msg: Msg, body: string): void {
    if (msg.reply === undefined) return
    this.#ackSubject(this.#live, msg.reply, body)
  }

  #ackSubject(live: Live | undefined, subject: string, body = '+ACK'): void {
    if (live === undefined || live.conn.nc.isClosed()) return
    live.conn.nc.request(subject, body, { timeout: this.#apiTimeoutMs }).catch((err: unknown) => this.#logger.debug({ err }, 'nats work message not settled; it comes back after the ack wait'))
  }

  #lanes(request: WaitRequest): string[] {
    const lanes = new Set<string>()
    for (const q of request.queues) for (const n of request.names) lanes.add(this.laneSubject(q, n))
    return [...lanes]
  }

  #view(job: StoredJob, now = Date.now()): JobRecord {
    return {
      id: job.id,
      name: job.name,
      queue: job.queue,
      status: statusAt(job, now),
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

  #tooManyConflicts(what: string): TidingsError {
    return new TidingsError('TIDINGS_ERR_INTERNAL', { detail: `${what}: gave up after ${MAX_CONFLICTS} concurrent changes in a row` })
  }

  async #connect(): Promise<Live> {
    if (this.#closed) throw new TidingsError('TIDINGS_ERR_CLOSED', { detail: 'the job queue is closed' })
    if (this.#live !== undefined) return this.#live
    this.#ready ??= (async () => {
      const { jetstream, kv: kvModule } = await loadNats()
      const conn = await openConnection(this.#options, this.#logger, `tidings:${this.workStream}:jobs`)
      try {
        const jsm = await jetstream.jetstreamManager(conn.nc, { timeout: this.#apiTimeoutMs })
        const js = jsm.jetstream()
        const partial = { conn, jsm, js }
        await this.#ensureWorkStream(partial)
        const kv = await new kvModule.Kvm(js).create(this.bucket, {
          history: 1,
          replicas: this.#options.replicas ?? DEFAULT_NATS_REPLICAS,
          storage: jetstream.StorageType.File,
        })
        const wakeSub = conn.nc.subscribe(`${this.workSubjectPrefix}.wake`, {
          callback: (err, msg) => {
            if (err) return
            const lane = msg.string()
            this.#wakes.set(lane, (this.#wakes.get(lane) ?? 0) + 1)
            for (const w of [...this.#waiters]) if (w.lanes.has(lane)) w.wake()
          },
        })
        // After a reconnect, wake-ups may have been missed: every waiter looks again.
        void (async () => {
          for await (const s of conn.nc.status()) if (s.type === 'reconnect') for (const w of [...this.#waiters]) w.wake()
        })().catch(() => undefined)
        if (this.#closed) throw new TidingsError('TIDINGS_ERR_CLOSED', { detail: 'the job queue is closed' })
        const live: Live = { ...partial, kv, wakeSub }
        this.#live = live
        return live
      } catch (err) {
        await closeConnection(conn)
        throw err
      }
    })()
    this.#ready.catch(() => {
      this.#ready = undefined
    })
    return this.#ready
  }

  async #ensureWorkStream(live: Pick<Live, 'jsm'>): Promise<void> {
    const { jetstream } = await loadNats()
    try {
      await live.jsm.streams.info(this.workStream)
      return
    } catch (err) {
      if (!isStreamNotFound(err)) throw err
    }
    try {
      await live.jsm.streams.add({
        name: this.workStream,
        subjects: [`${this.workSubjectPrefix}.lane.>`],
        retention: jetstream.RetentionPolicy.Workqueue,
        storage: jetstream.StorageType.File,
        duplicate_window: nanos(WORK_DUPLICATE_WINDOW_MS),
        num_replicas: this.#options.replicas ?? DEFAULT_NATS_REPLICAS,
      })
    } catch (err) {
      await live.jsm.streams.info(this.workStream).catch(() => Promise.reject(err))
    }
  }
}

/**
 * One pull request with `no_wait`: the messages the consumer has for us right now (up to `batch`)
 * and the status that ended the answer (404/408: no more now; 503: no such consumer; 0: timed out).
 */
async function pullNow(nc: NatsConnection, stream: string, consumer: string, batch: number, timeoutMs: number): Promise<{ messages: Msg[]; status: number }> {
  const { transport } = await loadNats()
  const inbox = transport.createInbox()
  const sub = nc.subscribe(inbox)
  const messages: Msg[] = []
  let status = 0
  const timer = setTimeout(() => sub.unsubscribe(), timeoutMs)
  try {
    nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`, JSON.stringify({ batch, no_wait: true }), { reply: inbox })
    for await (const m of sub) {
      const code = m.headers?.code ?? 0
      if (m.data.length === 0 && code >= 100) {
        status = code
        break
      }
      messages.push(m)
      if (messages.length >= batch) break
    }
  } finally {
    clearTimeout(timer)
    sub.unsubscribe()
  }
  return { messages, status }
}

function encode(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value))
}

function versioned<T>(entry: KvEntry | null): Versioned<T> | null {
  if (entry === null || entry.operation !== 'PUT') return null
  return { value: entry.json<T>(), revision: entry.revision }
}

const jobKey = (id: string): string => `job.${encodeToken(id)}`
const dedupKey = (key: string): string => `key.${encodeToken(key)}`
const scheduleKey = (name: string): string => `schedule.${encodeToken(name)}`

function nak(delayMs: number): string {
  return `-NAK ${JSON.stringify({ delay: nanos(Math.max(0, Math.ceil(delayMs))) })}`
}

function statusAt(job: StoredJob, now: number): JobStatus {
  return job.status === 'delayed' && job.runAt <= now ? 'queued' : job.status
}

/** A job ended `status`: no lease any more, and its duration unless told otherwise. */
function finish(job: StoredJob, status: 'succeeded' | 'failed' | 'cancelled', now: number, fields: { result?: unknown; error?: JobError | null; duration?: boolean }): StoredJob {
  return {
    ...job,
    status,
    finishedAt: now,
    durationMs: fields.duration === false || job.startedAt === null ? null : now - job.startedAt,
    ...('result' in fields ? { result: fields.result } : {}),
    ...(fields.error !== undefined ? { error: fields.error } : {}),
    workerId: null,
    token: null,
    leaseExpiresAt: null,
    updatedAt: now,
    ack: null,
  }
}

/** Lease order: priority, then when the job became due, then enqueue order. */
function dueBefore(a: Pulled, b: Pulled, now: number): number {
  const x = a.job.value
  const y = b.job.value
  if (x.priority !== y.priority) return y.priority - x.priority
  const ra = a.takeover ? now : x.runAt
  const rb = b.takeover ? now : y.runAt
  if (ra !== rb) return ra - rb
  return listOrder(x, y)
}

/** Enqueue order: `enqueuedAt`, then id (UUIDv7 ids are time-ordered). */
function listOrder(a: Pick<StoredJob, 'enqueuedAt' | 'id'>, b: Pick<StoredJob, 'enqueuedAt' | 'id'>): number {
  if (a.enqueuedAt !== b.enqueuedAt) return a.enqueuedAt - b.enqueuedAt
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0
}

function parseListCursor(cursor: string | null | undefined): Pick<StoredJob, 'enqueuedAt' | 'id'> | null {
  if (cursor === undefined || cursor === null) return null
  const colon = cursor.indexOf(':')
  const enqueuedAt = Number(cursor.slice(0, colon))
  if (colon <= 0 || !Number.isSafeInteger(enqueuedAt) || colon === cursor.length - 1) {
    throw new TidingsError('TIDINGS_ERR_INVALID_CURSOR', { detail: 'not a cursor of this job list' })
  }
  return { enqueuedAt, id: cursor.slice(colon + 1) }
}

function scheduleView(s: StoredSchedule): ScheduleRecord {
  const { pending: _pending, ...view } = s
  return view
}
