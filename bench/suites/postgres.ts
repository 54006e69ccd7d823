/**
 * PostgreSQL: jobs and fan-out through the database (DATABASE_URL, else the trust-auth cluster on
 * 127.0.0.1:5432; a schema of its own, dropped at the end).
 *
 * Jobs: no-op jobs through one worker at concurrency 1 and 32, with events and jobs both on
 * PostgreSQL (each job: stored, leased, run, recorded, and job.queued/started/succeeded appended to
 * the log), and with jobs on PostgreSQL but events in memory (the queue's own cost). Throughput
 * drains a backlog enqueued before the worker starts; enqueue→start is measured one job at a time into an idle
 * worker (the wake-up goes through NOTIFY), and for a burst of 1000 into a worker at concurrency 32.
 *
 * Fan-out: a publisher process appends paced events to PostgresEventLog; a separate hub process
 * (pinned to core 0) follows the log (NOTIFY wake-ups, reads from the table) and fans out to N SSE
 * connections of a load process (core 1). The rate steps up until p99 passes 100 ms or deliveries
 * fall behind. BENCH_PG_JOBS (default 3000) and BENCH_CONNECTIONS (default 1000) set the sizes;
 * BENCH_PG_PARTS (default `jobs,fanout`) runs only the parts it names.
 */
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import pg from 'pg'
import { z } from 'zod'
import type { EventLog } from '../../src/core/event-log.js'
import { PostgresEventLog } from '../../src/engines/postgres/event-log.js'
import { PostgresJobQueue } from '../../src/engines/postgres/job-queue.js'
import { createTidings, type Tidings } from '../../src/tidings.js'
import { BenchProcess } from '../lib/proc.js'
import { percentile, report, type Row } from '../lib/report.js'

const DATABASE_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres'
const JOBS = Number(process.env.BENCH_PG_JOBS ?? 3_000)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 1000)
const PARTS = new Set((process.env.BENCH_PG_PARTS ?? 'jobs,fanout').split(','))
const WARMUP = 200
const LATENCY_SAMPLES = 500
const BURST = 1_000
/** Parallel enqueues while filling a backlog. */
const FILL_CONCURRENCY = 16
const STEP_MS = 3_000
const P99_LIMIT_MS = 100
const schemas: string[] = []

function newSchema(label: string): string {
  const schema = `tidings_bench_${label}_${randomBytes(3).toString('hex')}`
  schemas.push(schema)
  return schema
}

type EventsOn = 'postgres' | 'memory'

interface Rig {
  readonly tidings: Tidings
  /** Resolves when `n` more jobs have succeeded. */
  succeeded(n: number): Promise<void>
  /** performance.now() at each handler start, by job index. */
  readonly started: Map<number, number>
  onStart: ((i: number) => void) | null
  startWorker(concurrency: number): Promise<void>
  close(): Promise<void>
}

async function rig(eventsOn: EventsOn): Promise<Rig> {
  const schema = newSchema('jobs')
  const queue = new PostgresJobQueue({ connectionString: DATABASE_URL, schema, poolSize: 20 })
  const log: EventLog | undefined = eventsOn === 'postgres' ? new PostgresEventLog({ connectionString: DATABASE_URL, schema, poolSize: 10 }) : undefined
  const tidings = createTidings({ auth: { open: true }, events: log, jobs: queue })
  await tidings.ready()
  const started = new Map<number, number>()
  let done = 0
  const pending: { waiter: { target: number; resolve: () => void } | null } = { waiter: null }
  const r: Rig = {
    tidings,
    started,
    onStart: null,
    succeeded: (n) => {
      const target = done + n
      return done >= target ? Promise.resolve() : new Promise<void>((resolve) => (pending.waiter = { target, resolve }))
    },
    startWorker: async (concurrency) => {
      await tidings.startWorker({ concurrency })
    },
    close: async () => {
      await tidings.close()
      await queue.close()
      await log?.close()
    },
  }
  tidings.defineJob({
    name: 'bench.noop',
    schema: z.object({ i: z.int() }),
    retries: 0,
    handler: (ctx) => {
      started.set(ctx.payload.i, performance.now())
      r.onStart?.(ctx.payload.i)
      return null
    },
  })
  const sub = tidings.subscribe(['queue:default'], { maxBuffered: 10_000_000 })
  void (async () => {
    for await (const { event } of sub) {
      if (event.type !== 'job.succeeded') continue
      done++
      const w = pending.waiter
      if (w !== null && done >= w.target) {
        pending.waiter = null
        w.resolve()
      }
    }
  })()
  await new Promise((resolve) => setImmediate(resolve))
  return r
}

