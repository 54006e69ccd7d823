/**
 * Redis (REDIS_URL, else 127.0.0.1:6379; every key under a random prefix, deleted at the end).
 *
 * Fan-out: one hub process (core 0) reading a RedisEventLog, N SSE connections from the load
 * process (core 1); the hub publishes paced 200-byte events into the Redis stream (XADD) and its
 * tail reads them back (XREAD BLOCK) before fanning them out; the rate steps up as in `fanout`.
 *
 * Jobs, Tidings beside BullMQ in the same run on the same server: one worker process each
 * (bench/lib/redis-worker.ts, bench/peers/bullmq-worker.ts) with a no-op handler, the producer in
 * this process. Throughput drains a backlog at concurrency 1 and 32; enqueue→start is measured one
 * job at a time into an idle worker (concurrency 1) and for a burst of 1000 (concurrency 32).
 * Tidings runs with lifecycle events on (job.queued/started/succeeded appended to the stream);
 * BullMQ with its defaults (its own events stream included).
 *
 * Crash recovery: a worker SIGKILLed while it runs a job; a second, idle worker is already up;
 * seconds from the kill to the job running again. Tidings at its default heartbeat (5 s, lease
 * 7.5 s) against BullMQ's defaults (lock 30 s, stalled-job check every 30 s).
 *
 * BENCH_CONNECTIONS (default 1000), BENCH_REDIS_JOBS (default 5000 per throughput run) and
 * BENCH_CRASH_RUNS (default 1) set the sizes; BENCH_REDIS_PARTS (default `fanout,jobs,crash`) picks
 * the parts. Every wait is bounded; the suite stops by itself.
 */
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { z } from 'zod'
import { RedisEventLog } from '../../src/engines/redis/event-log.js'
import { RedisJobQueue, redisJobKeys } from '../../src/engines/redis/job-queue.js'
import { createTidings } from '../../src/tidings.js'
import { BenchProcess } from '../lib/proc.js'
import { rampFanout } from '../lib/ramp.js'
import { percentile, report, type Row } from '../lib/report.js'

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379'
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 1000)
const JOBS = Number(process.env.BENCH_REDIS_JOBS ?? 5_000)
const CRASH_RUNS = Number(process.env.BENCH_CRASH_RUNS ?? 1)
/** Which parts run: a comma-separated subset of fanout,jobs,crash (BENCH_REDIS_PARTS). */
const PARTS = (process.env.BENCH_REDIS_PARTS ?? 'fanout,jobs,crash').split(',')
const WARMUP = 300
const LATENCY_WARMUP = 50
const LATENCY_SAMPLES = 500
const BURST = 1_000
/** Parallel enqueues while filling a backlog. */
const FILL_CONCURRENCY = 16
/** Longest a throughput run or a burst may take. */
const RUN_TIMEOUT_MS = 180_000
/** Longest wait for a killed worker's job to run again (BullMQ's defaults need up to ~60 s). */
const CRASH_TIMEOUT_MS = 180_000
/** The whole suite, past which it kills its children and exits. */
const SUITE_TIMEOUT_MS = 30 * 60_000
/** Interval at which the completed count is read from Redis (no wake-up exists across libraries). */
const POLL_MS = 5
/** The queue name BullMQ's side uses (bench/peers/bullmq-worker.ts). */
const BULLMQ_QUEUE = 'bench'

const runPrefix = `tidings-bench:${randomBytes(4).toString('hex')}`
const redisUrl = new URL(REDIS_URL)
const bullConnection = { host: redisUrl.hostname, port: Number(redisUrl.port || 6379) }
const admin = new Redis(REDIS_URL)
const children = new Set<BenchProcess>()
let scenarios = 0

/** Remembers a child until it exits, so that a failing or overrunning suite can kill it. */
function track(proc: BenchProcess): BenchProcess {
  children.add(proc)
  proc.child.once('exit', () => children.delete(proc))
  return proc
}

type Lib = 'tidings' | 'bullmq'
type Payload = { t?: string; hang?: boolean }

/** A job start a worker process reported. */
interface RunNotice {
  readonly id: string
  readonly attempt: number
  /** process.hrtime.bigint() at the start, as a string. */
  readonly at: string
  readonly latencyMs: number
}

/** A worker process (either library) driven over IPC. */
class JobWorker {
  readonly #runs: RunNotice[] = []
  #waiter: (() => void) | null = null

  private constructor(readonly proc: BenchProcess) {
    proc.onNotice = (notice: { run?: RunNotice }) => {
      if (notice.run === undefined) return
      this.#runs.push(notice.run)
      this.#waiter?.()
    }
  }

