/**
 * PostgreSQL: jobs and fan-out through the database (DATABASE_URL, else the trust-auth cluster on
 * 127.0.0.1:5432, database `test`; every library in a schema of its own, dropped at the end).
 *
 * Jobs, Tidings beside pg-boss and graphile-worker in the same run on the same server: one worker
 * process each (bench/lib/engine-worker.ts with BENCH_ENGINE=postgres, bench/peers/pgboss-worker.ts,
 * bench/peers/graphile-worker.ts) with a no-op handler, the producer in this process. Throughput
 * drains a backlog at concurrency 1 and 32; enqueue→start is measured one job at a time into an
 * idle worker (concurrency 1) and for a burst of 1000 (concurrency 32). Tidings runs with
 * lifecycle events on (job.queued/started/succeeded appended to PostgresEventLog in the same
 * database); a second Tidings column keeps the events in the worker's memory (the queue's own
 * cost). The peers run with their README defaults (bench/peers/*.ts say which). Completions are
 * read from each library's own table. pg-boss fetches one batch per 2 s polling interval by
 * default, so its runs are bounded by time, not job counts (see bench/lib/job-bench.ts).
 *
 * Fan-out: a publisher process appends paced events to PostgresEventLog; a separate hub process
 * (pinned to core 0) follows the log (NOTIFY wake-ups, reads from the table) and fans out to N SSE
 * connections of a load process (core 1). The rate steps up until p99 passes 100 ms or deliveries
 * fall behind. BENCH_PG_JOBS (default 5000 per throughput run) and BENCH_CONNECTIONS (default
 * 1000) set the sizes; BENCH_PG_PARTS (default `jobs,fanout`; `drain` or `latency` for half of
 * `jobs`) runs only the parts it names, and
 * BENCH_PG_LIBS (default `tidings,tidings-mem,pgboss,graphile`) only the libraries it names.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { z } from 'zod'
import { PostgresEventLog } from '../../src/engines/postgres/event-log.js'
import { PostgresJobQueue } from '../../src/engines/postgres/job-queue.js'
import { createTidings } from '../../src/tidings.js'
import {
  burstLatency,
  crashAll,
  idleLatency,
  JobWorker,
  ratio,
  throughput,
  track,
  watchdog,
  type JobBenchOptions,
  type Latency,
  type Payload,
  type Rig,
  type RigFactory,
  type Throughput,
} from '../lib/job-bench.js'
import { BenchProcess } from '../lib/proc.js'
import { percentile, report, type Row } from '../lib/report.js'

const DATABASE_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test'
const JOBS = Number(process.env.BENCH_PG_JOBS ?? 5_000)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 1000)
const PARTS = new Set((process.env.BENCH_PG_PARTS ?? 'jobs,fanout').split(','))
const LIBS = new Set((process.env.BENCH_PG_LIBS ?? 'tidings,tidings-mem,pgboss,graphile').split(','))
const BENCH: JobBenchOptions = {
  jobs: JOBS,
  warmup: 200,
  // Completions are counted in the database: a 10 ms poll keeps that query's load small.
  pollMs: 10,
  warmupBudgetMs: 10_000,
  runBudgetMs: 60_000,
  latencySamples: 500,
  latencyWarmup: 50,
  latencyBudgetMs: 60_000,
  burst: 1_000,
  burstTimeoutMs: 180_000,
}
const STEP_MS = 3_000
const P99_LIMIT_MS = 100
/** The whole suite, past which it kills its children and exits. */
const SUITE_TIMEOUT_MS = 24 * 60_000
/** The queue (pg-boss) or task (graphile-worker) the peers use. */
const PGBOSS_QUEUE = 'bench'
const GRAPHILE_TASK = 'noop'
const schemas: string[] = []
const admin = new pg.Pool({ connectionString: DATABASE_URL, max: 2 })

function newSchema(label: string): string {
  const schema = `tidings_bench_${label}_${randomBytes(3).toString('hex')}`
  schemas.push(schema)
  return schema
}

async function dropSchema(schema: string): Promise<void> {
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
}

async function count(sql: string): Promise<number> {
  const { rows } = await admin.query<{ n: number }>(sql)
  return rows[0]!.n
}

