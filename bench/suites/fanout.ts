/**
 * Fan-out: one hub process, N SSE connections from a separate load process (pinned to another
 * core), 200-byte payloads on one channel all connections follow. The publish rate steps up until
 * p99 passes 100 ms or deliveries fall behind; reports the max sustained deliveries/s and
 * publish→receive p50/p99 at half that rate. BENCH_CONNECTIONS (default 1000) sets N.
 */
import { BenchProcess } from '../lib/proc.js'
import { percentile, report, type Row } from '../lib/report.js'

const N = Number(process.env.BENCH_CONNECTIONS ?? 1000)
const STEP_MS = 3_000
const P99_LIMIT_MS = 100

async function main(): Promise<void> {
  const hub = new BenchProcess('./hub-process.ts', 0)
  const load = new BenchProcess('./sse-load.ts', 1)
  const { port } = await hub.ready
  await load.ready
  const { connected } = await load.ask({ cmd: 'connect', port, n: N, channel: 'bench' })
  process.stdout.write(`${connected} connections open\n`)

  interface Step {
    eventsPerSec: number
    deliveriesPerSec: number
    delivered: string
    p50Ms: number
    p99Ms: number
    hubCpu: string
    loadCpu: string
    ok: boolean
  }
  const measure = async (rate: number): Promise<Step> => {
    await hub.ask({ cmd: 'publish', rate, ms: 500, channel: 'bench' })
    await load.ask({ cmd: 'reset' })
    const { published, cpu: hubCpu } = await hub.ask<{ published: number; cpu: number }>({ cmd: 'publish', rate, ms: STEP_MS, channel: 'bench' })
    // Let in-flight frames land, bounded by the latency limit we accept anyway.
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
      hubCpu: `${Math.round(hubCpu * 100)}%`,
      loadCpu: `${Math.round(loadCpu * 100)}%`,
      ok: frames >= expected * 0.97 && p99Ms <= P99_LIMIT_MS,
    }
  }
  const row = (step: string, r: Step): Row => ({ step, ...r, ok: r.ok ? 'yes' : 'no' })

  const rows: Row[] = []
  let best: Step | null = null
  for (let rate = 50; rate <= 20_000; rate = Math.round(rate * 1.3)) {
    let r = await measure(rate)
    // One p99 spike (a GC pause, a timer hiccup) should not end the ramp: a step fails twice or not at all.
    if (!r.ok) r = await measure(rate)
    rows.push(row('ramp', r))
    if (!r.ok) break
    best = r
  }
  if (best) rows.push(row('half of max', await measure(Math.max(1, Math.round(best.eventsPerSec / 2)))))
  report('fanout', `Fan-out: tidings hub, ${connected} SSE connections, 200-byte payloads`, rows, [
    `max sustained deliveries/s: ${best?.deliveriesPerSec ?? 0} (p99 ≤ ${P99_LIMIT_MS} ms and ≥ 97% delivered within each ${STEP_MS / 1000} s step)`,
    'hub pinned to core 0, load generator to core 1 (taskset)',
  ])
  hub.kill()
  load.kill()
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
