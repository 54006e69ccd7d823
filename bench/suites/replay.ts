/**
 * Replay: what a resume costs when the client missed k = 100 of its own events, interleaved among N
 * events on channels it does not follow, for N = 1 000 and N = 1 000 000; the ratio of the two
 * times shows whether replay cost grows with the events the client does not follow (goal ≤ 5).
 *
 * Per engine and N, on a fresh log (memory; PostgreSQL on DATABASE_URL in a schema of its own;
 * Redis on REDIS_URL under a key prefix of its own; both removed at the end): a Tidings server
 * (open auth) listens on loopback in this process. A raw SSE client follows channel `A`, receives
 * one event there and disconnects, keeping that event's `id:` as its cursor. Then N events on 1000
 * other channels and k events on `A` are published, in batches of FILL_BATCH, with the k spread
 * evenly and the last event of the fill on `A`; the server's own subscription to `A` seeing it
 * means the hub has tailed the whole fill. Then the client resumes with `Last-Event-ID: <cursor>`;
 * the time runs from the connect to the k-th missed event received (all k, in order, no
 * `tidings.reset`). One untimed resume, then REPEATS timed ones; the median is reported.
 *
 * Two hubs answer each resume, on the same log:
 *  - `tailing`: the hub that tailed the fill. Its window (the last 10 000 entries) covers the
 *    cursor at N = 1k, so that replay is served from memory; at N = 1M it reads the engine
 *    (filtered by channel where the engine can) up to the window, then the window.
 *  - `fresh`: a second Tidings instance started after the fill (a restarted or other process):
 *    its window starts at the head, so every resume reads the engine.
 * The `path` column is the hub's own count (`tidings_resumes_total{source}`) of the resume.
 *
 * Filling is bounded: past FILL_LIMIT_MS the fill stops publishing other channels, publishes the
 * rest of the k events at once, and the row says the N it reached. BENCH_REPLAY_ENGINES (default
 * `memory,postgres,redis`), BENCH_REPLAY_SIZES (default `1000,1000000`) and BENCH_REPLAY_REPEATS
 * (default 5) select the runs. A watchdog ends the suite past SUITE_TIMEOUT_MS.
 */
import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import { Redis } from 'ioredis'
import pg from 'pg'
import type { EventInput } from '../../src/core/envelope.js'
import type { EventLog } from '../../src/core/event-log.js'
import { MemoryEventLog } from '../../src/engines/memory/event-log.js'
import { PostgresEventLog } from '../../src/engines/postgres/event-log.js'
import { RedisEventLog } from '../../src/engines/redis/event-log.js'
import { createTidings, type Tidings } from '../../src/tidings.js'
import { percentile, report, type Row } from '../lib/report.js'

const DATABASE_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test'
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379'
const ENGINES = (process.env.BENCH_REPLAY_ENGINES ?? 'memory,postgres,redis').split(',') as Engine[]
const SIZES = (process.env.BENCH_REPLAY_SIZES ?? '1000,1000000').split(',').map(Number)
const REPEATS = Number(process.env.BENCH_REPLAY_REPEATS ?? 5)
/** Events of the client's own channel it misses. */
const K = 100
/** The client's channel, and how many other channels the N events are spread over. */
const CHANNEL = 'A'
const OTHER_CHANNELS = 1000
/** Events per publish call while filling. */
const FILL_BATCH = 5_000
/** Publish calls in flight while filling (the engines group concurrent appends). */
const FILL_CONCURRENCY = 4
const FILL_LIMIT_MS = 180_000
/** Longest wait for one resume, for the hub to tail the fill, or for the first live event. */
const WAIT_MS = 120_000
const SUITE_TIMEOUT_MS = 19 * 60_000
/** Retention far above the largest fill, so that no engine trims the client's cursor away. */
const MAX_EVENTS = 5_000_000

type Engine = 'memory' | 'postgres' | 'redis'

const watchdog = setTimeout(() => {
  process.stderr.write(`replay: watchdog fired after ${SUITE_TIMEOUT_MS / 1000} s\n`)
  void cleanUp().finally(() => process.exit(1))
}, SUITE_TIMEOUT_MS)
watchdog.unref()

const schemas: string[] = []
const prefixes: string[] = []
const tag = randomBytes(3).toString('hex')

function openLog(engine: Engine): EventLog {
  if (engine === 'memory') return new MemoryEventLog({ maxEvents: MAX_EVENTS })
  if (engine === 'postgres') {
    const schema = `tidings_bench_replay_${tag}_${schemas.length}`
    schemas.push(schema)
    return new PostgresEventLog({ connectionString: DATABASE_URL, schema, maxEvents: MAX_EVENTS })
  }
  const prefix = `tidings-bench-replay:${tag}:${prefixes.length}`
  prefixes.push(prefix)
  return new RedisEventLog({ url: REDIS_URL, prefix, maxEvents: MAX_EVENTS })
}

/** Rejects after `ms` with `what`, unless `p` settles first. */
function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms)))
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}

interface Frame {
  readonly id: string | null
  readonly type: string
}

