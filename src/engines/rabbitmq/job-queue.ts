/**
 * The RabbitMQ `JobQueue` (DESIGN §2): RabbitMQ dispatches, a record store keeps the records.
 *
 * RabbitMQ cannot answer what the port asks of a job store — read a record by id, list and page
 * them, find the highest-priority due job across lanes, take a lease with a token and give it back
 * when it expires, claim a cron tick once — and seed 001 kept its `job_logs` in its database for
 * the same reason. So every record, lease and schedule lives in a record store the user names: any
 * other `JobQueue` (the PostgreSQL one in production, the memory one for a single process or tests),
 * which already gives the port's guarantees; nothing of that logic is written twice.
 *
 * What RabbitMQ carries is the work signal, the way Celery uses it:
 * - a job that becomes runnable (enqueued, released, retried, a cron tick) is announced with a
 *   persistent message, publisher-confirmed, on a durable quorum queue per (queue, job name) lane;
 * - workers consume the lanes they run with manual acks and a prefetch: a message wakes one
 *   waiting worker of one process, which then leases from the record store; a process consumes a
 *   lane only while one of its workers waits on it (and `lingerMs` after), and gives back what it
 *   holds when it stops, so a busy process does not sit on wake-ups another process could use;
 * - a job due later (a delayed job, a retry after backoff) is announced through a per-delay quorum
 *   queue whose message TTL dead-letters it back to its lane when it falls due (`x-message-ttl`,
 *   `x-dead-letter-exchange`, at-least-once dead-lettering — RabbitMQ 3.10 has no delayed-message
 *   exchange without a plugin);
 * - a job that failed its last attempt (or whose worker was lost with no attempt left) is copied to
 *   a dead-letter queue, where RabbitMQ tooling can see it.
 *
 * A lost wake-up (broker down, queue full) only delays a job until the worker's polling backstop;
 * it never loses one: the record store has it from the moment `enqueue` resolves.
 */
