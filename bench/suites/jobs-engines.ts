/**
 * Tidings' own jobs on every engine, side by side in one run: memory, Redis (REDIS_URL, else
 * 127.0.0.1:6379), PostgreSQL (DATABASE_URL, else 127.0.0.1:5432 database `test`), NATS
 * JetStream (NATS_URL, else 127.0.0.1:4222) and RabbitMQ (AMQP_URL, else guest@127.0.0.1:5672,
 * job records in a PostgresJobQueue on DATABASE_URL). Every engine on a fresh namespace (key
 * prefix, schema, streams and bucket, queues and exchange), removed at the end.
 *
 * One worker process per measurement (bench/lib/engine-worker.ts) with a no-op handler and
 * lifecycle events on that engine's own event log (job.queued/started/succeeded appended to it);
 * the producer is this process (a Tidings instance on the same engines), except on memory, whose
 * queue lives in one process: there the worker process enqueues on this process's command.
 * Completions are counted in the worker process (its queue's complete() calls that resolved).
 * The measurements are those of bench/lib/job-bench.ts: drain a backlog of BENCH_ENGINE_JOBS
 * (default 5000) no-op jobs at concurrency 1 and 32; enqueue→start one job at a time into an idle
 * worker, and for a burst of 1000 at concurrency 32. BENCH_ENGINES (default
 * `memory,redis,postgres,nats,rabbitmq`) runs only the engines it names.
 */
import { randomBytes } from 'node:crypto'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect as natsConnect } from '@nats-io/transport-node'
import { connect as amqpConnect } from 'amqplib'
import { Redis } from 'ioredis'
import pg from 'pg'
import { natsNamesFor } from '../../src/engines/nats/connection.js'
import { rabbitJobTopology } from '../../src/engines/rabbitmq/job-queue.js'
import { createTidings } from '../../src/tidings.js'
import { BENCH_PAYLOAD, openEngine } from '../lib/engine-worker.js'
import {
  burstLatency,
  crashAll,
  idleLatency,
  JobWorker,
  throughput,
  watchdog,
  type JobBenchOptions,
  type Payload,
  type Rig,
  type RigFactory,
} from '../lib/job-bench.js'
import { report, type Row } from '../lib/report.js'

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379'
const DATABASE_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test'
const NATS_URL = process.env.NATS_URL || 'nats://127.0.0.1:4222'
const AMQP_URL = process.env.AMQP_URL || 'amqp://guest:guest@127.0.0.1:5672'
const JOBS = Number(process.env.BENCH_ENGINE_JOBS ?? 5_000)
const ENGINES = ['memory', 'redis', 'postgres', 'nats', 'rabbitmq'] as const
type Engine = (typeof ENGINES)[number]
const WANTED = new Set((process.env.BENCH_ENGINES ?? ENGINES.join(',')).split(','))
const BENCH: JobBenchOptions = {
  jobs: JOBS,
  warmup: 300,
  // The count is asked of the worker process over IPC: cheap enough to ask often.
  pollMs: 5,
  warmupBudgetMs: 20_000,
  runBudgetMs: 90_000,
  latencySamples: 500,
  latencyWarmup: 50,
  latencyBudgetMs: 60_000,
  burst: 1_000,
  burstTimeoutMs: 180_000,
}
/** The whole suite, past which it kills its children and exits. */
const SUITE_TIMEOUT_MS = 24 * 60_000
const run = randomBytes(3).toString('hex')
let scenarios = 0

/** Namespaces, one per rig, and how to remove each. */
interface Namespace {
  readonly env: NodeJS.ProcessEnv
  remove(): Promise<void>
}

async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: DATABASE_URL })
  await client.connect()
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  } finally {
    await client.end()
  }
}

function namespace(engine: Engine): Namespace {
  const id = `${run}_${scenarios++}`
  switch (engine) {
    case 'memory':
      return { env: {}, remove: async () => {} }
    case 'redis': {
      const prefix = `tidings-bench-engines:${id}`
      return {
        env: { REDIS_URL, BENCH_REDIS_PREFIX: prefix },
        async remove() {
          const redis = new Redis(REDIS_URL)
          let cursor = '0'
          do {
            const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
            cursor = next
            if (keys.length > 0) await redis.unlink(...keys)
          } while (cursor !== '0')
          redis.disconnect()
        },
      }
    }
    case 'postgres': {
      const schema = `tidings_bench_engines_${id}`
      return { env: { DATABASE_URL, BENCH_PG_SCHEMA: schema }, remove: () => dropSchema(schema) }
    }
    case 'nats': {
      const prefix = `tidings_bench_${id}`
      const names = natsNamesFor(prefix)
      return {
        env: { NATS_URL, BENCH_NATS_PREFIX: prefix },
        async remove() {
          const nc = await natsConnect({ servers: NATS_URL, maxReconnectAttempts: 1 })
          try {
            const jsm = await jetstreamManager(nc)
            for (const stream of [names.stream, names.workStream, `KV_${names.bucket}`]) await jsm.streams.delete(stream).catch(() => false)
          } finally {
            await nc.close()
          }
        },
      }
    }
    case 'rabbitmq': {
      const schema = `tidings_bench_engines_${id}`
      const stream = `tidings-bench.${id}.events`
      const prefix = `tidings-bench.${id}.jobs`
      const topology = rabbitJobTopology(prefix)
      return {
        env: { AMQP_URL, DATABASE_URL, BENCH_PG_SCHEMA: schema, BENCH_RABBITMQ_STREAM: stream, BENCH_RABBITMQ_PREFIX: prefix },
        async remove() {
          const conn = await amqpConnect(AMQP_URL)
          conn.on('error', () => undefined)
          try {
            for (const queue of [stream, topology.laneQueue('default', 'bench.noop'), topology.deadLetters]) {
              const ch = await conn.createChannel()
              ch.on('error', () => undefined)
              await ch.deleteQueue(queue).catch(() => undefined)
              await ch.close().catch(() => undefined)
            }
            const ch = await conn.createChannel()
            ch.on('error', () => undefined)
            await ch.deleteExchange(topology.exchange).catch(() => undefined)
            await ch.close().catch(() => undefined)
          } finally {
            await conn.close().catch(() => undefined)
          }
          await dropSchema(schema)
        },
      }
    }
  }
}