/**
 * A raw SSE client: connects to /v1/events?channel=A (with `Last-Event-ID` when `cursor` is set)
 * and resolves once `want` events of type `bench.a` have arrived, with them and the milliseconds
 * from the connect; `onOpen` runs when the stream's opening bytes arrive. Rejects on
 * `tidings.reset`.
 */
function stream(port: number, cursor: string | null, want: number, onOpen?: () => void): Promise<{ ms: number; frames: Frame[] }> {
  return bounded(
    new Promise((resolve, reject) => {
      const t0 = performance.now()
      const frames: Frame[] = []
      let text = ''
      let opened = false
      const s = connect({ port, host: '127.0.0.1' })
      s.setNoDelay(true)
      s.on('connect', () => {
        const resume = cursor === null ? '' : `Last-Event-ID: ${cursor}\r\n`
        s.write(`GET /v1/events?channel=${CHANNEL} HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n${resume}\r\n`)
      })
      s.on('error', reject)
      s.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8')
        if (!opened && text.includes('\r\n\r\n')) {
          opened = true
          try {
            onOpen?.()
          } catch (err) {
            s.destroy()
            reject(err)
            return
          }
        }
        let end: number
        while ((end = text.indexOf('\n\n')) !== -1) {
          const block = text.slice(0, end)
          text = text.slice(end + 2)
          const type = /^event: (.*)$/m.exec(block)?.[1]
          if (type === undefined) continue
          const id = /^id: (.*)$/m.exec(block)?.[1] ?? null
          if (type === 'tidings.reset') {
            s.destroy()
            reject(new Error(`tidings.reset on resume: ${block}`))
            return
          }
          frames.push({ id, type })
          if (frames.filter((f) => f.type === 'bench.a').length >= want) {
            const ms = performance.now() - t0
            s.destroy()
            resolve({ ms, frames })
            return
          }
        }
      })
    }),
    WAIT_MS,
    'SSE stream',
  )
}

/** A Tidings server on loopback over `log`. */
async function serve(log: EventLog): Promise<{ tidings: Tidings; server: Server; port: number }> {
  const tidings = createTidings({ events: log, auth: { open: true }, maxBatch: FILL_BATCH, http: { heartbeatMs: 600_000 } })
  await tidings.ready()
  const server = createServer(tidings.handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { tidings, server, port: (server.address() as AddressInfo).port }
}

async function shut(s: { tidings: Tidings; server: Server }): Promise<void> {
  s.server.closeAllConnections()
  await new Promise<void>((resolve) => s.server.close(() => resolve()))
  await s.tidings.close()
}

/** Publishes N others and K events on A (the last event on A); resolves with the N reached and the seconds taken. */
async function fill(tidings: Tidings, n: number): Promise<{ others: number; seconds: number; stoppedEarly: boolean }> {
  const total = n + K
  const stride = total / K
  if (!Number.isInteger(stride)) throw new Error(`N + k = ${total} must be a multiple of k = ${K}`)
  const t0 = performance.now()
  let next = 0
  let others = 0
  let aSent = 0
  let stoppedEarly = false
  const event = (i: number): EventInput => {
    if ((i + 1) % stride === 0) {
      aSent++
      return { type: 'bench.a', channels: [CHANNEL], data: { i } }
    }
    others++
    return { type: 'bench.o', channels: [`o:${i % OTHER_CHANNELS}`], data: { i } }
  }
  await Promise.all(
    Array.from({ length: FILL_CONCURRENCY }, async () => {
      while (next < total && !stoppedEarly) {
        if (performance.now() - t0 > FILL_LIMIT_MS) {
          stoppedEarly = true
          break
        }
        const from = next
        next = Math.min(total, next + FILL_BATCH)
        const batch: EventInput[] = []
        for (let i = from; i < next; i++) batch.push(event(i))
        await tidings.publish(batch)
      }
    }),
  )
  if (stoppedEarly) {
    const rest = Array.from({ length: K - aSent }, (_, j) => ({ type: 'bench.a', channels: [CHANNEL], data: { i: total + j } }))
    if (rest.length > 0) await tidings.publish(rest)
  }
  return { others, seconds: (performance.now() - t0) / 1000, stoppedEarly }
}

/** The hub's resume counts by source, to tell which path a resume took. */
async function resumeSources(tidings: Tidings): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const v of (await tidings.metrics.resumes.get()).values) out[String(v.labels.source)] = v.value
  return out
}

interface Timed {
  medianMs: number
  minMs: number
  maxMs: number
  path: string
}

/** One untimed resume, then REPEATS timed ones, each checked for all K events in order. */
async function timeResumes(s: { tidings: Tidings; port: number }, cursor: string, expected: string[]): Promise<Timed> {
  const times: number[] = []
  const before = await resumeSources(s.tidings)
  for (let r = 0; r <= REPEATS; r++) {
    const { ms, frames } = await stream(s.port, cursor, K)
    const got = frames.filter((f) => f.type === 'bench.a').map((f) => f.id)
    if (got.length !== K || got.some((id, i) => id !== expected[i])) throw new Error(`resume delivered ${got.length} events, not the ${K} expected in order`)
    if (r > 0) times.push(ms)
  }
  const after = await resumeSources(s.tidings)
  const path = Object.keys(after)
    .filter((k) => (after[k] ?? 0) > (before[k] ?? 0))
    .join('+')
  return { medianMs: percentile(times, 50), minMs: Math.min(...times), maxMs: Math.max(...times), path }
}

