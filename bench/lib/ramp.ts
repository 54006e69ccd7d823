/**
 * The fan-out ramp every fan-out suite runs: a publisher process paces events at a rate, a load
 * process (sse-load.ts, or sio-load.ts for socket.io) counts what its N connections receive, and the
 * rate steps up until p99 publish→receive latency passes the limit or deliveries fall behind
 * (optionally refined with a smaller factor); then one step at half the best rate. The publisher
 * is any process that answers `{ cmd: 'publish', rate, ms, channel }` with `{ published, cpu }`
 * (hub-process.ts and the fan-out peers under bench/peers do).
 */
import type { BenchProcess } from './proc.js'
import { percentile, type Row } from './report.js'

/** Default length of one measured step. */
export const DEFAULT_STEP_MS = 3_000
/** Default p99 latency a step may reach and still count as sustained. */
export const DEFAULT_P99_LIMIT_MS = 100
/** Share of the expected deliveries a step must see to count as sustained. */
const MIN_DELIVERED = 0.97
/** Warm-up publishing before each measured step. */
const WARMUP_MS = 500

/** Options of {@link rampFanout}. */
export interface RampOptions {
  /** Paces the events (and reports its own CPU share while doing it). */
  readonly publisher: BenchProcess
  /** The sse-load.ts process, its connections already open. */
  readonly load: BenchProcess
  /** Connections the load process holds. */
  readonly connections: number
  /** @defaultValue 'bench' */
  readonly channel?: string
  /** First rate, in events/s. @defaultValue 50 */
  readonly startRate?: number
  /** Each step's rate is the last one's times this. @defaultValue 1.3 */
  readonly factor?: number
  /** Highest rate tried. @defaultValue 20000 */
  readonly maxRate?: number
  /** @defaultValue {@link DEFAULT_STEP_MS} */
  readonly stepMs?: number
  /** @defaultValue {@link DEFAULT_P99_LIMIT_MS} */
  readonly p99LimitMs?: number
  /** Column name of the publisher's CPU share. @defaultValue 'hubCpu' */
  readonly publisherCpuColumn?: string
  /**
   * When set, a failed step does not end the ramp at once: it restarts from the best rate times
   * this (smaller) factor and climbs until a step fails again below the first failing rate, so a
   * coarse `factor` finds the region fast and this one the figure. @defaultValue none
   */
  readonly refineFactor?: number
  /** Called after each measured step (progress output). */
  readonly onStep?: (step: RampStep) => void
}

/** One measured step. */
export interface RampStep {
  readonly eventsPerSec: number
  readonly deliveriesPerSec: number
  /** Deliveries seen / expected, as a percentage string. */
  readonly delivered: string
  readonly p50Ms: number
  readonly p99Ms: number
  readonly publisherCpu: string
  readonly loadCpu: string
  /** Sustained: p99 within the limit and enough delivered. */
  readonly ok: boolean
}

/** What a ramp found. */
export interface RampResult {
  /** One row per step (ramp steps, then `half of max`), ready for `report()`. */
  readonly rows: Row[]
  /** The fastest sustained step, or null when not even the first one was. */
  readonly best: RampStep | null
  /** The step at half the best rate. */
  readonly half: RampStep | null
  /** A note line stating the criterion and the result. */
  readonly summary: string
}

/** Measures one step at `rate`: a warm-up, then `stepMs` of publishing, counted by the load process. */
export async function measureFanout(options: RampOptions, rate: number): Promise<RampStep> {
  const { publisher, load, connections } = options
  const channel = options.channel ?? 'bench'
  const stepMs = options.stepMs ?? DEFAULT_STEP_MS
  const p99LimitMs = options.p99LimitMs ?? DEFAULT_P99_LIMIT_MS
  await publisher.ask({ cmd: 'publish', rate, ms: WARMUP_MS, channel })
  await load.ask({ cmd: 'reset' })
  const { published, cpu } = await publisher.ask<{ published: number; cpu: number }>({ cmd: 'publish', rate, ms: stepMs, channel })
  // Let in-flight frames land, bounded by the latency limit we accept anyway.
  await new Promise((r) => setTimeout(r, 2 * p99LimitMs))
  const { frames, latenciesMs, cpu: loadCpu } = await load.ask<{ frames: number; latenciesMs: number[]; cpu: number }>({ cmd: 'report' })
  const expected = published * connections
  const p99Ms = percentile(latenciesMs, 99)
  return {
    eventsPerSec: rate,
    deliveriesPerSec: Math.round(frames / (stepMs / 1000)),
    delivered: `${((frames / expected) * 100).toFixed(1)}%`,
    p50Ms: percentile(latenciesMs, 50),
    p99Ms,
    publisherCpu: `${Math.round(cpu * 100)}%`,
    loadCpu: `${Math.round(loadCpu * 100)}%`,
    ok: frames >= expected * MIN_DELIVERED && p99Ms <= p99LimitMs,
  }
}

/** Runs the ramp; bounded by `maxRate` (and each step by `stepMs`). */
export async function rampFanout(options: RampOptions): Promise<RampResult> {
  const stepMs = options.stepMs ?? DEFAULT_STEP_MS
  const p99LimitMs = options.p99LimitMs ?? DEFAULT_P99_LIMIT_MS
  const factor = options.factor ?? 1.3
  const maxRate = options.maxRate ?? 20_000
  const cpuColumn = options.publisherCpuColumn ?? 'hubCpu'
  const measure = (rate: number): Promise<RampStep> => measureFanout(options, rate)
  const row = (step: string, r: RampStep): Row => {
    const { publisherCpu, loadCpu, ok, ...rest } = r
    return { step, ...rest, [cpuColumn]: publisherCpu, loadCpu, ok: ok ? 'yes' : 'no' }
  }

  const rows: Row[] = []
  let best: RampStep | null = null
  const step = async (rate: number, label: string): Promise<RampStep> => {
    let r = await measure(rate)
    options.onStep?.(r)
    // One p99 spike (a GC pause, a timer hiccup) should not end the ramp: a step fails twice or not at all.
    if (!r.ok) {
      r = await measure(rate)
      options.onStep?.(r)
    }
    rows.push(row(label, r))
    return r
  }
  let failedAt = Infinity
  for (let rate = options.startRate ?? 50; rate <= maxRate; rate = Math.max(rate + 1, Math.round(rate * factor))) {
    const r = await step(rate, 'ramp')
    if (!r.ok) {
      failedAt = rate
      break
    }
    best = r
  }
  const refine = options.refineFactor
  if (refine !== undefined && best !== null && failedAt !== Infinity) {
    for (let rate = Math.max(best.eventsPerSec + 1, Math.round(best.eventsPerSec * refine)); rate < failedAt; rate = Math.max(rate + 1, Math.round(rate * refine))) {
      const r = await step(rate, 'refine')
      if (!r.ok) break
      best = r
    }
  }
  let half: RampStep | null = null
  if (best) {
    half = await measure(Math.max(1, Math.round(best.eventsPerSec / 2)))
    options.onStep?.(half)
    rows.push(row('half of max', half))
  }
  const summary = `max sustained deliveries/s: ${best?.deliveriesPerSec ?? 0} (p99 ≤ ${p99LimitMs} ms and ≥ ${MIN_DELIVERED * 100}% delivered within each ${stepMs / 1000} s step)`
  return { rows, best, half, summary }
}
