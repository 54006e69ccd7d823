/**
 * Idle connections: the memory one idle connection costs a server, Tidings beside socket.io.
 *
 * For each library, one server process (pinned to core 0, started with --expose-gc): the Tidings
 * hub on the memory engine with open auth (bench/lib/hub-process.ts), and a socket.io server with
 * its defaults where each client joins one room (bench/peers/socketio-idle.ts). The clients come
 * from load processes on core 1: raw SSE sockets following one channel (bench/lib/sse-load.ts),
 * and socket.io-client with the websocket transport (bench/peers/socketio-idle-load.ts), spread
 * over several 127.0.0.x source addresses so that ephemeral ports never run short.
 *
 * Before: a warm-up of WARMUP connections is opened and closed (so that code compiled and pools
 * grown on first use are not charged to the connections), then the server forces GC, settles
 * and reads process.memoryUsage(). After: N connections are opened and left idle, and the server
 * reads it again once it holds all N. Per connection = (after − before) / N, for RSS and for the
 * V8 heap in use. The ratio column is Tidings / socket.io (goal: RSS ≤ 0.55×).
 *
 * N is BENCH_IDLE_CONNECTIONS (default 20 000), capped by the open-files limit, which the server
 * process needs one descriptor per connection of (the suite raises the soft limit to the hard one
 * first; `ulimit -n` cannot go past the hard limit without privileges). BENCH_IDLE_RUNS (default 3)
 * repeats each measurement (median). A watchdog kills every child and fails the suite past
 * SUITE_TIMEOUT_MS.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { BenchProcess } from '../lib/proc.js'
import { percentile, report, type Row } from '../lib/report.js'

/** Open-files limit of this process (children inherit it): [soft, hard]. */
function fdLimits(): [number, number] {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'))
  const [soft, hard] = (line ?? '').split(/\s+/).slice(3, 5).map((v) => (v === 'unlimited' ? Infinity : Number(v)))
  return [soft ?? 1024, hard ?? 1024]
}

// Raise the soft open-files limit to the hard one by running this suite again under `ulimit -n`.
const [softLimit, hardLimit] = fdLimits()
if (softLimit < hardLimit && process.env.BENCH_IDLE_RAISED !== '1') {
  const limit = hardLimit === Infinity ? 'unlimited' : String(hardLimit)
  const r = spawnSync('sh', ['-c', `ulimit -n ${limit} && exec "$@"`, 'sh', process.execPath, ...process.execArgv, fileURLToPath(import.meta.url)], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_IDLE_RAISED: '1' },
  })
  process.exit(r.status ?? 1)
}

