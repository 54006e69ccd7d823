/**
 * What every job benchmark shares: worker processes of any library driven over IPC
 * ({@link JobWorker}), one library's producer and store ({@link Rig}), and the three measurements
 * — draining a backlog ({@link throughput}), enqueue→start one job at a time into an idle worker
 * ({@link idleLatency}) and for a burst ({@link burstLatency}) — plus crash recovery
 * ({@link crashRecovery}). bench/suites/redis.ts, postgres.ts and jobs-engines.ts use it.
 *
 * The worker-process protocol (bench/lib/engine-worker.ts,
 * bench/peers/*-worker.ts):
 *   → { ready, pid }; { cmd: 'start' } → { started }; { cmd: 'exit' } → exits after a graceful stop
 *   unasked: { notice: { run: { id, attempt, at, latencyMs } } } for each job whose payload has `t`
 *   (its enqueue time, process.hrtime.bigint() as a string: the clock is shared by processes here).
 *
 * Every wait is bounded: a library too slow for the job counts (pg-boss polls every 2 s by
 * default) is measured over a time budget instead, and the figures say how many jobs they cover.
 */
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { BenchProcess } from './proc.js'
import { percentile } from './report.js'

/** What a benchmark job carries: `t`, its enqueue time; `hang`, never finish (a crash victim). */
export interface Payload {
  t?: string
  hang?: boolean
}

/** A job start a worker process reported. */
export interface RunNotice {
  readonly id: string
  readonly attempt: number
  /** process.hrtime.bigint() at the start, as a string. */
  readonly at: string
  readonly latencyMs: number
}

/** Every child process a suite started and that has not exited yet. */
export const children = new Set<BenchProcess>()

/** Remembers a child until it exits, so that a failing or overrunning suite can kill it. */
export function track(proc: BenchProcess): BenchProcess {
  children.add(proc)
  proc.child.once('exit', () => children.delete(proc))
  return proc
}

/** SIGKILLs every child still running (a suite's last step, or its watchdog's). */
export async function crashAll(): Promise<void> {
  for (const c of [...children]) await c.crash()
}

/** Kills the children and exits when a suite overruns `ms`. */
export function watchdog(suite: string, ms: number): void {
  setTimeout(() => {
    process.stderr.write(`${suite} suite: still running after ${Math.round(ms / 60_000)} min; stopping\n`)
    for (const c of children) void c.crash()
    process.exit(1)
  }, ms).unref()
}

/** A worker process (any library) driven over IPC. */
export class JobWorker {
  readonly #runs: RunNotice[] = []
  #waiter: (() => void) | null = null

  private constructor(readonly proc: BenchProcess) {
    proc.onNotice = (notice: { run?: RunNotice }) => {
      if (notice.run === undefined) return
      this.#runs.push(notice.run)
      this.#waiter?.()
    }
  }

  /** Starts `script` (a path relative to bench/lib/) with `env`; resolves once it is ready. */
  static async spawn(script: string, env: NodeJS.ProcessEnv): Promise<JobWorker> {
    const proc = track(new BenchProcess(script, null, env))
    await proc.ready
    return new JobWorker(proc)
  }

  async start(): Promise<void> {
    await this.proc.ask({ cmd: 'start' })
  }

