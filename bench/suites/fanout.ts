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

  const measure = async (rate: number): Promise<Row & { ok: boolean; deliveriesPerSec: number; p99: number }> => {
    await hub.ask({ cmd: 'publish', rate, ms: 500, channel: 'bench' })
    await load.ask({ cmd: 'reset' })
    const { published, cpu: hubCpu } = await hub.ask<{ published: number; cpu: number }>({ cmd: 'publish', rate, ms: STEP_MS, channel: 'bench' })
    // Let in-flight frames land, bounded by the latency limit we accept anyway.
    await new Promise((r) => setTimeout(r, 2 * P99_LIMIT_MS))
    const { frames, latenciesMs, cpu: loadCpu } = await load.ask<{ frames: number; latenciesMs: number[]; cpu: number }>({ cmd: 'report' })
    const expected = published * connected
    const p50 = percentile(latenciesMs, 50)
    const p99 = percentile(latenciesMs, 99)
    const deliveriesPerSec = frames / (STEP_MS / 1000)
    const ok = frames >= expected * 0.97 && p99 <= P99_LIMIT_MS
    return { rate, deliveriesPerSec: Math.round(deliveriesPerSec), delivered: `${((frames / expected) * 100).toFixed(1)}%`, p50, p99, ok, hubCpu: `${Math.round(hubCpu * 100)}%`, loadCpu: `${Math.round(loadCpu * 100)}%` }
  }

  const rows: Row[] = []
  let best: { rate: number; deliveriesPerSec: number } | null = null
  for (let rate = 50; rate <= 20_000; rate = Math.round(rate * 1.3)) {
    let r = await measure(rate)
    // One p99 spike (a GC pause, a timer hiccup) should not end the ramp: a step fails twice or not at all.
    if (!r.ok) r = await measure(rate)
    rows.push({ step: 'ramp', eventsPerSec: rate, deliveriesPerSec: r.deliveriesPerSec, delivered: r.delivered, p50Ms: r.p50, p99Ms: r.p99, hubCpu: r.hubCpu, loadCpu: r.loadCpu, ok: r.ok ? 'yes' : 'no' })
    if (!r.ok) break
    best = { rate, deliveriesPerSec: r.deliveriesPerSec }
  }
  if (best) {
    const half = Math.max(1, Math.round(best.rate / 2))
    const r = await measure(half)
    rows.push({ step: 'half of max', eventsPerSec: half, deliveriesPerSec: r.deliveriesPerSec, delivered: r.delivered, p50Ms: r.p50, p99Ms: r.p99, ok: r.ok ? 'yes' : 'no' })
  }
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
