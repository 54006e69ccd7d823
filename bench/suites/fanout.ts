/**
 * Fan-out, Tidings beside four peers in one run (issue 10, part 1). For each connection count
 * (1000 and 10 000; BENCH_CONNECTIONS=1000,… to choose), each server runs in turn as one hub
 * process pinned to core 0, loaded by one load process pinned to core 1 (taskset), every
 * connection following one channel; the publish rate steps up (×1.5, then ×1.15 from the best
 * step once one fails) until p99 publish→receive passes 100 ms or fewer than 97 % of the
 * deliveries arrive (bench/lib/ramp.ts); then one step at half the best rate. After every server
 * of a size has ramped, each is measured again at one common rate — the lowest of their half
 * rates — for p50/p99 at equal load.
 *
 * The path each event takes (every event is 200-odd bytes of JSON carrying its publish time `t`):
 * - tidings (memory): bench/lib/hub-process.ts calls `tidings.publish(batch)` → memory log →
 *   the hub's tail → one frame per event, one write per connection per tail batch → SSE (sse-load).
 * - tidings (redis): the same with BENCH_ENGINE=redis: publish → XADD → the hub's XREAD BLOCK → SSE.
 * - socket.io: bench/peers/socketio-hub.ts calls `io.to(room).emit('bench.tick', event)` per event;
 *   @socket.io/redis-adapter fans out locally and PUBLISHes each packet to Redis → websocket
 *   (sio-load, socket.io-client, websocket transport).
 * - seed 000: bench/peers/seed000-sse.ts PUBLISHes each event's JSON to Redis; one subscriber per
 *   connection gets it back, parses and re-serialises it, writes it → SSE (sse-load).
 * - hand-rolled hub: bench/peers/hand-hub.ts PUBLISHes to Redis; its one subscriber frames each
 *   event once and writes it to every response → SSE.
 * - limit probe: bench/peers/limit-probe.ts, the hand-rolled hub joining one event-loop turn's
 *   frames into one write per connection → SSE.
 *
 * Seed 000 opens one Redis connection per SSE connection; it is not run at 10 000 connections
 * (Redis' maxclients is 10 000 and the hub's open-file limit would be passed), which the table
 * says. Redis (REDIS_URL, else 127.0.0.1:6379) is not pinned; every key and channel is under a
 * random prefix, deleted at the end. BENCH_FANOUT_SERVERS=tidings,probe,… runs a subset;
 * BENCH_STEP_MS (default 2000) sets the step length. A watchdog stops the suite after 25 min.
 */
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { BenchProcess } from '../lib/proc.js'
import { measureFanout, rampFanout, type RampOptions, type RampStep } from '../lib/ramp.js'
import { report, type Row } from '../lib/report.js'

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379'
const SIZES = (process.env.BENCH_CONNECTIONS ?? '1000,10000').split(',').map(Number)
const STEP_MS = Number(process.env.BENCH_STEP_MS ?? 2_000)
/** The first step's rate, as deliveries/s (events/s × connections)… */
const START_DELIVERIES = 10_000
/** …but never below this many events/s, so that a step holds a few events. */
const MIN_START_RATE = 3
const FACTOR = 1.5
const REFINE_FACTOR = 1.15
/** The pacing loop's ceiling (1000 events per 5 ms tick). */
const MAX_RATE = 200_000
const SUITE_TIMEOUT_MS = 25 * 60_000
/** How long a hub may take to exit on `{ cmd: 'exit' }` before it is killed. */
const EXIT_WAIT_MS = 3_000
const CHANNEL = 'bench'
const HUB_CORE = 0
const LOAD_CORE = 1

const runPrefix = `tidings-bench:${randomBytes(4).toString('hex')}`
const children = new Set<BenchProcess>()

/** One server under test. */
interface Server {
  readonly id: string
  readonly label: string
  /** Relative to bench/lib/ (BenchProcess resolves it there). */
  readonly script: string
  readonly env: (connections: number) => NodeJS.ProcessEnv
  readonly load: 'sse' | 'sio'
  /** The SSE request target; default Tidings' `/v1/events?channel=…`. */
  readonly path?: string
  /** Largest connection count the server can be run at here, and why. */
  readonly limit?: { readonly connections: number; readonly why: string }
}

const peerEnv = (connections: number, id: string): NodeJS.ProcessEnv => ({ REDIS_URL, BENCH_REDIS_PREFIX: `${runPrefix}:${id}-${connections}:` })