  /** Sends any other command the worker script answers. */
  ask<T = unknown>(msg: object): Promise<T> {
    return this.proc.ask<T>(msg)
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

/** One library's producer on a fresh namespace (schema, key prefix, stream), and how to start its workers. */
export interface Rig {
  /** Column label. */
  readonly lib: string
  enqueue(payload: Payload): Promise<unknown>
  /** Enqueues `n` no-op jobs; resolves with enqueues/s. @defaultValue {@link fill} */
  fill?(n: number): Promise<number>
  /** Jobs completed so far, as the library's own store counts them (or its worker process). */
  completed(): Promise<number>
  worker(concurrency: number, hang?: boolean): Promise<JobWorker>
  close(): Promise<void>
}

/** Builds a fresh rig of one library. */
export type RigFactory = () => Promise<Rig>

/** Sizes and bounds of the measurements. */
export interface JobBenchOptions {
  /** Jobs per throughput run, after the warm-up ones. */
  readonly jobs: number
  /** Warm-up jobs of a throughput run. */
  readonly warmup: number
  /** Parallel enqueues while filling a backlog. @defaultValue 16 */
  readonly fillConcurrency?: number
  /** Interval at which the completed count is read. @defaultValue 5 */
  readonly pollMs?: number
  /** Longest warm-up of a throughput run; past it the run measures from where it got. @defaultValue 10 s */
  readonly warmupBudgetMs?: number
  /** Longest measured part of a throughput run; past it jobs/s is what completed so far. @defaultValue 60 s */
  readonly runBudgetMs?: number
  /** Measured samples of the idle enqueue→start latency, after `latencyWarmup`. @defaultValue 500 */
  readonly latencySamples?: number
  /** @defaultValue 50 */
  readonly latencyWarmup?: number
  /** Longest idle-latency run, warm-up included; past it the samples so far are the figure. @defaultValue 60 s */
  readonly latencyBudgetMs?: number
  /** Jobs of the burst. @defaultValue 1000 */
  readonly burst?: number
  /** Longest wait for a burst. @defaultValue 180 s */
  readonly burstTimeoutMs?: number
}

/** Enqueues `n` no-op jobs, `concurrency` at a time; resolves with enqueues/s. */
export async function fill(r: Rig, n: number, concurrency = 16): Promise<number> {
  if (r.fill !== undefined) return r.fill(n)
  let left = n
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (left-- > 0) await r.enqueue({})
    }),
  )
  return n / ((performance.now() - t0) / 1000)
}

/** [performance.now(), completed] once `n` jobs have completed, or when `timeoutMs` passes (with fewer). */
export async function untilCompleted(r: Rig, n: number, timeoutMs: number, pollMs = 5): Promise<[at: number, completed: number]> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const done = await r.completed()
    const now = performance.now()
    if (done >= n || now > deadline) return [now, done]
    await sleep(pollMs)
  }
}

/** What a drain measured. */
export interface Throughput {
  /** null when not one job completed within the budget. */
  readonly jobsPerSec: number | null
  readonly enqueuePerSec: number
  /** Jobs the figure covers. */
  readonly measured: number
  /** False when the budget ran out before every job completed. */
  readonly finished: boolean
}

/**
 * Drains a backlog: `warmup + jobs` no-op jobs enqueued before the worker (at `concurrency`)
 * starts; jobs/s over the jobs that complete after the warm-up ones, within the budgets.
 */
export async function throughput(factory: RigFactory, concurrency: number, o: JobBenchOptions): Promise<Throughput> {
  const r = await factory()
  try {
    const w = await r.worker(concurrency)
    try {
      const enqueuePerSec = Math.round(await fill(r, o.warmup + o.jobs, o.fillConcurrency))
      await w.start()
      const [t0, c0] = await untilCompleted(r, o.warmup, o.warmupBudgetMs ?? 10_000, o.pollMs)
      const [t1, c1] = await untilCompleted(r, o.warmup + o.jobs, o.runBudgetMs ?? 60_000, o.pollMs)
      const measured = c1 - c0
      const rate = measured / ((t1 - t0) / 1000)
      // Slow libraries (pg-boss at its defaults) get a decimal: 0.5 jobs/s is not 0.
      const jobsPerSec = measured > 0 ? (rate < 100 ? Math.round(rate * 10) / 10 : Math.round(rate)) : null
      return { jobsPerSec, enqueuePerSec, measured, finished: c1 >= o.warmup + o.jobs }
    } finally {
      await w.stop()
    }
  } finally {
    await r.close()
  }
}