/** Tidings: PostgresJobQueue, lifecycle events on PostgresEventLog (or, with events='memory', in each process). */
function tidingsRig(events: 'postgres' | 'memory'): RigFactory {
  return async (): Promise<Rig> => {
    const schema = newSchema(events === 'postgres' ? 'tidings' : 'tidingsmem')
    const queue = new PostgresJobQueue({ connectionString: DATABASE_URL, schema })
    const log = events === 'postgres' ? new PostgresEventLog({ connectionString: DATABASE_URL, schema }) : undefined
    await queue.ready()
    await log?.ready()
    // The producer runs no worker and follows nothing: enqueue stores the job and appends job.queued.
    const tidings = createTidings({ events: log, jobs: queue })
    tidings.defineJob({ name: 'bench.noop', schema: z.object({ t: z.string().optional(), hang: z.boolean().optional() }), handler: () => null })
    return {
      lib: events === 'postgres' ? 'tidings' : 'tidings (events in memory)',
      enqueue: (payload: Payload) => tidings.enqueue('bench.noop', payload),
      completed: () => count(`SELECT count(*)::int AS n FROM "${schema}".jobs WHERE status = 'succeeded'`),
      worker: (concurrency, hang = false) =>
        JobWorker.spawn('./engine-worker.ts', {
          BENCH_ENGINE: 'postgres',
          BENCH_EVENTS: events === 'postgres' ? 'engine' : 'memory',
          DATABASE_URL,
          BENCH_PG_SCHEMA: schema,
          BENCH_CONCURRENCY: String(concurrency),
          BENCH_HANG: hang ? '1' : '0',
        }),
      async close() {
        await tidings.close()
        await queue.close()
        await log?.close()
        await dropSchema(schema)
      },
    }
  }
}

/** The slice of pg-boss this suite uses (it lives in bench/peers, loaded by path and typed here). */
interface PgBossLike {
  on(event: 'error', listener: (err: unknown) => void): unknown
  start(): Promise<unknown>
  createQueue(name: string): Promise<void>
  send(name: string, data: object): Promise<string | null>
  stop(options: { graceful?: boolean; wait?: boolean; timeout?: number }): Promise<void>
}
type PgBossClass = new (options: { connectionString: string; schema: string; supervise?: boolean; schedule?: boolean }) => PgBossLike

async function pgbossRig(): Promise<Rig> {
  const schema = newSchema('pgboss')
  const { PgBoss } = (await import(new URL('../peers/pgboss-queue.ts', import.meta.url).href)) as { PgBoss: PgBossClass }
  // A send-only instance: it creates the schema; the worker process runs maintenance.
  const boss = new PgBoss({ connectionString: DATABASE_URL, schema, supervise: false, schedule: false })
  boss.on('error', (err) => process.stderr.write(`pg-boss producer: ${String(err)}\n`))
  await boss.start()
  await boss.createQueue(PGBOSS_QUEUE)
  return {
    lib: 'pg-boss',
    enqueue: (payload) => boss.send(PGBOSS_QUEUE, payload),
    completed: () => count(`SELECT count(*)::int AS n FROM "${schema}".job WHERE name = '${PGBOSS_QUEUE}' AND state = 'completed'`),
    worker: (concurrency, hang = false) =>
      JobWorker.spawn('../peers/pgboss-worker.ts', { DATABASE_URL, BENCH_PGBOSS_SCHEMA: schema, BENCH_CONCURRENCY: String(concurrency), BENCH_HANG: hang ? '1' : '0' }),
    async close() {
      await boss.stop({ graceful: false, wait: true, timeout: 1_000 })
      await dropSchema(schema)
    },
  }
}

/** The slice of graphile-worker's WorkerUtils this suite uses. */
interface GraphileUtils {
  migrate(): Promise<void>
  addJob(identifier: string, payload: unknown): Promise<unknown>
  release(): Promise<void>
}
type MakeWorkerUtils = (options: { connectionString: string; schema: string }) => Promise<GraphileUtils>

async function graphileRig(): Promise<Rig> {
  const schema = newSchema('graphile')
  const { makeWorkerUtils } = (await import(new URL('../peers/graphile-queue.ts', import.meta.url).href)) as { makeWorkerUtils: MakeWorkerUtils }
  const utils = await makeWorkerUtils({ connectionString: DATABASE_URL, schema })
  await utils.migrate()
  let added = 0
  return {
    lib: 'graphile-worker',
    enqueue: async (payload) => {
      await utils.addJob(GRAPHILE_TASK, payload)
      added++
    },
    // A completed job's row is deleted: completed = added − rows left.
    completed: async () => added - (await count(`SELECT count(*)::int AS n FROM "${schema}"._private_jobs`)),
    worker: (concurrency, hang = false) =>
      JobWorker.spawn('../peers/graphile-worker.ts', { DATABASE_URL, BENCH_GRAPHILE_SCHEMA: schema, BENCH_CONCURRENCY: String(concurrency), BENCH_HANG: hang ? '1' : '0' }),
    async close() {
      await utils.release()
      await dropSchema(schema)
    },
  }
}