const SERVERS: Server[] = [
  { id: 'tidings', label: 'tidings (memory engine)', script: './hub-process.ts', env: () => ({}), load: 'sse' },
  {
    id: 'tidings-redis',
    label: 'tidings (redis engine)',
    script: './hub-process.ts',
    env: (n) => ({ BENCH_ENGINE: 'redis', REDIS_URL, BENCH_REDIS_PREFIX: `${runPrefix}:tidings-${n}` }),
    load: 'sse',
  },
  { id: 'socketio', label: 'socket.io + redis-adapter', script: '../peers/socketio-hub.ts', env: (n) => peerEnv(n, 'socketio'), load: 'sio' },
  {
    id: 'seed000',
    label: 'seed 000 (subscriber per connection)',
    script: '../peers/seed000-sse.ts',
    env: (n) => peerEnv(n, 'seed000'),
    load: 'sse',
    path: `/events?channel=${CHANNEL}`,
    limit: { connections: 1_000, why: 'one Redis connection per SSE connection: past Redis maxclients (10 000) and the open-file limit' },
  },
  { id: 'hand', label: 'hand-rolled hub', script: '../peers/hand-hub.ts', env: (n) => peerEnv(n, 'hand'), load: 'sse', path: `/events?channel=${CHANNEL}` },
  { id: 'probe', label: 'limit probe', script: '../peers/limit-probe.ts', env: (n) => peerEnv(n, 'probe'), load: 'sse', path: `/events?channel=${CHANNEL}` },
]

/** Remembers a child until it exits, so that a failing or overrunning suite can kill it. */
function track(proc: BenchProcess): BenchProcess {
  children.add(proc)
  proc.child.once('exit', () => children.delete(proc))
  return proc
}

/** Asks a child to exit and waits for it, killing it if it takes longer than {@link EXIT_WAIT_MS}. */
async function stop(proc: BenchProcess): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => proc.child.once('exit', () => resolve()))
  proc.child.send({ cmd: 'exit' })
  const timer = setTimeout(() => void proc.crash(), EXIT_WAIT_MS)
  await exited
  clearTimeout(timer)
}

/** A server and its load process, connected; `run` gets the ramp options and both are stopped after. */
async function withServer<T>(server: Server, connections: number, run: (options: RampOptions) => Promise<T>): Promise<T> {
  const hub = track(new BenchProcess(server.script, HUB_CORE, server.env(connections)))
  const load = track(new BenchProcess(server.load === 'sio' ? './sio-load.ts' : './sse-load.ts', LOAD_CORE))
  try {
    const { port } = (await hub.ready) as { port: number }
    await load.ready
    const started = performance.now()
    const { connected } = await load.ask<{ connected: number }>({ cmd: 'connect', port, n: connections, channel: CHANNEL, path: server.path })
    if (connected !== connections) throw new Error(`${server.label}: ${connected} of ${connections} connections open`)
    process.stdout.write(`  ${connected} connections open in ${((performance.now() - started) / 1000).toFixed(1)} s\n`)
    return await run({ publisher: hub, load, connections, channel: CHANNEL, stepMs: STEP_MS })
  } finally {
    await Promise.all([stop(hub), stop(load)])
  }
}

const startRate = (connections: number): number => Math.max(MIN_START_RATE, Math.round(START_DELIVERIES / connections))

const progress = (label: string, r: RampStep): void => {
  process.stdout.write(
    `  ${label}: ${r.eventsPerSec} ev/s → ${r.deliveriesPerSec} deliveries/s, ${r.delivered}, p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms, hub ${r.publisherCpu}, load ${r.loadCpu} ${r.ok ? 'ok' : 'FAIL'}\n`,
  )
}

/** What one server reached at one size. */
interface Result {
  readonly server: Server
  readonly best: RampStep | null
  readonly half: RampStep | null
  equal: RampStep | null
  readonly skipped?: string
}

const ms = (v: number | undefined): number | null => (v === undefined || Number.isNaN(v) ? null : Math.round(v * 10) / 10)
const ratio = (a: number | undefined, b: number | undefined): string | null => (a === undefined || b === undefined || b === 0 ? null : `${(a / b).toFixed(2)}×`)