/** Enqueues jobs `from`..`to - 1`, `FILL_CONCURRENCY` at a time; resolves with enqueues/s. */
async function fill(r: Rig, from: number, to: number): Promise<number> {
  let next = from
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: FILL_CONCURRENCY }, async () => {
      while (next < to) await r.tidings.enqueue('bench.noop', { i: next++ })
    }),
  )
  return (to - from) / ((performance.now() - t0) / 1000)
}

async function throughput(eventsOn: EventsOn, concurrency: number): Promise<Row> {
  const r = await rig(eventsOn)
  const enqueuePerSec = await fill(r, -WARMUP, JOBS)
  const warm = r.succeeded(WARMUP)
  await r.startWorker(concurrency)
  await warm
  const all = r.succeeded(JOBS)
  const t0 = performance.now()
  await all
  const ms = performance.now() - t0
  await r.close()
  return { events: eventsOn, scenario: `drain a backlog of ${JOBS} no-op jobs`, concurrency, jobsPerSec: Math.round(JOBS / (ms / 1000)), enqueuePerSec: Math.round(enqueuePerSec), p50Ms: null, p99Ms: null }
}

async function idleLatency(eventsOn: EventsOn): Promise<Row> {
  const r = await rig(eventsOn)
  await r.startWorker(1)
  const latencies: number[] = []
  for (let i = 0; i < WARMUP / 4 + LATENCY_SAMPLES; i++) {
    const startedOnce = new Promise<number>((resolve) => (r.onStart = () => resolve(performance.now())))
    const done = r.succeeded(1)
    const t0 = performance.now()
    await r.tidings.enqueue('bench.noop', { i })
    const t1 = await startedOnce
    await done
    if (i >= WARMUP / 4) latencies.push(t1 - t0)
  }
  await r.close()
  return { events: eventsOn, scenario: 'enqueue→start, one at a time, idle worker', concurrency: 1, jobsPerSec: null, enqueuePerSec: null, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) }
}

async function burstLatency(eventsOn: EventsOn): Promise<Row> {
  const r = await rig(eventsOn)
  await r.startWorker(32)
  const enqueuedAt = new Map<number, number>()
  const done = r.succeeded(BURST)
  await Promise.all(
    Array.from({ length: BURST }, (_, i) => {
      enqueuedAt.set(i, performance.now())
      return r.tidings.enqueue('bench.noop', { i })
    }),
  )
  await done
  const latencies = [...enqueuedAt].map(([i, t0]) => r.started.get(i)! - t0)
  await r.close()
  return { events: eventsOn, scenario: `enqueue→start, burst of ${BURST}`, concurrency: 32, jobsPerSec: null, enqueuePerSec: null, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) }
}

async function jobs(): Promise<void> {
  const rows: Row[] = []
  for (const eventsOn of ['postgres', 'memory'] as const) {
    rows.push(await throughput(eventsOn, 1))
    rows.push(await throughput(eventsOn, 32))
    rows.push(await idleLatency(eventsOn))
    rows.push(await burstLatency(eventsOn))
  }
  report('postgres-jobs', 'Jobs on PostgreSQL: one worker, in the bench process', rows, [
    'events=postgres: job.queued/started/succeeded appended to PostgresEventLog in the same database; events=memory isolates the queue',
    `throughput: ${WARMUP + JOBS} jobs enqueued (16 at a time: enqueuePerSec) before the worker starts; jobs/s over the last ${JOBS}`,
    'enqueue→start: from before enqueue() to the handler starting; the idle worker is woken by LISTEN/NOTIFY',
  ])
}

async function fanout(): Promise<void> {
  const schema = newSchema('fanout')
  const env = { BENCH_ENGINE: 'postgres', DATABASE_URL, BENCH_PG_SCHEMA: schema }
  const hub = new BenchProcess('./hub-process.ts', 0, env)
  // The first hub migrates the schema; the publisher starts on a ready one.
  await hub.ready
  const publisher = new BenchProcess('./hub-process.ts', null, env)
  const load = new BenchProcess('./sse-load.ts', 1)
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
  const client = new pg.Client({ connectionString: DATABASE_URL })
  await client.connect()
  try {
    for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS ${client.escapeIdentifier(s)} CASCADE`)
  } finally {
    await client.end()
  }
}

async function main(): Promise<void> {
  try {
    if (PARTS.has('jobs')) await jobs()
    if (PARTS.has('fanout')) await fanout()
  } finally {
    // The hub processes may still be closing their connections: give them a moment before dropping.
    await new Promise((r) => setTimeout(r, 500))
    await dropAll()
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