type Lib = 'tidings' | 'tidings-mem' | 'pgboss' | 'graphile'
const RIGS: Record<Lib, RigFactory> = { tidings: tidingsRig('postgres'), 'tidings-mem': tidingsRig('memory'), pgboss: pgbossRig, graphile: graphileRig }
const COLUMNS: Record<Lib, string> = { tidings: 'tidings', 'tidings-mem': 'tidings (events in memory)', pgboss: 'pg-boss', graphile: 'graphile-worker' }
const ALL_LIBS: readonly Lib[] = ['tidings', 'tidings-mem', 'pgboss', 'graphile']

/** Runs `measure` for each library asked for, in the order of ALL_LIBS. */
async function each<T>(libs: readonly Lib[], measure: (factory: RigFactory) => Promise<T>): Promise<Partial<Record<Lib, T>>> {
  const out: Partial<Record<Lib, T>> = {}
  for (const lib of libs) if (LIBS.has(lib)) out[lib] = await measure(RIGS[lib])
  return out
}

async function jobs(): Promise<void> {
  const rows: Row[] = []
  const notes: string[] = []
  const ratios = (get: (l: Lib) => number | null): Row => ({
    'tidings/pg-boss': ratio(get('tidings'), get('pgboss')),
    'tidings/graphile-worker': ratio(get('tidings'), get('graphile')),
  })
  for (const concurrency of PARTS.has('jobs') || PARTS.has('drain') ? [1, 32] : []) {
    const t = await each(ALL_LIBS, (f) => throughput(f, concurrency, BENCH))
    const get = (l: Lib): number | null => t[l]?.jobsPerSec ?? null
    const row: Row = { scenario: `drain ${JOBS} no-op jobs (jobs/s)`, concurrency }
    for (const l of ALL_LIBS) if (LIBS.has(l)) row[COLUMNS[l]] = get(l)
    rows.push({ ...row, ...ratios(get) })
    const enq: Row = { scenario: 'enqueue, 16 at a time (jobs/s)', concurrency }
    for (const l of ALL_LIBS) if (LIBS.has(l)) enq[COLUMNS[l]] = (t[l] as Throughput | undefined)?.enqueuePerSec ?? null
    rows.push(enq)
    for (const l of ALL_LIBS) {
      const m = t[l]
      if (m !== undefined && !m.finished) notes.push(`${COLUMNS[l]} at concurrency ${concurrency}: jobs/s over ${m.measured} jobs (the ${BENCH.runBudgetMs! / 1000} s budget ran out first)`)
    }
  }
  const latencyRows = async (scenario: string, concurrency: number, measure: (f: RigFactory) => Promise<Latency>): Promise<void> => {
    const libs = ALL_LIBS.filter((l) => l !== 'tidings-mem')
    const m = await each(libs, measure)
    for (const [p, key] of [['p50', 'p50Ms'], ['p99', 'p99Ms']] as const) {
      const get = (l: Lib): number | null => m[l]?.[key] ?? null
      const row: Row = { scenario: `${scenario} ${p} (ms)`, concurrency }
      for (const l of libs) if (LIBS.has(l)) row[COLUMNS[l]] = get(l)
      rows.push({ ...row, ...ratios(get) })
    }
    for (const l of libs) {
      const s = m[l]?.samples
      if (s !== undefined && s < (scenario.includes('burst') ? BENCH.burst! : BENCH.latencySamples!)) notes.push(`${COLUMNS[l]}, ${scenario.replace(/,$/, "")}: ${s} samples`)
    }
  }
  if (PARTS.has('jobs') || PARTS.has('latency')) {
    await latencyRows('enqueue→start, one at a time, idle worker,', 1, (f) => idleLatency(f, BENCH))
    await latencyRows(`enqueue→start, burst of ${BENCH.burst},`, 32, (f) => burstLatency(f, BENCH))
  }
  report('postgres-jobs', 'Jobs on PostgreSQL: Tidings vs pg-boss vs graphile-worker, one worker process each, same server, same run', rows, [
    'jobs/s: higher is better; latency: lower is better; the ratio columns divide the tidings figure by the peer\'s',
    `throughput: ${BENCH.warmup + JOBS} jobs enqueued (16 at a time) before the worker starts; jobs/s over the ${JOBS} after the first ${BENCH.warmup}, completion read from each library's own table`,
    'tidings: lifecycle events on (job.queued/started/succeeded appended to PostgresEventLog in the same database); tidings (events in memory): the queue alone',
    'pg-boss 10: work(queue, { batchSize: N }, jobs => Promise.allSettled(jobs.map(handler))), defaults otherwise (one fetch per 2 s polling interval); graphile-worker 0.17: run({ concurrency: N }), defaults otherwise (LISTEN/NOTIFY, no local queue or batching)',
    'enqueue→start: from before enqueue() in the producer to the handler starting in the worker process (a shared monotonic clock)',
    ...notes,
  ])
}