  static async spawn(script: string, env: NodeJS.ProcessEnv): Promise<JobWorker> {
    const proc = track(new BenchProcess(script, null, env))
    await proc.ready
    return new JobWorker(proc)
  }

  async start(): Promise<void> {
    await this.proc.ask({ cmd: 'start' })
  }

  /** The next `n` job starts it reports, or null after `timeoutMs`. */
  async runs(n: number, timeoutMs: number): Promise<RunNotice[] | null> {
    const deadline = Date.now() + timeoutMs
    while (this.#runs.length < n) {
      const left = deadline - Date.now()
      if (left <= 0) return null
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.#waiter = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      this.#waiter = null
    }
    return this.#runs.splice(0, n)
  }

  /** SIGKILL, by pid. */
  crash(): Promise<void> {
    return this.proc.crash()
  }

  /** A graceful stop, SIGKILL after 15 s. */
  async stop(): Promise<void> {
    const child = this.proc.child
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.send({ cmd: 'exit' })
    const timer = setTimeout(() => void this.proc.crash(), 15_000)
    await exited
    clearTimeout(timer)
  }
}

/** One library's producer on a fresh key prefix, and how to start its worker processes. */
interface Rig {
  readonly lib: Lib
  enqueue(payload: Payload): Promise<unknown>
  /** Jobs completed so far, as the library's own store counts them. */
  completed(): Promise<number>
  worker(concurrency: number, hang?: boolean): Promise<JobWorker>
  close(): Promise<void>
}

async function tidingsRig(): Promise<Rig> {
  const prefix = `${runPrefix}:${scenarios++}`
  const log = new RedisEventLog({ url: REDIS_URL, prefix })
  const queue = new RedisJobQueue({ url: REDIS_URL, prefix })
  // The producer runs no worker and follows nothing: enqueue stores the job and appends job.queued.
  const tidings = createTidings({ events: log, jobs: queue })
  tidings.defineJob({ name: 'bench.noop', schema: z.object({ t: z.string().optional(), hang: z.boolean().optional() }), handler: () => null })
  const finished = redisJobKeys(prefix).finished
  return {
    lib: 'tidings',
    enqueue: (payload) => tidings.enqueue('bench.noop', payload),
    completed: () => admin.zcard(finished),
    worker: (concurrency, hang = false) =>
      JobWorker.spawn('./redis-worker.ts', { REDIS_URL, BENCH_REDIS_PREFIX: prefix, BENCH_CONCURRENCY: String(concurrency), BENCH_HANG: hang ? '1' : '0' }),
    async close() {
      await tidings.close()
      await queue.close()
      await log.close()
      await deleteKeys(prefix)
    },
  }
}

/** The slice of BullMQ's Queue this suite uses. */
interface BullQueue {
  waitUntilReady(): Promise<unknown>
  add(name: string, data: unknown): Promise<unknown>
  close(): Promise<void>
}
type BullQueueClass = new (name: string, opts: { connection: unknown; prefix: string }) => BullQueue

// BullMQ lives in bench/peers (its own package), so it is loaded by path and typed locally.
const PEER_QUEUE_MODULE = new URL('../peers/bullmq-queue.ts', import.meta.url).href

async function bullmqRig(): Promise<Rig> {
  const prefix = `${runPrefix}:${scenarios++}:bull`
  const { Queue } = (await import(PEER_QUEUE_MODULE)) as { Queue: BullQueueClass }
  const queue = new Queue(BULLMQ_QUEUE, { connection: bullConnection, prefix })
  await queue.waitUntilReady()
  const completedKey = `${prefix}:${BULLMQ_QUEUE}:completed`
  return {
    lib: 'bullmq',
    enqueue: (payload) => queue.add('noop', payload),
    completed: () => admin.zcard(completedKey),
    worker: (concurrency, hang = false) =>
      JobWorker.spawn('../peers/bullmq-worker.ts', { REDIS_URL, BENCH_BULLMQ_PREFIX: prefix, BENCH_CONCURRENCY: String(concurrency), BENCH_HANG: hang ? '1' : '0' }),
    async close() {
      await queue.close()
      await deleteKeys(prefix)
    },
  }
}

const RIGS: Record<Lib, () => Promise<Rig>> = { tidings: tidingsRig, bullmq: bullmqRig }

async function deleteKeys(prefix: string): Promise<void> {
  let cursor = '0'
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
    cursor = next
    if (keys.length > 0) await admin.unlink(...keys)
  } while (cursor !== '0')
}