/** What a latency run measured. */
export interface Latency {
  readonly p50Ms: number | null
  readonly p99Ms: number | null
  /** Samples the figures cover. */
  readonly samples: number
}

const NO_LATENCY: Latency = { p50Ms: null, p99Ms: null, samples: 0 }

const latencyOf = (values: number[]): Latency =>
  values.length === 0 ? NO_LATENCY : { p50Ms: percentile(values, 50), p99Ms: percentile(values, 99), samples: values.length }

/**
 * Enqueue→start into an idle worker at concurrency 1: one job at a time, the next one enqueued
 * once the last is recorded complete. The warm-up takes at most a sixth of the budget.
 */
export async function idleLatency(factory: RigFactory, o: JobBenchOptions): Promise<Latency> {
  const samples = o.latencySamples ?? 500
  const warmup = o.latencyWarmup ?? 50
  const budgetMs = o.latencyBudgetMs ?? 60_000
  const r = await factory()
  try {
    const w = await r.worker(1)
    try {
      await w.start()
      const latencies: number[] = []
      const t0 = performance.now()
      let warm = 0
      for (let i = 0; latencies.length < samples; i++) {
        const elapsed = performance.now() - t0
        if (elapsed > budgetMs) break
        await r.enqueue({ t: String(process.hrtime.bigint()) })
        const run = await w.runs(1, 30_000)
        // The next job goes to an idle worker: wait until this one is recorded.
        if (run === null || (await untilCompleted(r, i + 1, 30_000, o.pollMs))[1] < i + 1) break
        if (warm < warmup && elapsed < budgetMs / 6) warm++
        else latencies.push(run[0]!.latencyMs)
      }
      return latencyOf(latencies)
    } finally {
      await w.stop()
    }
  } finally {
    await r.close()
  }
}

/** Enqueue→start of a burst of `burst` jobs enqueued at once into a worker at concurrency 32. */
export async function burstLatency(factory: RigFactory, o: JobBenchOptions): Promise<Latency> {
  const burst = o.burst ?? 1_000
  const r = await factory()
  try {
    const w = await r.worker(32)
    try {
      await w.start()
      await Promise.all(Array.from({ length: burst }, () => r.enqueue({ t: String(process.hrtime.bigint()) })))
      const runs = await w.runs(burst, o.burstTimeoutMs ?? 180_000)
      return runs === null ? NO_LATENCY : latencyOf(runs.map((x) => x.latencyMs))
    } finally {
      await w.stop()
    }
  } finally {
    await r.close()
  }
}

/**
 * Seconds from SIGKILL of the worker running a job to that job starting in a second worker that
 * was already up and idle, or null after `timeoutMs`.
 */
export async function crashRecovery(factory: RigFactory, timeoutMs: number): Promise<number | null> {
  const r = await factory()
  const victim = await r.worker(1, true)
  let rescuer: JobWorker | undefined
  try {
    await victim.start()
    await r.enqueue({ t: String(process.hrtime.bigint()), hang: true })
    const first = await victim.runs(1, 30_000)
    if (first === null) throw new Error(`${r.lib}: the victim never started the job`)
    rescuer = await r.worker(1)
    await rescuer.start()
    const killedAt = process.hrtime.bigint()
    await victim.crash()
    const again = await rescuer.runs(1, timeoutMs)
    if (again === null) return null
    if (again[0]!.id !== first[0]!.id) throw new Error(`${r.lib}: the rescuer ran another job`)
    return Number(BigInt(again[0]!.at) - killedAt) / 1e9
  } finally {
    await victim.crash()
    await rescuer?.stop()
    await r.close()
  }
}

/** `a / b` as `1.23×` (two significant digits below 0.1: `0.0015×`), or null when either is missing. */
export function ratio(a: number | null, b: number | null): string | null {
  if (a === null || b === null || b === 0) return null
  const r = a / b
  return `${r >= 0.1 || r === 0 ? r.toFixed(2) : r.toPrecision(2)}×`
}