async function fanout(): Promise<void> {
  const schema = newSchema('fanout')
  const env = { BENCH_ENGINE: 'postgres', DATABASE_URL, BENCH_PG_SCHEMA: schema }
  const hub = track(new BenchProcess('./hub-process.ts', 0, env))
  // The first hub migrates the schema; the publisher starts on a ready one.
  await hub.ready
  const publisher = track(new BenchProcess('./hub-process.ts', null, env))
  const load = track(new BenchProcess('./sse-load.ts', 1))
  const { port } = await hub.ready
  await publisher.ready
  await load.ready
  const { connected } = await load.ask<{ connected: number }>({ cmd: 'connect', port, n: CONNECTIONS, channel: 'bench' })
  process.stdout.write(`${connected} connections open\n`)

  interface Step {
    eventsPerSec: number
    deliveriesPerSec: number
    delivered: string
    p50Ms: number
    p99Ms: number
    publisherCpu: string
    loadCpu: string
    ok: boolean
  }
  const measure = async (rate: number): Promise<Step> => {
    await publisher.ask({ cmd: 'publish', rate, ms: 500, channel: 'bench' })
    await load.ask({ cmd: 'reset' })
    const { published, cpu } = await publisher.ask<{ published: number; cpu: number }>({ cmd: 'publish', rate, ms: STEP_MS, channel: 'bench' })
    await new Promise((r) => setTimeout(r, 2 * P99_LIMIT_MS))
    const { frames, latenciesMs, cpu: loadCpu } = await load.ask<{ frames: number; latenciesMs: number[]; cpu: number }>({ cmd: 'report' })
    const expected = published * connected
    const p99Ms = percentile(latenciesMs, 99)
    return {
      eventsPerSec: rate,
      deliveriesPerSec: Math.round(frames / (STEP_MS / 1000)),
      delivered: `${((frames / expected) * 100).toFixed(1)}%`,
      p50Ms: percentile(latenciesMs, 50),
      p99Ms,
      publisherCpu: `${Math.round(cpu * 100)}%`,
      loadCpu: `${Math.round(loadCpu * 100)}%`,
      ok: frames >= expected * 0.97 && p99Ms <= P99_LIMIT_MS,
    }
  }
  const row = (step: string, r: Step): Row => ({ step, ...r, ok: r.ok ? 'yes' : 'no' })
  const rows: Row[] = []
  let best: Step | null = null
  for (let rate = 25; rate <= 20_000; rate = Math.round(rate * 1.5)) {
    let r = await measure(rate)
    if (!r.ok) r = await measure(rate)
    rows.push(row('ramp', r))
    if (!r.ok) break
    best = r
  }
  if (best) rows.push(row('half of max', await measure(Math.max(1, Math.round(best.eventsPerSec / 2)))))
  report('postgres-fanout', `Fan-out through PostgreSQL: publisher process → PostgresEventLog → hub process, ${connected} SSE connections, 200-byte payloads`, rows, [
    `max sustained deliveries/s: ${best?.deliveriesPerSec ?? 0} (p99 ≤ ${P99_LIMIT_MS} ms and ≥ 97% delivered within each ${STEP_MS / 1000} s step)`,
    'the publisher appends one batch per 5 ms tick; the hub is woken by NOTIFY and reads the events table',
    'hub pinned to core 0, load generator to core 1 (taskset); publisher and PostgreSQL unpinned',
  ])
  hub.kill()
  publisher.kill()
  load.kill()
}

async function dropAll(): Promise<void> {
  for (const s of schemas) await dropSchema(s)
}

async function main(): Promise<void> {
  watchdog('postgres', SUITE_TIMEOUT_MS)
  try {
    if (PARTS.has('jobs') || PARTS.has('drain') || PARTS.has('latency')) await jobs()
    if (PARTS.has('fanout')) await fanout()
  } finally {
    await crashAll()
    // The hub processes may still be closing their connections: give them a moment before dropping.
    await new Promise((r) => setTimeout(r, 500))
    await dropAll()
    await admin.end()
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