/** performance.now() once `n` jobs have completed, or null after `timeoutMs`. */
async function untilCompleted(r: Rig, n: number, timeoutMs: number): Promise<number | null> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    if ((await r.completed()) >= n) return performance.now()
    if (performance.now() > deadline) return null
    await sleep(POLL_MS)
  }
}

/** Enqueues `n` no-op jobs, {@link FILL_CONCURRENCY} at a time; resolves with enqueues/s. */
async function fill(r: Rig, n: number): Promise<number> {
  let left = n
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: FILL_CONCURRENCY }, async () => {
      while (left-- > 0) await r.enqueue({})
    }),
  )
  return n / ((performance.now() - t0) / 1000)
}

interface Throughput {
  jobsPerSec: number | null
  enqueuePerSec: number
}

async function throughput(lib: Lib, concurrency: number): Promise<Throughput> {
  const r = await RIGS[lib]()
  const w = await r.worker(concurrency)
  try {
    const enqueuePerSec = await fill(r, WARMUP + JOBS)
    await w.start()
    const t0 = await untilCompleted(r, WARMUP, RUN_TIMEOUT_MS)
    const t1 = t0 === null ? null : await untilCompleted(r, WARMUP + JOBS, RUN_TIMEOUT_MS)
    return { jobsPerSec: t0 === null || t1 === null ? null : Math.round(JOBS / ((t1 - t0) / 1000)), enqueuePerSec: Math.round(enqueuePerSec) }
  } finally {
    await w.stop()
    await r.close()
  }
}

interface Latency {
  p50Ms: number | null
  p99Ms: number | null
}

async function idleLatency(lib: Lib): Promise<Latency> {
  const r = await RIGS[lib]()
  const w = await r.worker(1)
  try {
    await w.start()
    const latencies: number[] = []
    for (let i = 0; i < LATENCY_WARMUP + LATENCY_SAMPLES; i++) {
      await r.enqueue({ t: String(process.hrtime.bigint()) })
      const run = await w.runs(1, 30_000)
      // The next job goes to an idle worker: wait until this one is recorded.
      if (run === null || (await untilCompleted(r, i + 1, 30_000)) === null) return { p50Ms: null, p99Ms: null }
      if (i >= LATENCY_WARMUP) latencies.push(run[0]!.latencyMs)
    }
    return { p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) }
  } finally {
    await w.stop()
    await r.close()
  }
}

async function burstLatency(lib: Lib): Promise<Latency> {
  const r = await RIGS[lib]()
  const w = await r.worker(32)
  try {
    await w.start()
    await Promise.all(Array.from({ length: BURST }, () => r.enqueue({ t: String(process.hrtime.bigint()) })))
    const runs = await w.runs(BURST, RUN_TIMEOUT_MS)
    if (runs === null) return { p50Ms: null, p99Ms: null }
    const latencies = runs.map((x) => x.latencyMs)
    return { p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) }
  } finally {
    await w.stop()
    await r.close()
  }
}

/** Seconds from SIGKILL of the worker running a job to that job starting in the other worker, or null. */
async function crashRecovery(lib: Lib): Promise<number | null> {
  const r = await RIGS[lib]()
  const victim = await r.worker(1, true)
  let rescuer: JobWorker | undefined
  try {
    await victim.start()
    await r.enqueue({ t: String(process.hrtime.bigint()), hang: true })
    const first = await victim.runs(1, 30_000)
    if (first === null) throw new Error(`${lib}: the victim never started the job`)
    // The rescuer is up and idle before the crash: the figure is recovery, not start-up.
    rescuer = await r.worker(1)
    await rescuer.start()
    const killedAt = process.hrtime.bigint()
    await victim.crash()
    const again = await rescuer.runs(1, CRASH_TIMEOUT_MS)
    if (again === null) return null
    if (again[0]!.id !== first[0]!.id) throw new Error(`${lib}: the rescuer ran another job`)
    return Number(BigInt(again[0]!.at) - killedAt) / 1e9
  } finally {
    await victim.crash()
    await rescuer?.stop()
    await r.close()
  }
}

const ratio = (a: number | null, b: number | null): string | null => (a === null || b === null || b === 0 ? null : `${(a / b).toFixed(2)}×`)

