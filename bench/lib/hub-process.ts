/**
 * Bench hub: one Tidings server (open auth) that publishes paced events on command. Each event
 * carries its publish time (monotonic ns, comparable across processes on this machine).
 * Driven over IPC by a suite: { cmd: 'publish', rate, ms } → { published }.
 *
 * BENCH_ENGINE chooses the event log: `memory` (default), `postgres` (PostgresEventLog on
 * DATABASE_URL, in schema BENCH_PG_SCHEMA) or `redis` (RedisEventLog on REDIS_URL, under key
 * prefix BENCH_REDIS_PREFIX); on the last two, several hub processes share one log.
 *
 * { cmd: 'rss', connections } → { rss, heapUsed, external, arrayBuffers, connections, gc }: waits
 * until the hub holds `connections` subscribers, forces GC (when started with --expose-gc, e.g.
 * NODE_OPTIONS=--expose-gc) and lets the heap settle, then reads process.memoryUsage().
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { EventLog } from '../../src/core/event-log.js'
import { createTidings } from '../../src/tidings.js'
import { pace } from './pace.js'

async function openLog(): Promise<EventLog | undefined> {
  const engine = process.env.BENCH_ENGINE ?? 'memory'
  if (engine === 'memory') return undefined
  if (engine === 'postgres') {
    const { PostgresEventLog } = await import('../../src/engines/postgres/event-log.js')
    return new PostgresEventLog({ connectionString: process.env.DATABASE_URL, schema: process.env.BENCH_PG_SCHEMA })
  }
  if (engine === 'redis') {
    const { RedisEventLog } = await import('../../src/engines/redis/event-log.js')
    return new RedisEventLog({ url: process.env.REDIS_URL || undefined, prefix: process.env.BENCH_REDIS_PREFIX || undefined })
  }
  throw new Error(`BENCH_ENGINE=${engine}: use memory, postgres or redis`)
}

const log = await openLog()
const tidings = createTidings({ events: log, auth: { open: true }, http: { heartbeatMs: 60_000, maxConnectionsPerPrincipal: 1_000_000 } })
const server = createServer(tidings.handler)
server.listen(0, '127.0.0.1', async () => {
  await tidings.ready()
  process.send!({ ready: true, port: (server.address() as AddressInfo).port })
})

const PAD = 'x'.repeat(150)

/** Settling before a memory reading: how often the subscriber count is checked, and the longest wait. */
const SETTLE_POLL_MS = 50
const SETTLE_TIMEOUT_MS = 120_000
/** Pause between forced GCs, so that finalizers and freed native buffers are released. */
const GC_PAUSE_MS = 250

/** Waits (bounded) until the hub holds `connections` subscribers, forces GC three times and reads memory. */
async function memory(connections: number): Promise<object> {
  const deadline = performance.now() + SETTLE_TIMEOUT_MS
  while (tidings.hub.size !== connections && performance.now() < deadline) await new Promise((r) => setTimeout(r, SETTLE_POLL_MS))
  const gc = (globalThis as { gc?: () => void }).gc
  for (let i = 0; i < 3; i++) {
    gc?.()
    await new Promise((r) => setTimeout(r, GC_PAUSE_MS))
  }
  const m = process.memoryUsage()
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, connections: tidings.hub.size, gc: gc !== undefined }
}

process.on('message', async (msg: { cmd: string; rate: number; ms: number; channel: string; connections?: number }) => {
  if (msg.cmd === 'rss') {
    process.send!(await memory(msg.connections ?? 0))
    return
  }
  if (msg.cmd === 'exit') {
    await tidings.close()
    await log?.close()
    process.exit(0)
  }
  if (msg.cmd !== 'publish') return
  const channels = [msg.channel]
  process.send!(await pace(msg.rate, msg.ms, (due, t) => void tidings.publish(Array.from({ length: due }, () => ({ type: 'bench.tick', channels, data: { t, pad: PAD } })))))
})