import { createHash } from 'node:crypto'
import type { Channel, ConfirmChannel, ConsumeMessage } from 'amqplib'
import { TidingsError } from '../../core/errors.js'
import type {
  CancelResult,
  EnqueueResult,
  HeartbeatResult,
  JobError,
  JobFilter,
  JobPage,
  JobProgress,
  JobQueue,
  JobQueueCapabilities,
  JobRecord,
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
import { AmqpLink, amqpUrl } from './connection.js'

/** Default prefix of every exchange and queue the job queue declares. */
export const DEFAULT_RABBIT_JOB_PREFIX = 'tidings.jobs'
/** Default wake-ups one process holds per lane while none of its workers waits (the consumer prefetch). */
export const DEFAULT_RABBIT_JOB_PREFETCH = 1
/**
 * Default time a lane's consumer stays after its last waiting worker left: long enough for a worker
 * to lease and wait again without resubscribing, short enough that a wake-up this process holds
 * goes back to the broker (and to a process that waits) soon.
 */
export const DEFAULT_RABBIT_JOB_LINGER_MS = 250
/** Default most wake-ups a lane queue keeps (`x-max-length`, oldest dropped): a backlog of signals says no more than one. */
export const DEFAULT_RABBIT_JOB_MAX_WAKE_UPS = 10_000
/** Default most records the dead-letter queue keeps (`x-max-length`, oldest dropped). */
export const DEFAULT_RABBIT_JOB_DEAD_LETTER_MAX = 100_000
/** Default pause after a failed publish before the job queue tries RabbitMQ again; signals in between are skipped. */
export const DEFAULT_RABBIT_JOB_RETRY_MS = 1_000

/** Extra life of a delay queue beyond its delay, so it never expires with a message in it. */
const DELAY_QUEUE_SLACK_MS = 60_000
/** A delay queue is declared again (which resets its expiry) when its last declaration is older than this. */
const DELAY_REDECLARE_MS = 10_000
/** Longest pause before a lane with waiting workers tries to consume again. */
const MAX_RESUBSCRIBE_MS = 5_000
/** Longest queue name RabbitMQ accepts (bytes). */
const MAX_QUEUE_NAME = 255
const PREFIX_RE = /^(?!amq\.)[A-Za-z0-9._:-]{1,100}$/

/** Options of {@link RabbitJobQueue}. */
export interface RabbitJobQueueOptions {
  /**
   * Where records, leases and schedules live: a `JobQueue` of another engine. A
   * `PostgresJobQueue` shares them between processes and survives restarts; a `MemoryJobQueue`
   * keeps them in this process only.
   */
  records: JobQueue
  /** Close `records` when this queue closes. @defaultValue true */
  ownsRecords?: boolean
  /** AMQP URL. @defaultValue `process.env.AMQP_URL`, else `amqp://guest:guest@127.0.0.1:5672` */
  url?: string
  /** Prefix of the exchange and queues; two deployments on one vhost need different ones. @defaultValue {@link DEFAULT_RABBIT_JOB_PREFIX} */
  prefix?: string
  /** Consumer prefetch of each lane. @defaultValue {@link DEFAULT_RABBIT_JOB_PREFETCH} */
  prefetch?: number
  /** How long a lane's consumer outlives its last waiting worker, in milliseconds. @defaultValue {@link DEFAULT_RABBIT_JOB_LINGER_MS} */
  lingerMs?: number
  /** `x-max-length` of each lane queue. @defaultValue {@link DEFAULT_RABBIT_JOB_MAX_WAKE_UPS} */
  maxWakeUps?: number
  /** `x-max-length` of the dead-letter queue. @defaultValue {@link DEFAULT_RABBIT_JOB_DEAD_LETTER_MAX} */
  deadLetterMaxLength?: number
  /** Pause after a failed publish before RabbitMQ is tried again. @defaultValue {@link DEFAULT_RABBIT_JOB_RETRY_MS} */
  retryMs?: number
  /** Connection name shown by RabbitMQ. @defaultValue `tidings:jobs:<prefix>` */
  connectionName?: string
  /** Where warnings go. @defaultValue a pino logger at `TIDINGS_LOG_LEVEL` */
  logger?: Logger
}

/** The names one job queue declares. */
export interface RabbitJobTopology {
  /** The direct exchange wake-ups are routed through (and delay queues dead-letter to). */
  readonly exchange: string
  /** The dead-letter queue: a copy of each job that failed its last attempt. */
  readonly deadLetters: string
  /** The routing key of a lane. */
  laneKey(queue: string, name: string): string
  /** The quorum queue holding a lane's wake-ups. */
  laneQueue(queue: string, name: string): string
  /** The queue that holds wake-ups for `delayMs` before dead-lettering them to their lane. */
  delayQueue(delayMs: number): string
}

/** The names the job queue with this prefix uses. */
export function rabbitJobTopology(prefix: string): RabbitJobTopology {
  const bounded = (name: string): string =>
    Buffer.byteLength(name) <= MAX_QUEUE_NAME ? name : `${name.slice(0, 180)}~${createHash('sha256').update(name).digest('hex').slice(0, 32)}`
  return {
    exchange: prefix,
    deadLetters: `${prefix}.dead`,
    // `/` appears in neither queue names nor job names, so the key is unambiguous.
    laneKey: (queue, name) => bounded(`${queue}/${name}`),
    laneQueue: (queue, name) => bounded(`${prefix}.lane.${queue}/${name}`),
    delayQueue: (delayMs) => `${prefix}.delay.${delayMs}`,
  }
}

/**
 * The delay queue a wait of `ms` goes through: rounded up to two significant digits, so a wake-up
 * is never early and at most 10 % late, and jittered backoffs share a bounded set of queues.
 */
export function delayBucket(ms: number): number {
  if (ms <= 0) return 0
  const whole = Math.ceil(ms)
  const step = 10 ** Math.max(0, Math.floor(Math.log10(whole)) - 1)
  return Math.ceil(whole / step) * step
}

interface Waiter {
  readonly lanes: readonly Lane[]
  readonly wake: () => void
}

/** One (queue, job name) lane this process may consume. */
interface Lane {
  readonly key: string
  readonly queue: string
  readonly waiters: Waiter[]
  /** Wake-ups delivered while no worker waited: the next waiter takes one at once. */
  readonly held: ConsumeMessage[]
  consumer: { readonly channel: Channel; readonly tag: string } | undefined
  subscribing: Promise<void> | undefined
  linger: NodeJS.Timeout | undefined
  /** A pending resubscription after a failure, and how many failed in a row. */
  retry: NodeJS.Timeout | undefined
  failures: number
}

/** A JobQueue that dispatches through RabbitMQ and keeps records in another JobQueue. */
export class RabbitJobQueue implements JobQueue {
  readonly engine = 'rabbitmq'
  readonly capabilities: JobQueueCapabilities
  /** The names this queue declares. */
  readonly topology: RabbitJobTopology
  /** The record store. */
  readonly records: JobQueue
  readonly prefix: string
  readonly #ownsRecords: boolean
  readonly #prefetch: number
  readonly #lingerMs: number
  readonly #maxWakeUps: number
  readonly #deadLetterMax: number
  readonly #retryMs: number
  readonly #logger: Logger
  readonly #link: AmqpLink
  #publisher: Promise<ConfirmChannel> | undefined
  #wakeChannel: Promise<Channel> | undefined
  /** Lanes and delay queues declared on the current connection. */
  readonly #declaredLanes = new Set<string>()
  readonly #declaredDelays = new Map<number, number>()
  readonly #lanes = new Map<string, Lane>()
  #ready: Promise<void> | undefined
  #pausedUntil = 0
  #closed = false

  constructor(options: RabbitJobQueueOptions) {
    if (options?.records === undefined) {
      throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: 'RabbitJobQueue needs a record store: { records: new PostgresJobQueue(…) } or new MemoryJobQueue()' })
    }
    this.records = options.records
    this.#ownsRecords = options.ownsRecords ?? true
    this.prefix = options.prefix ?? DEFAULT_RABBIT_JOB_PREFIX
    this.#prefetch = options.prefetch ?? DEFAULT_RABBIT_JOB_PREFETCH
    this.#lingerMs = options.lingerMs ?? DEFAULT_RABBIT_JOB_LINGER_MS
    this.#maxWakeUps = options.maxWakeUps ?? DEFAULT_RABBIT_JOB_MAX_WAKE_UPS
    this.#deadLetterMax = options.deadLetterMaxLength ?? DEFAULT_RABBIT_JOB_DEAD_LETTER_MAX
    this.#retryMs = options.retryMs ?? DEFAULT_RABBIT_JOB_RETRY_MS
    this.#logger = options.logger ?? createLogger().child({ engine: 'rabbitmq', component: 'jobs' })
    const invalid = (detail: string): TidingsError => new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail })
    if (!PREFIX_RE.test(this.prefix)) throw invalid('rabbitmq job prefix must be 1–100 characters of [A-Za-z0-9._:-], not starting with amq.')
    for (const [name, value] of [
      ['prefetch', this.#prefetch],
      ['lingerMs', this.#lingerMs],
      ['maxWakeUps', this.#maxWakeUps],
      ['deadLetterMaxLength', this.#deadLetterMax],
      ['retryMs', this.#retryMs],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < 1) throw invalid(`rabbitmq ${name} must be a positive integer`)
    }
    if (this.#prefetch > 65_535) throw invalid('rabbitmq prefetch must be at most 65535')
    // Everything but wake-ups is the record store's doing, so are its capabilities.
    this.capabilities = { ...this.records.capabilities, wakeUps: true }
    this.topology = rabbitJobTopology(this.prefix)
    this.#link = new AmqpLink({ url: amqpUrl(options.url), name: options.connectionName ?? `tidings:jobs:${this.prefix}`, logger: this.#logger })
    this.#link.onLost(() => {
      this.#declaredLanes.clear()
      this.#declaredDelays.clear()
      for (const lane of this.#lanes.values()) {
        lane.consumer = undefined
        lane.held.length = 0
        if (lane.waiters.length > 0) this.#resubscribeLater(lane)
      }
    })
  }

  /** Readies the record store and declares the exchange and the dead-letter queue. Idempotent. */
  ready(): Promise<void> {
    this.#ready ??= (async () => {
      await this.records.ready()
      const ch = await this.#link.channel()
      try {
        await ch.assertExchange(this.topology.exchange, 'direct', { durable: true })
        await ch.assertQueue(this.topology.deadLetters, {
          durable: true,
          arguments: { 'x-queue-type': 'quorum', 'x-max-length': this.#deadLetterMax, 'x-overflow': 'drop-head' },
        })
      } finally {
        await ch.close().catch(() => undefined)
      }
    })()
    this.#ready.catch(() => {
      this.#ready = undefined
    })
    return this.#ready
  }

  async enqueue(job: NewJob): Promise<EnqueueResult> {
    const result = await this.records.enqueue(job)
    if (result.created) await this.#announce(result.job)
    return result
  }

  async lease(request: LeaseRequest): Promise<LeaseResult> {
    const result = await this.records.lease(request)
    for (const job of result.lost) await this.#deadLetter(job)
    return result
  }

  /** Resolves when a wake-up for one of the lanes arrives through RabbitMQ, after `maxWaitMs`, or when `signal` aborts. */
  waitForJobs(request: WaitRequest, maxWaitMs: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted || this.#closed) return Promise.resolve()
    const lanes = request.queues.flatMap((queue) => request.names.map((name) => this.#lane(queue, name)))
    for (const lane of lanes) {
      const held = lane.held.shift()
      if (held !== undefined) {
        this.#ack(lane, held)
        return Promise.resolve()
      }
    }
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        for (const lane of lanes) {
          const i = lane.waiters.indexOf(waiter)
          if (i >= 0) lane.waiters.splice(i, 1)
          if (lane.waiters.length === 0) this.#scheduleLinger(lane)
        }
        resolve()
      }
      const waiter: Waiter = { lanes, wake: done }
      const timer = setTimeout(done, maxWaitMs)
      signal.addEventListener('abort', done, { once: true })
      for (const lane of lanes) {
        lane.waiters.push(waiter)
        clearTimeout(lane.linger)
        lane.linger = undefined
        void this.#subscribe(lane)
      }
    })
  }

  heartbeat(leases: readonly LeaseRef[], leaseMs: number): Promise<HeartbeatResult[]> {
    return this.records.heartbeat(leases, leaseMs)
  }

  setProgress(lease: LeaseRef, progress: JobProgress): Promise<void> {
    return this.records.setProgress(lease, progress)
  }

  complete(lease: LeaseRef, result: unknown): Promise<JobRecord> {
    return this.records.complete(lease, result)
  }

  async fail(lease: LeaseRef, error: JobError, retryAt: Date | null): Promise<JobRecord> {
    const job = await this.records.fail(lease, error, retryAt)
    if (job.status === 'retrying') await this.#announce(job)
    else if (job.status === 'failed') await this.#deadLetter(job)
    return job
  }

  confirmCancel(lease: LeaseRef): Promise<JobRecord> {
    return this.records.confirmCancel(lease)
  }

  async release(lease: LeaseRef): Promise<JobRecord> {
    const job = await this.records.release(lease)
    await this.#announce(job)
    return job
  }

  cancel(id: string): Promise<CancelResult | null> {
    return this.records.cancel(id)
  }

  async retry(id: string, runAt: Date): Promise<JobRecord> {
    const job = await this.records.retry(id, runAt)
    await this.#announce(job)
    return job
  }

  get(id: string): Promise<JobRecord | null> {
    return this.records.get(id)
  }

  list(filter: JobFilter, page: PageRequest): Promise<JobPage> {
    return this.records.list(filter, page)
  }

  prune(before: Date): Promise<number> {
    return this.records.prune(before)
  }

  putSchedule(schedule: ScheduleInput): Promise<ScheduleRecord> {
    return this.records.putSchedule(schedule)
  }

  getSchedule(name: string): Promise<ScheduleRecord | null> {
    return this.records.getSchedule(name)
  }

  listSchedules(): Promise<ScheduleRecord[]> {
    return this.records.listSchedules()
  }

  deleteSchedule(name: string): Promise<boolean> {
    return this.records.deleteSchedule(name)
  }

  async claimScheduleTick(name: string, revision: number, tick: Date, nextRunAt: Date | null, job: NewJob): Promise<JobRecord | null> {
    const created = await this.records.claimScheduleTick(name, revision, tick, nextRunAt, job)
    if (created !== null) await this.#announce(created)
    return created
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const lane of this.#lanes.values()) {
      clearTimeout(lane.linger)
      clearTimeout(lane.retry)
      for (const waiter of [...lane.waiters]) waiter.wake()
    }
    await this.#link.close()
    if (this.#ownsRecords) await this.records.close()
  }

  #lane(queue: string, name: string): Lane {
    const key = this.topology.laneKey(queue, name)
    let lane = this.#lanes.get(key)
    if (lane === undefined) {
      lane = { key, queue: this.topology.laneQueue(queue, name), waiters: [], held: [], consumer: undefined, subscribing: undefined, linger: undefined, retry: undefined, failures: 0 }
      this.#lanes.set(key, lane)
    }
    return lane
  }

  /** Tells the job's lane that it is runnable now, or, through a delay queue, at `runAt`. */
  async #announce(job: JobRecord): Promise<void> {
    if (job.status !== 'queued' && job.status !== 'delayed' && job.status !== 'retrying') return
    await this.#publishSafely('wake-up', async () => {
      const lane = this.#lane(job.queue, job.name)
      const ch = await this.#confirmChannel()
      await this.#declareLane(ch, lane)
      const body = Buffer.from(JSON.stringify({ id: job.id, queue: job.queue, name: job.name, runAt: job.runAt }))
      const options = { persistent: true, messageId: job.id, contentType: 'application/json', type: 'tidings.job.runnable' }
      const delay = delayBucket(Date.parse(job.runAt) - Date.now())
      if (delay === 0) {
        ch.publish(this.topology.exchange, lane.key, body, options)
      } else {
        const queue = await this.#declareDelay(ch, delay)
        // CC carries the lane key through dead-lettering: the expired message is routed by it.
        ch.sendToQueue(queue, body, { ...options, CC: [lane.key] })
      }
      await ch.waitForConfirms()
    })
  }

  /** Copies a job that failed for good to the dead-letter queue. */
  async #deadLetter(job: JobRecord): Promise<void> {
    await this.#publishSafely('dead letter', async () => {
      const ch = await this.#confirmChannel()
      ch.sendToQueue(this.topology.deadLetters, Buffer.from(JSON.stringify(job)), {
        persistent: true,
        messageId: job.id,
        contentType: 'application/json',
        type: 'tidings.job.failed',
        headers: { queue: job.queue, name: job.name, attempts: job.attempts, 'error-code': job.error?.code ?? '' },
      })
      await ch.waitForConfirms()
    })
  }

  /**
   * Runs a publish; a failure is logged and skipped, never thrown: the record store already has
   * the change, and workers find it by polling. After a failure RabbitMQ rests for `retryMs`.
   */
  async #publishSafely(what: string, publish: () => Promise<void>): Promise<void> {
    if (this.#closed || Date.now() < this.#pausedUntil) return
    try {
      await this.ready()
      await publish()
    } catch (err) {
      this.#pausedUntil = Date.now() + this.#retryMs
      this.#logger.warn({ err, what }, 'could not publish to RabbitMQ; workers will find the job by polling')
    }
  }

  async #declareLane(ch: Channel, lane: Lane): Promise<void> {
    if (this.#declaredLanes.has(lane.key)) return
    await ch.assertQueue(lane.queue, {
      durable: true,
      arguments: { 'x-queue-type': 'quorum', 'x-max-length': this.#maxWakeUps, 'x-overflow': 'drop-head' },
    })
    await ch.bindQueue(lane.queue, this.topology.exchange, lane.key)
    this.#declaredLanes.add(lane.key)
  }

  async #declareDelay(ch: Channel, delay: number): Promise<string> {
    const queue = this.topology.delayQueue(delay)
    const declaredAt = this.#declaredDelays.get(delay)
    if (declaredAt === undefined || Date.now() - declaredAt > DELAY_REDECLARE_MS) {
      await ch.assertQueue(queue, {
        durable: true,
        arguments: {
          'x-queue-type': 'quorum',
          'x-message-ttl': delay,
          'x-dead-letter-exchange': this.topology.exchange,
          'x-dead-letter-strategy': 'at-least-once',
          'x-overflow': 'reject-publish',
          'x-expires': delay + DELAY_QUEUE_SLACK_MS,
        },
      })
      this.#declaredDelays.set(delay, Date.now())
    }
    return queue
  }

  #confirmChannel(): Promise<ConfirmChannel> {
    const existing = this.#publisher
    if (existing !== undefined) return existing
    const opening = this.#link.confirmChannel().then((ch) => {
      ch.on('close', () => {
        if (this.#publisher === opening) this.#publisher = undefined
      })
      return ch
    })
    this.#publisher = opening
    opening.catch(() => {
      if (this.#publisher === opening) this.#publisher = undefined
    })
    return opening
  }

  #consumerChannel(): Promise<Channel> {
    const existing = this.#wakeChannel
    if (existing !== undefined) return existing
    const opening = (async () => {
      const ch = await this.#link.channel()
      await ch.prefetch(this.#prefetch)
      ch.on('close', () => {
        if (this.#wakeChannel === opening) this.#wakeChannel = undefined
        for (const lane of this.#lanes.values()) {
          if (lane.consumer?.channel === ch) {
            lane.consumer = undefined
            lane.held.length = 0
            this.#resubscribeLater(lane)
          }
        }
      })
      return ch
    })()
    this.#wakeChannel = opening
    opening.catch(() => {
      if (this.#wakeChannel === opening) this.#wakeChannel = undefined
    })
    return opening
  }

  /** Starts consuming a lane's wake-ups unless it already does. Failures are logged: waiters fall back to their timeout. */
  #subscribe(lane: Lane): Promise<void> {
    if (lane.consumer !== undefined || this.#closed) return Promise.resolve()
    lane.subscribing ??= (async () => {
      try {
        await this.ready()
        const ch = await this.#consumerChannel()
        await this.#declareLane(ch, lane)
        const { consumerTag } = await ch.consume(lane.queue, (msg) => this.#onWake(lane, ch, msg), { noAck: false })
        lane.consumer = { channel: ch, tag: consumerTag }
        lane.failures = 0
        if (lane.waiters.length === 0) this.#scheduleLinger(lane)
      } catch (err) {
        if (!this.#closed) this.#logger.debug({ err, lane: lane.key }, 'could not consume wake-ups; workers poll meanwhile')
        this.#resubscribeLater(lane)
      } finally {
        lane.subscribing = undefined
      }
    })()
    return lane.subscribing
  }

  /** Waiting workers of a lane whose consumer failed or was lost get it back once RabbitMQ answers again. */
  #resubscribeLater(lane: Lane): void {
    if (lane.retry !== undefined || this.#closed || lane.waiters.length === 0) return
    const delay = Math.min(this.#retryMs * 2 ** lane.failures++, MAX_RESUBSCRIBE_MS)
    lane.retry = setTimeout(() => {
      lane.retry = undefined
      if (lane.waiters.length > 0) void this.#subscribe(lane)
    }, delay)
    lane.retry.unref()
  }

  #onWake(lane: Lane, ch: Channel, msg: ConsumeMessage | null): void {
    if (msg === null) {
      // The broker cancelled the consumer (the lane queue was deleted): the next wait declares it again.
      if (lane.consumer?.channel === ch) lane.consumer = undefined
      this.#declaredLanes.delete(lane.key)
      return
    }
    if (lane.consumer === undefined || lane.consumer.channel !== ch) {
      ch.nack(msg, false, true)
      return
    }
    const waiter = lane.waiters[0]
    if (waiter === undefined) {
      lane.held.push(msg)
      return
    }
    this.#ack(lane, msg)
    waiter.wake()
  }

  #ack(lane: Lane, msg: ConsumeMessage): void {
    try {
      lane.consumer?.channel.ack(msg)
    } catch {
      // The channel closed meanwhile: the broker requeued the message already.
    }
  }

  /** Cancels a lane's consumer once no worker has waited on it for `lingerMs`, returning what it held. */
  #scheduleLinger(lane: Lane): void {
    if (lane.linger !== undefined || lane.consumer === undefined) return
    lane.linger = setTimeout(() => {
      lane.linger = undefined
      const consumer = lane.consumer
      if (lane.waiters.length > 0 || consumer === undefined) return
      lane.consumer = undefined
      void (async () => {
        try {
          await consumer.channel.cancel(consumer.tag)
        } catch {
          // Channel gone: the broker requeued everything it had sent.
          return
        } finally {
          for (const msg of lane.held.splice(0)) {
            try {
              consumer.channel.nack(msg, false, true)
            } catch {
              // As above.
            }
          }
        }
      })()
    }, this.#lingerMs)
    lane.linger.unref()
  }
}
