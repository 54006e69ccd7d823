/**
 * Jobs on the memory engine: no-op jobs/s through one worker at concurrency 1 and 32 (each job is
 * stored, leased, run, recorded and its queued/started/succeeded events published and fanned out),
 * and enqueue→start latency p50/p99 — one job at a time into an idle worker, and a burst of 1000
 * into a worker at concurrency 32 (which includes waiting behind the burst). BENCH_JOBS (default
 * 20000) sets the jobs per throughput run.
 */
import { performance } from 'node:perf_hooks'
import { z } from 'zod'
import { createTidings, type Tidings } from '../../src/tidings.js'
import { percentile, report, type Row } from '../lib/report.js'

const JOBS = Number(process.env.BENCH_JOBS ?? 20_000)
const WARMUP = 1_000
const LATENCY_SAMPLES = 1_000
const BURST = 1_000

interface Rig {
  readonly tidings: Tidings
  /** Resolves when `n` more jobs have succeeded. */
  succeeded(n: number): Promise<void>
  /** performance.now() at each handler start, by job index. */
  readonly started: Map<number, number>
  onStart: ((i: number) => void) | null
  close(): Promise<void>
}

async function rig(concurrency: number): Promise<Rig> {
  const tidings = createTidings({ auth: { open: true } })
  await tidings.ready()
  const started = new Map<number, number>()
  const r: Rig = {
    tidings,
    started,
    onStart: null,
    succeeded: () => Promise.resolve(),
    close: () => tidings.close(),
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
  let done = 0
  const pending: { waiter: { target: number; resolve: () => void } | null } = { waiter: null }
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
  r.succeeded = (n) => {
    const target = done + n
    return done >= target ? Promise.resolve() : new Promise<void>((resolve) => (pending.waiter = { target, resolve }))
  }
  await tidings.startWorker({ concurrency })
  return r
}

async function throughput(concurrency: number): Promise<Row> {
  const r = await rig(concurrency)
  const warm = r.succeeded(WARMUP)
  for (let i = 0; i < WARMUP; i++) await r.tidings.enqueue('bench.noop', { i: -1 - i })
  await warm
  const all = r.succeeded(JOBS)
  const t0 = performance.now()
  for (let i = 0; i < JOBS; i++) await r.tidings.enqueue('bench.noop', { i })
  await all
  const ms = performance.now() - t0
  await r.close()
  return { scenario: 'no-op jobs, enqueued back to back', concurrency, jobs: JOBS, jobsPerSec: Math.round(JOBS / (ms / 1000)), p50Ms: null, p99Ms: null }
}

async function idleLatency(): Promise<Row> {
  const r = await rig(1)
  const latencies: number[] = []
  for (let i = 0; i < WARMUP / 10 + LATENCY_SAMPLES; i++) {
    const startedOnce = new Promise<number>((resolve) => (r.onStart = () => resolve(performance.now())))
    const done = r.succeeded(1)
    const t0 = performance.now()
    await r.tidings.enqueue('bench.noop', { i })
    const t1 = await startedOnce
    await done
    if (i >= WARMUP / 10) latencies.push(t1 - t0)
  }
  await r.close()
  return { scenario: 'enqueue→start, one at a time, idle worker', concurrency: 1, jobs: LATENCY_SAMPLES, jobsPerSec: null, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) }
}

async function burstLatency(): Promise<Row> {
  const r = await rig(32)
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
  return { scenario: `enqueue→start, burst of ${BURST}`, concurrency: 32, jobs: BURST, jobsPerSec: null, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) }
}

async function main(): Promise<void> {
  const rows: Row[] = []
  rows.push(await throughput(1))
  rows.push(await throughput(32))
  rows.push(await idleLatency())
  rows.push(await burstLatency())
  report('jobs-memory', 'Jobs on the memory engine: one worker, in-process', rows, [
    'each job: stored, leased, run, recorded; job.queued/started/succeeded published to the log and fanned out by the hub',
    `throughput runs enqueue ${JOBS} jobs one after another while the worker drains them (after ${WARMUP} warm-up jobs)`,
  ])
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