interface Result {
  engine: Engine
  filteredRead: boolean
  n: number
  wantedN: number
  fillSeconds: number
  stoppedEarly: boolean
  tailing: Timed
  fresh: Timed
}

async function run(engine: Engine, n: number): Promise<Result> {
  const log = openLog(engine)
  const main = await serve(log)
  let fresh: Awaited<ReturnType<typeof serve>> | null = null
  try {
    // The client follows A live and keeps the cursor of the one event it gets. In this one
    // process, the hub has attached it (a microtask after the stream opens) before its opening
    // bytes come back through the loopback socket, so the event is published after the attach.
    let marker: Promise<unknown> | null = null
    const { frames } = await stream(main.port, null, 1, () => {
      if (main.tidings.hub.size !== 1) throw new Error('the live client is not attached yet')
      marker = main.tidings.publish({ type: 'bench.a', channels: [CHANNEL], data: { marker: true } })
    })
    await marker
    const cursor = frames[0]!.id!
    // The server's own subscription to A sees the fill's last event once the hub has tailed it all.
    const sub = main.tidings.subscribe([CHANNEL], { maxBuffered: 10 * K })
    const expected: string[] = []
    const tailed = (async () => {
      for await (const d of sub) {
        expected.push(d.cursor)
        if (expected.length === K) break
      }
    })()
    const filled = await fill(main.tidings, n)
    await bounded(tailed, WAIT_MS, 'the hub tailing the fill')
    process.stdout.write(`${engine} N=${filled.others}: filled in ${filled.seconds.toFixed(1)} s${filled.stoppedEarly ? ` (stopped at the ${FILL_LIMIT_MS / 1000} s limit)` : ''}\n`)

    const tailing = await timeResumes(main, cursor, expected)
    fresh = await serve(log)
    const freshTimed = await timeResumes(fresh, cursor, expected)
    return { engine, filteredRead: log.capabilities.filteredRead, n: filled.others, wantedN: n, fillSeconds: filled.seconds, stoppedEarly: filled.stoppedEarly, tailing, fresh: freshTimed }
  } finally {
    if (fresh !== null) await shut(fresh)
    await shut(main)
    await log.close()
  }
}

async function cleanUp(): Promise<void> {
  if (schemas.length > 0) {
    const client = new pg.Client({ connectionString: DATABASE_URL })
    await client.connect()
    try {
      for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS ${client.escapeIdentifier(s)} CASCADE`)
    } finally {
      await client.end()
    }
  }
  if (prefixes.length > 0) {
    const admin = new Redis(REDIS_URL)
    try {
      for (const prefix of prefixes) {
        let cursor = '0'
        do {
          const [nextCursor, keys] = await admin.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
          cursor = nextCursor
          if (keys.length > 0) await admin.unlink(...keys)
        } while (cursor !== '0')
      }
    } finally {
      admin.disconnect()
    }
  }
}

async function main(): Promise<void> {
  const rows: Row[] = []
  const notes: string[] = []
  try {
    for (const engine of ENGINES) {
      const results: Result[] = []
      for (const n of SIZES) results.push(await run(engine, n))
      for (const r of results) {
        for (const hub of ['tailing', 'fresh'] as const) {
          const t = r[hub]
          const base = results[0]![hub].medianMs
          rows.push({
            engine,
            filteredRead: r.filteredRead ? 'yes' : 'no',
            N: r.n,
            hub,
            path: t.path,
            medianMs: t.medianMs,
            minMs: t.minMs,
            maxMs: t.maxMs,
            ratio: r === results[0] ? null : t.medianMs / base,
            fillS: r.fillSeconds,
          })
        }
        if (r.stoppedEarly) notes.push(`${engine}: N = ${r.wantedN} did not fill within ${FILL_LIMIT_MS / 1000} s; the row has the N reached (${r.n})`)
      }
    }
  } finally {
    await cleanUp()
  }
  report('replay', `Replay: resume after missing k = ${K} own events among N others`, rows, [
    `time: connect → the ${K}th missed event received (raw SSE, Last-Event-ID), median of ${REPEATS} after one untimed resume; ratio = this N's median / the first N's, same engine and hub (goal ≤ 5)`,
    'hub tailing = the hub that tailed the fill (window of 10 000 entries); fresh = a second instance started after the fill (empty window: engine reads only)',
    'path: the hub\'s tidings_resumes_total{source}: window = served from memory; engine = read from the log (then the window from where it starts)',
    `fill: ${FILL_BATCH} events per publish, ${FILL_CONCURRENCY} in flight; others spread over ${OTHER_CHANNELS} channels; fillS = seconds to publish them`,
    ...notes,
  ])
}

main()
  .then(() => clearTimeout(watchdog))
  .catch(async (err) => {
    console.error(err)
    await cleanUp().catch(() => {})
    process.exit(1)
  })
