/**
 * The Redis `JobQueue` (DESIGN §2), on Lua scripts of its own rather than BullMQ (see
 * docs/engines/redis.md#jobs-on-redis for why). A job is a hash; waiting jobs sit in two sorted
 * sets per (queue, job name) lane — `ready` by (priority, runAt, enqueue order) and `delayed` by
 * runAt — and running ones in a sorted set per queue by lease expiry. Each state transition is one
 * script (src/engines/redis/job-scripts.ts), hence atomic across every process that shares the
 * prefix. Workers wait on a pub/sub channel that every script which makes a job leasable publishes
 * to, plus a timer for the earliest delayed job or lease expiry.
 *
 * ioredis is an optional peer dependency, imported when the queue first connects.
 */
import { randomBytes } from 'node:crypto'
import type { Redis, RedisOptions } from 'ioredis'
import { ERROR_CODES, TidingsError, type ErrorCode } from '../../core/errors.js'
import type {
  CancelResult,
  EnqueueResult,
  HeartbeatResult,
  JobError,
  JobFilter,
  JobLease,
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
import { Coalescer } from '../../core/coalescer.js'
import { loadRedisClass } from './client.js'
import { DEFAULT_REDIS_PREFIX, DEFAULT_REDIS_URL } from './event-log.js'
import {
  CANCEL,
  CLAIM_TICK,
  COMPLETE,
  CONFIRM_CANCEL,
  DELETE_SCHEDULE,
  ENQUEUE,
  FAIL,
  GET,
  HEARTBEAT,
  JOB_SCRIPTS,
  LEASE,
  LIST,
  LIST_SCHEDULES,
  PRUNE,
  PUT_SCHEDULE,
  RELEASE,
  RETRY,
  SET_PROGRESS,
  WAIT_INFO,
} from './job-scripts.js'
import type { LuaScript } from './scripts.js'

/** Default time finished (succeeded, failed, cancelled) records are kept: one day. */
export const DEFAULT_REDIS_JOB_RETENTION_MS = 24 * 60 * 60 * 1000
/** Default most records one `list` call examines; a sparse filter gets a short page and a cursor past them. */
export const DEFAULT_REDIS_LIST_SCAN = 2_000
/** Default most expired leases, due delayed jobs or pruned records one script call handles; the rest wait for the next call. */
export const DEFAULT_REDIS_JOB_BATCH = 1_000
/** Shortest pause between two retention sweeps of one queue instance. */
const PRUNE_EVERY_MS = 1_000
/** Slack added to a wake-up timer, so that it does not fire a hair before the job is due. */
const TIMER_SLACK_MS = 1

const PREFIX_RE = /^[A-Za-z0-9_:.{}-]{1,100}$/

/** Options of {@link RedisJobQueue}. */
export interface RedisJobQueueOptions {
  /**
   * An ioredis client to use (it stays yours: `close()` does not quit it). The wake-up subscriber
   * opens its own connection with `client.duplicate()`.
   */
  client?: Redis
  /** Redis URL, when no `client` is given. @defaultValue `process.env.REDIS_URL`, else {@link DEFAULT_REDIS_URL} */
  url?: string
  /** ioredis options for the client the queue creates (ignored with `client`). */
  redis?: RedisOptions
  /**
   * Prefix of every key; the same as the event log's is fine (their keys do not overlap). Use a
   * hash tag (`{tidings}`) on Redis Cluster. @defaultValue {@link DEFAULT_REDIS_PREFIX}
   */
  prefix?: string
  /** Names this queue's connections carry in `CLIENT LIST`: `{clientName}:jobs` and `:jobs-wake`. @defaultValue the prefix */
  clientName?: string
  /** How long finished records are kept, in milliseconds. @defaultValue {@link DEFAULT_REDIS_JOB_RETENTION_MS} */
  retentionMs?: number
  /** Most records one `list` call examines. @defaultValue {@link DEFAULT_REDIS_LIST_SCAN} */
  listScan?: number
  /** Most expired leases, due delayed jobs or pruned records one script call handles. @defaultValue {@link DEFAULT_REDIS_JOB_BATCH} */
  batchSize?: number
  /** Where connection errors go. @defaultValue a pino logger at `TIDINGS_LOG_LEVEL` */
  logger?: Logger
}

/** The keys one queue uses; `lane` and `queue` arguments are already escaped ({@link redisLane}). */
export interface RedisJobKeys {
  /** A job's record (hash). */
  job(id: string): string
  /** Every retained job, scored by enqueue sequence: the list index. */
  readonly all: string
  /** Finished jobs, scored by `finishedAt`: the retention index. */
  readonly finished: string
  /** The enqueue sequence counter. */
  readonly seq: string
  /** A dedup key → the id of the job that has it. */
  dedup(key: string): string
  /** Due waiting jobs of a lane, scored by -priority, ordered within a score by rank. */
  ready(lane: string): string
  /** Waiting jobs of a lane that are not due yet, scored by runAt. */
  delayed(lane: string): string
  /** Running jobs of a queue, scored by lease expiry. */
  running(queue: string): string
  /** The pub/sub channel scripts publish a lane to when one of its jobs becomes leasable. */
  readonly wake: string
  /** A schedule (hash). */
  schedule(name: string): string
  /** The names of every schedule (set). */
  readonly schedules: string
}

/** The keys of the job queue with this prefix. */
export function redisJobKeys(prefix: string): RedisJobKeys {
  return {
    job: (id) => `${prefix}:job:${id}`,
    all: `${prefix}:jobs:all`,
    finished: `${prefix}:jobs:finished`,
    seq: `${prefix}:jobs:seq`,
    dedup: (key) => `${prefix}:jobs:key:${key}`,
    ready: (lane) => `${prefix}:jobs:ready:${lane}`,
    delayed: (lane) => `${prefix}:jobs:delayed:${lane}`,
    running: (queue) => `${prefix}:jobs:running:${queue}`,
    wake: `${prefix}:jobs:wake`,
    schedule: (name) => `${prefix}:schedule:${name}`,
    schedules: `${prefix}:schedules`,
  }
}

/** A queue or job name as one key segment: `%` and `:` escaped, so no two lanes share a key. */
function escapeSegment(s: string): string {
  return s.replace(/%/g, '%25').replace(/:/g, '%3A')
}

/** The key segment of a (queue, job name) lane. */
export function redisLane(queue: string, name: string): string {
  return `${escapeSegment(queue)}:${escapeSegment(name)}`
}

interface Waiter {
  readonly lanes: ReadonlySet<string>
  readonly wake: () => void
}

/** A hash as HGETALL returns it, as a map. */
type Fields = ReadonlyMap<string, string>

const iso = (ms: number): string => new Date(ms).toISOString()

function fieldsOf(reply: unknown): Fields {
  const flat = asArray(reply)
  const map = new Map<string, string>()
  for (let i = 0; i + 1 < flat.length; i += 2) map.set(String(flat[i]), String(flat[i + 1]))
  return map
}

function asArray(reply: unknown): unknown[] {
  if (!Array.isArray(reply)) throw new TidingsError('TIDINGS_ERR_INTERNAL', { detail: 'unexpected reply from a Redis job script' })
  return reply
}

/** A stored record as the port's {@link JobRecord}; `now` (the server's) decides whether a delayed job reads as queued. */
function recordOf(f: Fields, now: number): JobRecord {
  const num = (k: string): number | null => (f.has(k) ? Number(f.get(k)) : null)
  const time = (k: string): string | null => (f.has(k) ? iso(Number(f.get(k))) : null)
  const json = (k: string): unknown => (f.has(k) ? JSON.parse(f.get(k)!) : null)
  const runAt = Number(f.get('runAt'))
  const stored = f.get('status') as JobStatus
  return {
    id: f.get('id')!,
    name: f.get('name')!,
    queue: f.get('queue')!,
    status: stored === 'delayed' && runAt <= now ? 'queued' : stored,
    payload: json('payload'),
    priority: Number(f.get('priority')),
    key: f.get('key') ?? null,
    owner: f.get('owner') === '1' ? { user: f.get('user') ?? null, tenant: f.get('tenant') ?? null } : null,
    attempts: Number(f.get('attempts')),
    maxAttempts: Number(f.get('maxAttempts')),
    enqueuedAt: iso(Number(f.get('enqueuedAt'))),
    runAt: iso(runAt),
    startedAt: time('startedAt'),
    finishedAt: time('finishedAt'),
    durationMs: num('durationMs'),
    progress: json('progress') as JobProgress | null,
    result: json('result'),
    error: json('error') as JobError | null,
    workerId: f.get('workerId') ?? null,
    leaseExpiresAt: time('leaseExpiresAt'),
    cancelRequestedAt: time('cancelRequestedAt'),
    updatedAt: iso(Number(f.get('updatedAt'))),
  } as JobRecord
}

/** A complete() call, as the coalescer carries it; `leased` is the record the lease handed out, if the caller passed it. */
interface CompleteCall {
  readonly id: string
  readonly token: string
  readonly json: string
  readonly leased: JobRecord | null
}

/**
 * The record a lease handed out, when `lease` is the {@link JobLease} itself (the worker passes it
 * so): then `complete` needs only what can have changed since, not the whole hash back.
 */
function leasedRecord(lease: LeaseRef): JobRecord | null {
  const job = (lease as Partial<JobLease>).job
  return job !== undefined && job.id === lease.id && job.status === 'running' ? job : null
}

/** The succeeded record: the leased one, the outcome, and COMPLETE's slim answer (durationMs, progress, cancelRequestedAt). */
function succeededRecord(leased: JobRecord, [durationMs, progress, cancelRequestedAt]: (string | null)[], result: string, now: number): JobRecord {
  const finishedAt = iso(now)
  return {
    ...leased,
    status: 'succeeded',
    finishedAt,
    durationMs: durationMs == null ? null : Number(durationMs),
    progress: progress == null ? null : (JSON.parse(progress) as JobProgress),
    result: JSON.parse(result),
    error: null,
    workerId: null,
    leaseExpiresAt: null,
    cancelRequestedAt: cancelRequestedAt == null ? null : iso(Number(cancelRequestedAt)),
    updatedAt: finishedAt,
  }
}

function scheduleOf(f: Fields): ScheduleRecord {
  const time = (k: string): string | null => (f.has(k) ? iso(Number(f.get(k))) : null)
  return {
    name: f.get('name')!,
    cron: f.get('cron')!,
    timezone: f.get('timezone') ?? null,
    job: f.get('job')!,
    payload: JSON.parse(f.get('payload')!),
    enabled: f.get('enabled') === '1',
    lastRunAt: time('lastRunAt'),
    lastJobId: f.get('lastJobId') ?? null,
    nextRunAt: time('nextRunAt'),
    revision: Number(f.get('revision')),
    createdAt: iso(Number(f.get('createdAt'))),
    updatedAt: iso(Number(f.get('updatedAt'))),
  }
}

/** The enqueue arguments the ENQUEUE and CLAIM_TICK scripts share: id, dedup key, then the record's fields. */
function enqueueArgs(job: NewJob): string[] {
  const fields = [
    'id', job.id,
    'name', job.name,
    'queue', job.queue,
    'lane', redisLane(job.queue, job.name),
    'qk', escapeSegment(job.queue),
    'payload', JSON.stringify(job.payload) ?? 'null',
    'priority', String(job.priority),
    'maxAttempts', String(job.maxAttempts),
    'enqueuedAt', String(job.enqueuedAt.getTime()),
    'runAt', String(job.runAt.getTime()),
  ]
  if (job.key !== null) fields.push('key', job.key)
  if (job.owner !== null) {
    fields.push('owner', '1')
    if (job.owner.user !== null) fields.push('user', job.owner.user)
    if (job.owner.tenant !== null) fields.push('tenant', job.owner.tenant)
  }
  return [job.id, job.key === null ? '0' : '1', job.key ?? '', String(fields.length / 2), ...fields]
}

/** A JobQueue on Redis: durable as far as your Redis is, shared by every process that uses the prefix. */
export class RedisJobQueue implements JobQueue {
  readonly engine = 'redis'
  readonly capabilities: JobQueueCapabilities = { durable: true, wakeUps: true }
  /** The prefix of every key this queue uses. */
  readonly prefix: string
  /** The keys this queue uses. */
  readonly keys: RedisJobKeys
  /** Base of the names of this queue's connections. */
  readonly clientName: string
  readonly #options: RedisJobQueueOptions
  readonly #retentionMs: number
  readonly #listScan: number
  readonly #batch: number
  /** Calls of {@link complete} gathered for this turn's script call. */
  readonly #completes: Coalescer<CompleteCall, JobRecord>
  readonly #logger: Logger
  readonly #lostError: string
  #client: Redis | undefined
  #live: Redis | undefined
  #ownsClient = false
  #ready: Promise<void> | undefined
  #subscriber: Redis | undefined
  #subscribed: Promise<void> | undefined
  readonly #waiters = new Set<Waiter>()
  #lastPrune = 0
  #closed = false

  constructor(options: RedisJobQueueOptions = {}) {
    this.#options = options
    this.prefix = options.prefix ?? DEFAULT_REDIS_PREFIX
    this.clientName = options.clientName ?? this.prefix
    this.#retentionMs = options.retentionMs ?? DEFAULT_REDIS_JOB_RETENTION_MS
    this.#listScan = options.listScan ?? DEFAULT_REDIS_LIST_SCAN
    this.#batch = options.batchSize ?? DEFAULT_REDIS_JOB_BATCH
    this.#logger = options.logger ?? createLogger().child({ engine: 'redis', port: 'jobs' })
    const invalid = (detail: string): TidingsError => new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail })
    if (!PREFIX_RE.test(this.prefix)) throw invalid('redis prefix must be 1–100 characters of [A-Za-z0-9_:.{}-]')
    if (!PREFIX_RE.test(this.clientName)) throw invalid('redis clientName must be 1–100 characters of [A-Za-z0-9_:.{}-]')
    if (!(this.#retentionMs > 0)) throw invalid('retentionMs must be positive')
    for (const [name, value] of [['listScan', this.#listScan], ['batchSize', this.#batch]] as const) {
      if (!Number.isInteger(value) || value < 1) throw invalid(`redis ${name} must be a positive integer`)
    }
    this.keys = redisJobKeys(this.prefix)
    this.#completes = new Coalescer<CompleteCall, JobRecord>((calls) => this.#completeMany(calls), this.#batch)
    const lost = new TidingsError('TIDINGS_ERR_JOB_WORKER_LOST')
    this.#lostError = JSON.stringify({ message: lost.message, code: lost.code, stack: null } satisfies JobError)
  }

  /** Connects and loads the scripts. Idempotent; a failed start is tried again by the next call. */
  ready(): Promise<void> {
    this.#ready ??= (async () => {
      const client = await this.#connect()
      const pipeline = client.pipeline()
      for (const s of JOB_SCRIPTS) pipeline.script('LOAD', s.lua)
      const results = await pipeline.exec()
      const failed = results?.find(([err]) => err !== null)
      if (failed) throw failed[0]
      this.#live = client
    })()
    this.#ready.catch(() => {
      this.#ready = undefined
    })
    return this.#ready
  }

  async enqueue(job: NewJob): Promise<EnqueueResult> {
    await this.#maybePrune()
    const reply = await this.#run(ENQUEUE, enqueueArgs(job))
    return { job: recordOf(fieldsOf(reply[3]), Number(reply[1])), created: reply[2] === 1 }
  }

  async lease(request: LeaseRequest): Promise<LeaseResult> {
    const queues = [...new Set(request.queues.map(escapeSegment))]
    if (queues.length === 0) return { leases: [], lost: [] }
    const reply = await this.#run(LEASE, [
      request.workerId,
      String(request.leaseMs),
      String(Math.max(0, request.limit)),
      randomBytes(9).toString('base64url'),
      String(this.#batch),
      this.#lostError,
      String(queues.length),
      ...queues,
      ...this.#lanes(request),
    ])
    const now = Number(reply[1])
    const leases = asArray(reply[2]).map((raw): JobLease => {
      const f = fieldsOf(raw)
      const job = recordOf(f, now)
      return { id: job.id, token: f.get('token')!, attempt: job.attempts, job }
    })
    return { leases, lost: asArray(reply[3]).map((raw) => recordOf(fieldsOf(raw), now)) }
  }

  waitForJobs(request: WaitRequest, maxWaitMs: number, signal: AbortSignal): Promise<void> {
    if (this.#closed || signal.aborted) return Promise.resolve()
    const lanes = this.#lanes(request)
    const queues = [...new Set(request.queues.map(escapeSegment))]
    const started = Date.now()
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout
      const done = (): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        this.#waiters.delete(waiter)
        resolve()
      }
      const waiter: Waiter = { lanes: new Set(lanes), wake: done }
      timer = setTimeout(done, maxWaitMs)
      signal.addEventListener('abort', done, { once: true })
      this.#waiters.add(waiter)
      if (lanes.length === 0) return
      // Subscribed before looking, so a job that arrives after the look is announced to us.
      void (async () => {
        await this.#subscribe()
        if (!this.#waiters.has(waiter)) return
        const reply = await this.#run(WAIT_INFO, [String(lanes.length), ...lanes, ...queues])
        if (!this.#waiters.has(waiter)) return
        const now = Number(reply[1])
        const earliest = Number(reply[2])
        if (earliest < 0) return
        if (earliest <= now) return done()
        const remaining = maxWaitMs - (Date.now() - started)
        if (earliest - now + TIMER_SLACK_MS < remaining) {
          clearTimeout(timer)
          timer = setTimeout(done, earliest - now + TIMER_SLACK_MS)
        }
      })().catch((err: unknown) => this.#logger.debug({ err }, 'redis job wait could not look ahead; waiting for its timer'))
    })
  }

  async heartbeat(leases: readonly LeaseRef[], leaseMs: number): Promise<HeartbeatResult[]> {
    if (leases.length === 0) return []
    const reply = await this.#run(HEARTBEAT, [String(leaseMs), ...leases.flatMap((l) => [l.id, l.token])])
    return leases.map((l, i) => {
      const answer = Number(reply[i + 1])
      return { id: l.id, held: answer > 0, cancelRequested: answer === 2 }
    })
  }

  async setProgress(lease: LeaseRef, progress: JobProgress): Promise<void> {
    await this.#run(SET_PROGRESS, [lease.id, lease.token, JSON.stringify(progress)])
  }

  /** Completions of one event-loop turn go to Redis as one script call (see {@link Coalescer}). */
  async complete(lease: LeaseRef, result: unknown): Promise<JobRecord> {
    const json = JSON.stringify(result) ?? 'null'
    if (this.#closed) throw new TidingsError('TIDINGS_ERR_CLOSED', { detail: 'the job queue is closed' })
    return this.#completes.push({ id: lease.id, token: lease.token, json, leased: leasedRecord(lease) })
  }

  /** One COMPLETE call for a turn's completions; each answer is the job's record or its lease-lost error. */
  async #completeMany(calls: readonly CompleteCall[]): Promise<(JobRecord | Error)[]> {
    const reply = await this.#run(
      COMPLETE,
      calls.flatMap((c) => [c.id, c.token, c.json, c.leased === null ? 'r' : 's']),
    )
    const now = Number(reply[1])
    return calls.map((c, i) => {
      const answer = reply[i + 2]
      if (answer === null || answer === undefined) return new TidingsError('TIDINGS_ERR_JOB_LEASE_LOST', { detail: `job ${c.id}` })
      return c.leased === null ? recordOf(fieldsOf(answer), now) : succeededRecord(c.leased, asArray(answer) as (string | null)[], c.json, now)
    })
  }

  async fail(lease: LeaseRef, error: JobError, retryAt: Date | null): Promise<JobRecord> {
    return this.#record(await this.#run(FAIL, [lease.id, lease.token, JSON.stringify(error), retryAt === null ? '' : String(retryAt.getTime())]))
  }

  async confirmCancel(lease: LeaseRef): Promise<JobRecord> {
    return this.#record(await this.#run(CONFIRM_CANCEL, [lease.id, lease.token]))
  }

  async release(lease: LeaseRef): Promise<JobRecord> {
    return this.#record(await this.#run(RELEASE, [lease.id, lease.token]))
  }

  async cancel(id: string): Promise<CancelResult | null> {
    const reply = await this.#run(CANCEL, [id])
    if (reply.length < 4) return null
    const job = recordOf(fieldsOf(reply[3]), Number(reply[1]))
    return { outcome: reply[2] as CancelResult['outcome'], job }
  }

  async retry(id: string, runAt: Date): Promise<JobRecord> {
    return this.#record(await this.#run(RETRY, [id, String(runAt.getTime())]))
  }

  async get(id: string): Promise<JobRecord | null> {
    const reply = await this.#run(GET, [id])
    const f = fieldsOf(reply[2])
    return f.size === 0 ? null : recordOf(f, Number(reply[1]))
  }

  async list(filter: JobFilter, page: PageRequest): Promise<JobPage> {
    const before = page.cursor === undefined || page.cursor === null ? null : Number(page.cursor)
    if (before !== null && !Number.isInteger(before)) {
      throw new TidingsError('TIDINGS_ERR_INVALID_CURSOR', { detail: 'not a cursor of this job list' })
    }
    await this.#maybePrune()
    const has = (v: string | undefined): [string, string] => (v === undefined ? ['0', ''] : ['1', v])
    const tenant: [string, string] = filter.tenant === undefined ? ['', ''] : filter.tenant === null ? ['0', ''] : ['1', filter.tenant]
    const limit = Math.max(0, Math.floor(page.limit))
    const reply = await this.#run(LIST, [
      before === null ? '' : String(before),
      String(limit),
      String(Math.max(this.#listScan, limit + 1)),
      ...has(filter.name),
      ...has(filter.queue),
      ...has(filter.user),
      ...tenant,
      filter.status && filter.status.length > 0 ? filter.status.join(',') : '',
    ])
    const now = Number(reply[1])
    const next = reply[2]
    return { jobs: asArray(reply[3]).map((raw) => recordOf(fieldsOf(raw), now)), next: typeof next === 'string' ? next : null }
  }

  async prune(before: Date): Promise<number> {
    let removed = 0
    for (;;) {
      const [n, examined] = await this.#pruneBatch(before.getTime())
      removed += n
      if (examined < this.#batch) return removed
    }
  }

  async putSchedule(input: ScheduleInput): Promise<ScheduleRecord> {
    const reply = await this.#run(PUT_SCHEDULE, [
      input.name,
      input.cron,
      input.timezone === null ? '0' : '1',
      input.timezone ?? '',
      input.job,
      JSON.stringify(input.payload) ?? 'null',
      input.enabled ? '1' : '0',
      input.nextRunAt === null ? '' : String(input.nextRunAt.getTime()),
    ])
    return scheduleOf(fieldsOf(reply[1]))
  }

  async getSchedule(name: string): Promise<ScheduleRecord | null> {
    if (this.#closed) throw new TidingsError('TIDINGS_ERR_CLOSED', { detail: 'the job queue is closed' })
    const client = this.#live ?? (await this.#readyClient())
    const f = new Map(Object.entries(await client.hgetall(this.keys.schedule(name))))
    return f.size === 0 ? null : scheduleOf(f)
  }

  async listSchedules(): Promise<ScheduleRecord[]> {
    const reply = await this.#run(LIST_SCHEDULES, [])
    return asArray(reply[1])
      .map((raw) => scheduleOf(fieldsOf(raw)))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  }

  async deleteSchedule(name: string): Promise<boolean> {
    const reply = await this.#run(DELETE_SCHEDULE, [name])
    return reply[1] === 1
  }

  async claimScheduleTick(name: string, revision: number, tick: Date, nextRunAt: Date | null, job: NewJob): Promise<JobRecord | null> {
    const reply = await this.#run(CLAIM_TICK, [
      name,
      String(revision),
      String(tick.getTime()),
      nextRunAt === null ? '' : String(nextRunAt.getTime()),
      ...enqueueArgs(job),
    ])
    return reply.length < 3 ? null : recordOf(fieldsOf(reply[2]), Number(reply[1]))
  }

  async close(): Promise<void> {
    if (this.#closed) return
    // Completions asked for before the close still go out, ahead of QUIT on the same connection.
    this.#completes.flush()
    this.#closed = true
    for (const w of [...this.#waiters]) w.wake()
    this.#subscriber?.disconnect()
    this.#subscriber = undefined
    const client = this.#client
    if (client === undefined || !this.#ownsClient) return
    try {
      await Promise.race([client.quit(), new Promise((resolve) => setTimeout(resolve, 1_000).unref())])
    } catch {
      // Already disconnected: nothing to wait for.
    } finally {
      client.disconnect()
    }
  }

  #lanes(request: WaitRequest): string[] {
    const lanes = new Set<string>()
    for (const q of request.queues) for (const n of request.names) lanes.add(redisLane(q, n))
    return [...lanes]
  }

  /** Runs a job script; a `TIDINGS_ERR_…` answer becomes that coded error. */
  async #run(script: LuaScript, args: readonly string[]): Promise<unknown[]> {
    if (this.#closed) throw new TidingsError('TIDINGS_ERR_CLOSED', { detail: 'the job queue is closed' })
    const client = this.#live ?? (await this.#readyClient())
    const reply = asArray(await script.run(client, [this.keys.all], [this.prefix, ...args]))
    const status = reply[0]
    if (status === 'ok') return reply
    const code = typeof status === 'string' && status in ERROR_CODES ? (status as ErrorCode) : 'TIDINGS_ERR_INTERNAL'
    throw new TidingsError(code, { detail: typeof reply[1] === 'string' ? reply[1] : `redis job script answered ${String(status)}` })
  }

  #record(reply: unknown[]): JobRecord {
    return recordOf(fieldsOf(reply[2]), Number(reply[1]))
  }

  async #pruneBatch(before: number): Promise<[number, number]> {
    const reply = await this.#run(PRUNE, [String(before), String(this.#batch)])
    return [Number(reply[1]), Number(reply[2])]
  }

  /** One bounded retention sweep at most every {@link PRUNE_EVERY_MS}; a backlog is worked off over later calls. */
  async #maybePrune(): Promise<void> {
    const now = Date.now()
    if (now - this.#lastPrune < PRUNE_EVERY_MS) return
    this.#lastPrune = now
    await this.#pruneBatch(now - this.#retentionMs)
  }

  /** The wake-up subscriber: one connection per queue instance, on the channel the scripts publish lanes to. */
  #subscribe(): Promise<void> {
    this.#subscribed ??= (async () => {
      const client = await this.#readyClient()
      if (this.#closed) throw new TidingsError('TIDINGS_ERR_CLOSED')
      const sub = client.duplicate({ connectionName: `${this.clientName}:jobs-wake`, lazyConnect: false, enableOfflineQueue: true, maxRetriesPerRequest: null })
      this.#subscriber = sub
      sub.on('error', (err: unknown) => this.#logger.debug({ err }, 'redis job wake-up connection error'))
      sub.on('message', (_channel: string, lane: string) => {
        for (const w of [...this.#waiters]) if (w.lanes.has(lane)) w.wake()
      })
      let connected = false
      // After a reconnect announcements may have been missed: every waiter looks again.
      sub.on('ready', () => {
        if (connected) for (const w of [...this.#waiters]) w.wake()
        connected = true
      })
      await sub.subscribe(this.keys.wake)
    })()
    this.#subscribed.catch(() => {
      this.#subscribed = undefined
      this.#subscriber?.disconnect()
      this.#subscriber = undefined
    })
    return this.#subscribed
  }

  async #readyClient(): Promise<Redis> {
    await this.ready()
    if (this.#closed) throw new TidingsError('TIDINGS_ERR_CLOSED', { detail: 'the job queue is closed' })
    return this.#live!
  }

  async #connect(): Promise<Redis> {
    if (this.#closed) throw new TidingsError('TIDINGS_ERR_CLOSED', { detail: 'the job queue is closed' })
    if (this.#client !== undefined) return this.#client
    if (this.#options.client !== undefined) {
      this.#client = this.#options.client
      return this.#client
    }
    const RedisClient = await loadRedisClass()
    if (this.#client !== undefined) return this.#client
    const url = this.#options.url ?? process.env.REDIS_URL ?? DEFAULT_REDIS_URL
    const client = new RedisClient(url, { connectionName: `${this.clientName}:jobs`, ...this.#options.redis })
    client.on('error', (err: unknown) => this.#logger.debug({ err }, 'redis connection error'))
    this.#client = client
    this.#ownsClient = true
    return client
  }
}