/** A Tidings rig on `engine`: the producer here (on memory, in the worker process). */
function rig(engine: Engine): RigFactory {
  return async (): Promise<Rig> => {
    const ns = namespace(engine)
    const spawn = (concurrency: number, hang: boolean): Promise<JobWorker> =>
      JobWorker.spawn('./engine-worker.ts', { ...ns.env, BENCH_ENGINE: engine, BENCH_CONCURRENCY: String(concurrency), BENCH_HANG: hang ? '1' : '0' })
    // Completions are counted by the worker process; a rig has one worker at a time here.
    let current: JobWorker | undefined
    const worker = async (concurrency: number, hang = false): Promise<JobWorker> => (current = await spawn(concurrency, hang))
    const completed = async (): Promise<number> => (current === undefined ? 0 : (await current.ask<{ completed: number }>({ cmd: 'completed' })).completed)
    if (engine === 'memory') {
      return {
        lib: engine,
        enqueue: (payload: Payload) => current!.ask({ cmd: 'enqueue', stamp: payload.t !== undefined }),
        fill: async (n) => (await current!.ask<{ enqueuePerSec: number }>({ cmd: 'fill', n, concurrency: 16 })).enqueuePerSec,
        completed,
        worker,
        close: () => ns.remove(),
      }
    }
    const { log, queue } = await openEngine(engine, { ...process.env, ...ns.env })
    await queue.ready()
    await log?.ready()
    // The producer runs no worker and follows nothing: enqueue stores the job and appends job.queued.
    const tidings = createTidings({ events: log, jobs: queue })
    tidings.defineJob({ name: 'bench.noop', schema: BENCH_PAYLOAD, handler: () => null })
    return {
      lib: engine,
      enqueue: (payload: Payload) => tidings.enqueue('bench.noop', payload),
      completed,
      worker,
      async close() {
        await tidings.close()
        await queue.close()
        await log?.close()
        await ns.remove()
      },
    }
  }
}

async function main(): Promise<void> {
  watchdog('jobs-engines', SUITE_TIMEOUT_MS)
  const rows: Row[] = []
  const notes: string[] = []
  try {
    for (const engine of ENGINES) {
      if (!WANTED.has(engine)) continue
      const factory = rig(engine)
      const c1 = await throughput(factory, 1, BENCH)
      const c32 = await throughput(factory, 32, BENCH)
      const idle = await idleLatency(factory, BENCH)
      const burst = await burstLatency(factory, BENCH)
      rows.push({
        engine,
        'jobs/s c=1': c1.jobsPerSec,
        'jobs/s c=32': c32.jobsPerSec,
        'enqueue/s': c32.enqueuePerSec,
        'idle p50 ms': idle.p50Ms,
        'idle p99 ms': idle.p99Ms,
        'burst p50 ms': burst.p50Ms,
        'burst p99 ms': burst.p99Ms,
      })
      for (const [label, t] of [['c=1', c1], ['c=32', c32]] as const) {
        if (!t.finished) notes.push(`${engine} ${label}: jobs/s over ${t.measured} jobs (the ${BENCH.runBudgetMs! / 1000} s budget ran out first)`)
      }
      if (idle.samples < BENCH.latencySamples!) notes.push(`${engine}: idle latency over ${idle.samples} samples`)
      process.stdout.write(`${engine} done\n`)
    }
    report('jobs-engines', "Tidings jobs on each engine: one worker process, lifecycle events on the engine's own log", rows, [
      `jobs/s: drain a backlog of ${BENCH.warmup + JOBS} no-op jobs (enqueued 16 at a time: enqueue/s, at c=32) with one worker process at concurrency 1 and 32; over the ${JOBS} after the first ${BENCH.warmup}`,
      'idle: enqueue→start one job at a time into an idle worker (c=1); burst: 1000 jobs enqueued at once into a worker at c=32 (includes waiting behind the burst)',
      'producer in the suite process (memory: in the worker process, its queue being in-process); rabbitmq: job records in a PostgresJobQueue',
      ...notes,
    ])
  } finally {
    await crashAll()
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
