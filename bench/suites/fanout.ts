/**
 * Fan-out: one hub process, N SSE connections from a separate load process (pinned to another
 * core), 200-byte payloads on one channel all connections follow. The publish rate steps up until
 * p99 passes 100 ms or deliveries fall behind; reports the max sustained deliveries/s and
 * publish→receive p50/p99 at half that rate. BENCH_CONNECTIONS (default 1000) sets N.
 */
import { BenchProcess } from '../lib/proc.js'
import { rampFanout } from '../lib/ramp.js'
import { report } from '../lib/report.js'

const N = Number(process.env.BENCH_CONNECTIONS ?? 1000)

async function main(): Promise<void> {
  const hub = new BenchProcess('./hub-process.ts', 0)
  const load = new BenchProcess('./sse-load.ts', 1)
  const { port } = await hub.ready
  await load.ready
  const { connected } = await load.ask({ cmd: 'connect', port, n: N, channel: 'bench' })
  process.stdout.write(`${connected} connections open\n`)

  const { rows, summary } = await rampFanout({ publisher: hub, load, connections: connected })
  report('fanout', `Fan-out: tidings hub, ${connected} SSE connections, 200-byte payloads`, rows, [summary, 'hub pinned to core 0, load generator to core 1 (taskset)'])
  hub.kill()
  load.kill()
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