/** Descriptors a server process keeps for itself (stdio, IPC, listener, epoll, libuv, tsx). */
const FD_RESERVE = 100
const WANTED = Number(process.env.BENCH_IDLE_CONNECTIONS ?? 20_000)
const N = Math.min(WANTED, softLimit - FD_RESERVE)
const RUNS = Number(process.env.BENCH_IDLE_RUNS ?? 3)
/** Connections opened and closed before the baseline reading. */
const WARMUP = 500
/** Most connections one load process holds (each needs a descriptor per connection too). */
const PER_LOAD = Math.min(10_000, softLimit - FD_RESERVE)
/** Source addresses the clients connect from (each has its own ephemeral port range). */
const SOURCES = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5']
const SUITE_TIMEOUT_MS = 15 * 60_000
/** Environment of the server processes: `gc()` available for the readings. */
const SERVER_ENV = { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --expose-gc`.trim() }

const children = new Set<BenchProcess>()
const watchdog = setTimeout(() => {
  process.stderr.write(`idle: watchdog fired after ${SUITE_TIMEOUT_MS / 1000} s; killing children\n`)
  for (const c of children) c.child.kill('SIGKILL')
  process.exit(1)
}, SUITE_TIMEOUT_MS)
watchdog.unref()

/** Starts a child and remembers it until it exits. */
function start(script: string, core: number | null, env: NodeJS.ProcessEnv = {}): BenchProcess {
  const p = new BenchProcess(script, core, env)
  children.add(p)
  p.child.once('exit', () => children.delete(p))
  return p
}

/** `ask`, failing if the child exits first (a crashed load generator must not hang the suite). */
function ask<T>(p: BenchProcess, msg: object): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onExit = (code: number | null, signal: string | null): void => reject(new Error(`child exited (${code ?? signal}) while asked ${JSON.stringify(msg)}`))
    p.child.once('exit', onExit)
    p.ask<T>(msg).then((v) => {
      p.child.off('exit', onExit)
      resolve(v)
    }, reject)
  })
}

/** Ends a child and resolves once it has exited. */
function stop(p: BenchProcess): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return Promise.resolve()
  const exited = new Promise<void>((resolve) => p.child.once('exit', () => resolve()))
  p.kill()
  return exited
}

interface Memory {
  rss: number
  heapUsed: number
  external: number
  connections: number
  gc: boolean
}

interface Lib {
  readonly name: 'tidings' | 'socket.io'
  readonly server: string
  readonly load: string
  readonly client: string
  /** The connect command for a load process. */
  connect(port: number, n: number): object
}

const LIBS: Lib[] = [
  {
    name: 'tidings',
    server: './hub-process.ts',
    load: './sse-load.ts',
    client: 'raw SSE socket, one channel',
    connect: (port, n) => ({ cmd: 'connect', port, n, channel: 'bench', sources: SOURCES }),
  },
  {
    name: 'socket.io',
    server: '../peers/socketio-idle.ts',
    load: '../peers/socketio-idle-load.ts',
    client: 'socket.io-client, websocket transport, one room',
    connect: (port, n) => ({ cmd: 'connect', port, n, sources: SOURCES }),
  },
]

/** Opens `n` connections from as many load processes as needed; resolves with them and the count. */
async function openConnections(lib: Lib, port: number, n: number): Promise<{ loads: BenchProcess[]; connected: number }> {
  const loads: BenchProcess[] = []
  for (let left = n; left > 0; left -= PER_LOAD) loads.push(start(lib.load, 1))
  await Promise.all(loads.map((l) => l.ready))
  let connected = 0
  // One load process at a time: they share core 1.
  for (const [i, l] of loads.entries()) {
    const share = Math.min(PER_LOAD, n - i * PER_LOAD)
    connected += (await ask<{ connected: number }>(l, lib.connect(port, share))).connected
  }
  return { loads, connected }
}

interface Measured {
  connected: number
  before: Memory
  after: Memory
}

async function measure(lib: Lib): Promise<Measured> {
  const server = start(lib.server, 0, SERVER_ENV)
  try {
    const { port } = await server.ready
    const warm = await openConnections(lib, port, WARMUP)
    await Promise.all(warm.loads.map(stop))
    const before = await ask<Memory>(server, { cmd: 'rss', connections: 0 })
    const t0 = performance.now()
    const { loads, connected } = await openConnections(lib, port, N)
    process.stdout.write(`${lib.name}: ${connected} connections open in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`)
    const after = await ask<Memory>(server, { cmd: 'rss', connections: connected })
    if (after.connections !== connected) throw new Error(`${lib.name}: the server holds ${after.connections} of ${connected} connections`)
    await Promise.all(loads.map(stop))
    return { connected, before, after }
  } finally {
    await stop(server)
  }
}

const MB = 1024 * 1024

async function main(): Promise<void> {
  process.stdout.write(`open-files limit ${softLimit} (hard ${hardLimit}): ${N} connections per server${N < WANTED ? ` (${WANTED} wanted)` : ''}\n`)
  const rows: Row[] = []
  const perConn = new Map<string, number>()
  for (const lib of LIBS) {
    const runs: Measured[] = []
    for (let r = 0; r < RUNS; r++) runs.push(await measure(lib))
    const rssPer = runs.map((m) => (m.after.rss - m.before.rss) / m.connected)
    const heapPer = runs.map((m) => (m.after.heapUsed - m.before.heapUsed) / m.connected)
    const externalPer = runs.map((m) => (m.after.external - m.before.external) / m.connected)
    const bytesPerConn = Math.round(percentile(rssPer, 50))
    // The before/after columns come from the run whose RSS per connection is the median.
    const mid = runs[rssPer.indexOf(percentile(rssPer, 50))]!
    perConn.set(lib.name, bytesPerConn)
    rows.push({
      server: lib.name,
      client: lib.client,
      connections: mid.connected,
      rssBeforeMB: mid.before.rss / MB,
      rssAfterMB: mid.after.rss / MB,
      rssPerConnBytes: bytesPerConn,
      heapPerConnBytes: Math.round(percentile(heapPer, 50)),
      externalPerConnBytes: Math.round(percentile(externalPer, 50)),
      gc: mid.after.gc ? 'forced' : 'no',
    })
  }
  const ratio = perConn.get('tidings')! / perConn.get('socket.io')!
  for (const row of rows) row['vsSocketIo'] = row.server === 'tidings' ? ratio : 1
  report('idle', `Idle connections: server memory per connection, ${N} idle connections each`, rows, [
    `RSS per idle connection, tidings / socket.io: ${ratio.toFixed(2)}× (goal ≤ 0.55×)`,
    `per connection = (after − before) / connections; before = after a warm-up of ${WARMUP} connections opened and closed; readings after forced GC and a settle`,
    `clients from ${SOURCES.join(', ')} in load processes of up to ${PER_LOAD} connections (core 1); servers on core 0`,
    RUNS > 1 ? `median of ${RUNS} runs each` : 'one run each',
  ])
}

main()
  .then(() => clearTimeout(watchdog))
  .catch((err) => {
    console.error(err)
    for (const c of children) c.child.kill('SIGKILL')
    process.exit(1)
  })