async function fanout(): Promise<void> {
  const prefix = `${runPrefix}:fanout`
  const hub = track(new BenchProcess('./hub-process.ts', 0, { BENCH_ENGINE: 'redis', REDIS_URL, BENCH_REDIS_PREFIX: prefix }))
  const load = track(new BenchProcess('./sse-load.ts', 1))
  try {
    const { port } = await hub.ready
    await load.ready
    const { connected } = await load.ask<{ connected: number }>({ cmd: 'connect', port, n: CONNECTIONS, channel: 'bench' })
    process.stdout.write(`${connected} connections open\n`)
    const { rows, summary } = await rampFanout({ publisher: hub, load, connections: connected })
    report('redis-fanout', `Fan-out through Redis: hub process (publish → XADD → XREAD BLOCK → SSE), ${connected} SSE connections, 200-byte payloads`, rows, [
      summary,
      'hub pinned to core 0, load generator to core 1 (taskset); redis-server unpinned',
    ])
  } finally {
    hub.kill()
    load.kill()
    await deleteKeys(prefix)
  }
}

async function jobs(): Promise<void> {
  const rows: Row[] = []
  for (const concurrency of [1, 32]) {
    const t = await throughput('tidings', concurrency)
    const b = await throughput('bullmq', concurrency)
    rows.push({
      scenario: `drain ${JOBS} no-op jobs (jobs/s)`,
      concurrency,
      tidings: t.jobsPerSec,
      bullmq: b.jobsPerSec,
      'tidings/bullmq': ratio(t.jobsPerSec, b.jobsPerSec),
      tidingsEnqueuePerSec: t.enqueuePerSec,
      bullmqEnqueuePerSec: b.enqueuePerSec,
    })
  }
  const latencyRows = async (scenario: string, concurrency: number, measure: (lib: Lib) => Promise<Latency>): Promise<void> => {
    const t = await measure('tidings')
    const b = await measure('bullmq')
    rows.push({ scenario: `${scenario} p50 (ms)`, concurrency, tidings: t.p50Ms, bullmq: b.p50Ms, 'tidings/bullmq': ratio(t.p50Ms, b.p50Ms) })
    rows.push({ scenario: `${scenario} p99 (ms)`, concurrency, tidings: t.p99Ms, bullmq: b.p99Ms, 'tidings/bullmq': ratio(t.p99Ms, b.p99Ms) })
  }
  await latencyRows('enqueue→start, one at a time, idle worker,', 1, idleLatency)
  await latencyRows(`enqueue→start, burst of ${BURST},`, 32, burstLatency)
  report('redis-jobs', 'Jobs on Redis: Tidings vs BullMQ, one worker process each, same Redis, same run', rows, [
    'jobs/s: higher is better; latency: lower is better; tidings/bullmq is the ratio of the two figures',
    `throughput: ${WARMUP + JOBS} jobs enqueued (${FILL_CONCURRENCY} at a time: *EnqueuePerSec) before the worker starts; jobs/s over the last ${JOBS}, completion read from each library's own completed index`,
    'Tidings: lifecycle events on (job.queued/started/succeeded appended to the Redis stream); BullMQ: defaults (its events stream on, completed jobs kept)',
    'enqueue→start: from before enqueue() in the producer to the handler starting in the worker process (a shared monotonic clock)',
  ])
}

async function crashes(): Promise<void> {
  const rows: Row[] = []
  for (let i = 0; i < CRASH_RUNS; i++) {
    const t = await crashRecovery('tidings')
    const b = await crashRecovery('bullmq')
    rows.push({ run: i + 1, tidingsSec: t, bullmqSec: b, 'tidings/bullmq': ratio(t, b) })
  }
  report('redis-crash', 'Crash recovery on Redis: worker SIGKILLed mid-job → the job running again in an idle worker', rows, [
    'Tidings defaults: heartbeat 5 s, lease 7.5 s (an expired lease is taken over at the next lease call or wake-up timer)',
    'BullMQ defaults: lockDuration 30 s (renewed every 15 s), stalled-job check every 30 s, maxStalledCount 1',
    `— means the job did not run again within ${CRASH_TIMEOUT_MS / 1000} s`,
  ])
}

async function main(): Promise<void> {
  const watchdog = setTimeout(() => {
    process.stderr.write(`redis suite: still running after ${SUITE_TIMEOUT_MS / 60_000} min; stopping\n`)
    for (const c of children) void c.crash()
    process.exit(1)
  }, SUITE_TIMEOUT_MS)
  watchdog.unref()
  try {
    if (PARTS.includes('fanout')) await fanout()
    if (PARTS.includes('jobs')) await jobs()
    if (PARTS.includes('crash')) await crashes()
  } finally {
    for (const c of children) await c.crash()
    await deleteKeys(runPrefix)
    admin.disconnect()
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