async function size(connections: number, servers: Server[]): Promise<Row[]> {
  process.stdout.write(`\n-- ${connections} connections --\n`)
  const results: Result[] = []
  for (const server of servers) {
    if (server.limit !== undefined && connections > server.limit.connections) {
      results.push({ server, best: null, half: null, equal: null, skipped: `not run above ${server.limit.connections} connections: ${server.limit.why}` })
      continue
    }
    process.stdout.write(`${server.label}, ${connections} connections\n`)
    const { best, half } = await withServer(server, connections, (options) =>
      rampFanout({
        ...options,
        startRate: startRate(connections),
        factor: FACTOR,
        refineFactor: REFINE_FACTOR,
        maxRate: MAX_RATE,
        onStep: (r) => progress(server.label, r),
      }),
    )
    results.push({ server, best, half, equal: null })
  }

  // Equal load: every server again at the lowest half-of-max rate (where every one of them was sustained).
  const halves = results.flatMap((r) => (r.half !== null ? [r.half.eventsPerSec] : []))
  const common = halves.length > 0 ? Math.min(...halves) : null
  if (common !== null) {
    process.stdout.write(`equal load: ${common} events/s (${common * connections} deliveries/s)\n`)
    for (const r of results) {
      if (r.half === null) continue
      r.equal = r.half.eventsPerSec === common ? r.half : await withServer(r.server, connections, (options) => measureFanout(options, common))
      progress(`${r.server.label} at equal load`, r.equal)
    }
  }

  const tidings = results.find((r) => r.server.id === 'tidings')
  const tidingsRedis = results.find((r) => r.server.id === 'tidings-redis')
  const rows: Row[] = results.map((r) => ({
    connections,
    server: r.server.label,
    maxDeliveriesPerSec: r.best?.deliveriesPerSec ?? null,
    atEventsPerSec: r.best?.eventsPerSec ?? null,
    hubCpu: r.best?.publisherCpu ?? null,
    loadCpu: r.best?.loadCpu ?? null,
    halfP50Ms: ms(r.half?.p50Ms),
    halfP99Ms: ms(r.half?.p99Ms),
    equalP50Ms: ms(r.equal?.p50Ms),
    equalP99Ms: ms(r.equal?.p99Ms),
    'tidings(mem)/this': ratio(tidings?.best?.deliveriesPerSec, r.best?.deliveriesPerSec),
    'tidings(redis)/this': ratio(tidingsRedis?.best?.deliveriesPerSec, r.best?.deliveriesPerSec),
  }))
  const notes = [
    `max: fastest step with p99 ≤ 100 ms and ≥ 97 % delivered (${STEP_MS / 1000} s steps after a 0.5 s warm-up); half*: p50/p99 at half that rate; equal*: every server at ${common ?? '—'} events/s (${common === null ? '—' : common * connections} deliveries/s), the lowest half rate`,
    'hubCpu/loadCpu: CPU share of the hub (core 0) and load generator (core 1) at the max step; a load generator near 100 % means the figure is the load generator’s, not the hub’s',
    ...results.flatMap((r) => (r.skipped !== undefined ? [`${r.server.label}: ${r.skipped}`] : r.best === null ? [`${r.server.label}: not even the first step (${startRate(connections)} events/s) was sustained`] : [])),
    ...goals(connections, results),
  ]
  report(`fanout-${connections}`, `Fan-out: one hub process, ${connections} connections, 200-byte events, same run`, rows, notes)
  return rows.concat(notes.map((n) => ({ connections, note: n })))
}

/** The issue's goals at one size, as note lines. */
function goals(connections: number, results: Result[]): string[] {
  const by = (id: string): Result | undefined => results.find((r) => r.server.id === id)
  const t = by('tidings')
  if (t?.best == null) return []
  const lines: string[] = []
  const sio = by('socketio')?.best
  const probe = by('probe')?.best
  if (sio) lines.push(`goal tidings(mem) ≥ 10× socket.io: ${(t.best.deliveriesPerSec / sio.deliveriesPerSec).toFixed(2)}× ${t.best.deliveriesPerSec >= 10 * sio.deliveriesPerSec ? 'met' : 'MISSED'}`)
  if (probe) lines.push(`goal tidings(mem) ≥ 0.7× limit probe: ${(t.best.deliveriesPerSec / probe.deliveriesPerSec).toFixed(2)}× ${t.best.deliveriesPerSec >= 0.7 * probe.deliveriesPerSec ? 'met' : 'MISSED'}`)
  if (t.equal !== null) {
    const peers = results.filter((r) => !r.server.id.startsWith('tidings') && r.equal !== null)
    const worse = peers.filter((r) => r.equal!.p99Ms <= t.equal!.p99Ms).map((r) => r.server.label)
    if (peers.length > 0) lines.push(`goal tidings(mem) p99 below every peer at equal load (${connections} connections): ${worse.length === 0 ? 'met' : `MISSED (not below ${worse.join(', ')})`}`)
  }
  return lines
}

async function deleteKeys(admin: Redis, prefix: string): Promise<void> {
  let cursor = '0'
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
    if (keys.length > 0) await admin.del(...keys)
    cursor = next
  } while (cursor !== '0')
}

async function main(): Promise<void> {
  const watchdog = setTimeout(() => {
    process.stderr.write(`fanout suite: still running after ${SUITE_TIMEOUT_MS / 60_000} min; stopping\n`)
    for (const c of children) void c.crash()
    process.exit(1)
  }, SUITE_TIMEOUT_MS)
  watchdog.unref()
  const only = process.env.BENCH_FANOUT_SERVERS?.split(',')
  const servers = only ? SERVERS.filter((s) => only.includes(s.id)) : SERVERS
  const admin = new Redis(REDIS_URL)
  try {
    const rows: Row[] = []
    for (const n of SIZES) rows.push(...(await size(n, servers)))
    report('fanout', 'Fan-out, every size (bench/results/fanout.json; per size: fanout-<connections>.json)', rows.filter((r) => !('note' in r)), rows.flatMap((r) => ('note' in r ? [`${r.connections}: ${r.note}`] : [])))
  } finally {
    for (const c of children) await c.crash()
    await deleteKeys(admin, runPrefix)
    admin.disconnect()
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
