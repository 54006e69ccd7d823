/**
 * Redis (REDIS_URL, else 127.0.0.1:6379; every key under a random prefix, deleted at the end).
 *
 * Fan-out: one hub process (core 0) reading a RedisEventLog, N SSE connections from the load
 * process (core 1); the hub publishes paced 200-byte events into the Redis stream (XADD) and its
 * tail reads them back (XREAD BLOCK) before fanning them out; the rate steps up as in `fanout`.
 *
 * Jobs, Tidings beside BullMQ in the same run on the same server: one worker process each
 * (bench/lib/engine-worker.ts with BENCH_ENGINE=redis, bench/peers/bullmq-worker.ts) with a no-op handler, the producer in
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
import { Redis } from 'ioredis'
import { z } from 'zod'
import { RedisEventLog } from '../../src/engines/redis/event-log.js'
import { RedisJobQueue, redisJobKeys } from '../../src/engines/redis/job-queue.js'
import { createTidings } from '../../src/tidings.js'
import {
  burstLatency,
  crashAll,
  crashRecovery,
  idleLatency,
  JobWorker,
  ratio,
  throughput,
  track,
  watchdog,
  type JobBenchOptions,
  type Latency,
  type Rig,
  type RigFactory,
} from '../lib/job-bench.js'
import { BenchProcess } from '../lib/proc.js'
import { rampFanout } from '../lib/ramp.js'
import { report, type Row } from '../lib/report.js'

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379'
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 1000)
const JOBS = Number(process.env.BENCH_REDIS_JOBS ?? 5_000)
const CRASH_RUNS = Number(process.env.BENCH_CRASH_RUNS ?? 1)
/** Which parts run: a comma-separated subset of fanout,jobs,crash (BENCH_REDIS_PARTS). */
const PARTS = (process.env.BENCH_REDIS_PARTS ?? 'fanout,jobs,crash').split(',')
const BENCH: JobBenchOptions = {
  jobs: JOBS,
  warmup: 300,
  pollMs: 5,
  warmupBudgetMs: 60_000,
  runBudgetMs: 180_000,
  latencySamples: 500,
  latencyWarmup: 50,
  latencyBudgetMs: 120_000,
  burst: 1_000,
  burstTimeoutMs: 180_000,
}
/** Longest wait for a killed worker's job to run again (BullMQ's defaults need up to ~60 s). */
const CRASH_TIMEOUT_MS = 180_000
/** The whole suite, past which it kills its children and exits. */
const SUITE_TIMEOUT_MS = 30 * 60_000
/** The queue name BullMQ's side uses (bench/peers/bullmq-worker.ts). */
const BULLMQ_QUEUE = 'bench'

const runPrefix = `tidings-bench:${randomBytes(4).toString('hex')}`
const redisUrl = new URL(REDIS_URL)
const bullConnection = { host: redisUrl.hostname, port: Number(redisUrl.port || 6379) }
const admin = new Redis(REDIS_URL)
let scenarios = 0

type Lib = 'tidings' | 'bullmq'

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
      JobWorker.spawn('./engine-worker.ts', { BENCH_ENGINE: 'redis', REDIS_URL, BENCH_REDIS_PREFIX: prefix, BENCH_CONCURRENCY: String(concurrency), BENCH_HANG: hang ? '1' : '0' }),
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

const RIGS: Record<Lib, RigFactory> = { tidings: tidingsRig, bullmq: bullmqRig }

async function deleteKeys(prefix: string): Promise<void> {
  let cursor = '0'
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
    cursor = next
    if (keys.length > 0) await admin.unlink(...keys)
  } while (cursor !== '0')
}

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
    const t = await throughput(RIGS.tidings, concurrency, BENCH)
    const b = await throughput(RIGS.bullmq, concurrency, BENCH)
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
  const latencyRows = async (scenario: string, concurrency: number, measure: (factory: RigFactory) => Promise<Latency>): Promise<void> => {
    const t = await measure(RIGS.tidings)
    const b = await measure(RIGS.bullmq)
    rows.push({ scenario: `${scenario} p50 (ms)`, concurrency, tidings: t.p50Ms, bullmq: b.p50Ms, 'tidings/bullmq': ratio(t.p50Ms, b.p50Ms) })
    rows.push({ scenario: `${scenario} p99 (ms)`, concurrency, tidings: t.p99Ms, bullmq: b.p99Ms, 'tidings/bullmq': ratio(t.p99Ms, b.p99Ms) })
  }
  await latencyRows('enqueue→start, one at a time, idle worker,', 1, (f) => idleLatency(f, BENCH))
  await latencyRows(`enqueue→start, burst of ${BENCH.burst},`, 32, (f) => burstLatency(f, BENCH))
  report('redis-jobs', 'Jobs on Redis: Tidings vs BullMQ, one worker process each, same Redis, same run', rows, [
    'jobs/s: higher is better; latency: lower is better; tidings/bullmq is the ratio of the two figures',
    `throughput: ${BENCH.warmup + JOBS} jobs enqueued (16 at a time: *EnqueuePerSec) before the worker starts; jobs/s over the last ${JOBS}, completion read from each library's own completed index`,
    'Tidings: lifecycle events on (job.queued/started/succeeded appended to the Redis stream); BullMQ: defaults (its events stream on, completed jobs kept)',
    'enqueue→start: from before enqueue() in the producer to the handler starting in the worker process (a shared monotonic clock)',
  ])
}

async function crashes(): Promise<void> {
  const rows: Row[] = []
  for (let i = 0; i < CRASH_RUNS; i++) {
    const t = await crashRecovery(RIGS.tidings, CRASH_TIMEOUT_MS)
    const b = await crashRecovery(RIGS.bullmq, CRASH_TIMEOUT_MS)
    rows.push({ run: i + 1, tidingsSec: t, bullmqSec: b, 'tidings/bullmq': ratio(t, b) })
  }
  report('redis-crash', 'Crash recovery on Redis: worker SIGKILLed mid-job → the job running again in an idle worker', rows, [
    'Tidings defaults: heartbeat 5 s, lease 7.5 s (an expired lease is taken over at the next lease call or wake-up timer)',
    'BullMQ defaults: lockDuration 30 s (renewed every 15 s), stalled-job check every 30 s, maxStalledCount 1',
    `— means the job did not run again within ${CRASH_TIMEOUT_MS / 1000} s`,
  ])
}

async function main(): Promise<void> {
  watchdog('redis', SUITE_TIMEOUT_MS)
  try {
    if (PARTS.includes('fanout')) await fanout()
    if (PARTS.includes('jobs')) await jobs()
    if (PARTS.includes('crash')) await crashes()
  } finally {
    await crashAll()
    await deleteKeys(runPrefix)
    admin.disconnect()
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
