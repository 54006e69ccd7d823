/**
 * Process-level tests shared by every engine that can run Tidings across processes (issue 4 part
 * 5): spawned `tidings serve` and `tidings worker` processes share nothing but the engine the
 * environment names. An SSE client resumes on another hub after its hub is SIGKILLed; a job whose
 * worker is SIGKILLed runs again in another worker and succeeds once; a cancel sent to one process
 * aborts the job in another; cron in three processes fires once per tick.
 *
 *   processSuite('Redis', { skip, env: (n, extra) => ({ TIDINGS_BACKEND: 'redis', … }), cleanup })
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, afterEach, before, describe, it } from 'node:test'
import type { RunLine } from '../fixtures/jobs-processes.js'
import { eventsUrl, postJson, signToken, SseRecorder, TEST_SECRET, type Received } from '../helpers/harness.js'
import { CliProcess, killAllProcesses } from '../helpers/processes.js'

const JOBS_MODULE = './test/fixtures/jobs-processes.ts'
const JOB_TYPES = ['job.queued', 'job.started', 'job.succeeded', 'job.failed', 'job.retrying', 'job.cancelled', 'proc.run', 'tidings.reset']

/** What every process needs whatever the engine: a loopback HTTP port of its own and the test secret. */
const BASE_ENV: NodeJS.ProcessEnv = {
  TIDINGS_EVENTS_BACKEND: '',
  TIDINGS_JOBS_BACKEND: '',
  TIDINGS_PORT: '0',
  TIDINGS_HOST: '127.0.0.1',
  TIDINGS_JWT_SECRET: TEST_SECRET,
}

/** How one engine runs the suite. */
export interface ProcessSuiteOptions {
  /** Why the suite is skipped (from `engineAvailable`), or null to run it. */
  readonly skip: string | null
  /**
   * The engine's environment for every process of the `n`th test (0, 1, …): names unique to that
   * test, so tests never see each other's events, jobs or schedules. `extra` goes on top.
   */
  env(n: number, extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv
  /** Deletes everything the run created on the engine; runs after every process is killed. */
  cleanup(): Promise<void>
  /** Adds engine-specific tests inside the suite (same process cleanup). */
  more?(ctx: ProcessSuiteContext): void
}

/** What `more` gets. */
export interface ProcessSuiteContext {
  /** The full environment of the next test's processes. */
  env(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv
}

/** A `tidings serve` process; resolves with it and its URL once it listens. */
export async function serve(label: string, env: NodeJS.ProcessEnv, args: string[] = []): Promise<{ proc: CliProcess; url: string }> {
  const proc = CliProcess.spawn(label, ['serve', ...args], env)
  const m = await proc.waitForOutput(/listening on (http:\/\/\S+)\n/)
  return { proc, url: m[1]! }
}

/** A `tidings worker` process running the fixture jobs; resolves once it runs them. */
async function worker(label: string, env: NodeJS.ProcessEnv): Promise<CliProcess> {
  const proc = CliProcess.spawn(label, ['worker', '--jobs', JOBS_MODULE], env)
  await proc.waitForOutput(/^worker \S+ running /m)
  return proc
}

/** The worker id a `tidings worker` process printed. */
function workerId(proc: CliProcess): string {
  return /^worker (\S+) running /m.exec(proc.stdout)![1]!
}

/** Resolves with the first event the recorder has, or gets, that `match` accepts. */
function eventWhere(rec: SseRecorder, types: string[], match: (e: Received) => boolean, timeoutMs = 30_000): Promise<Received> {
  const found = rec.events.find(match)
  if (found !== undefined) return Promise.resolve(found)
  return new Promise((resolve, reject) => {
    // The recorder's own listeners were added first, so rec.events already holds the event here.
    const check = (): void => {
      const e = rec.events.find(match)
      if (e !== undefined) done(() => resolve(e))
    }
    const timer = setTimeout(() => done(() => reject(new Error(`no matching event within ${timeoutMs} ms; got ${rec.events.map((e) => e.type).join(', ')}`))), timeoutMs)
    const done = (settle: () => void): void => {
      clearTimeout(timer)
      for (const t of types) rec.es.removeEventListener(t, check)
      settle()
    }
    for (const t of types) rec.es.addEventListener(t, check)
  })
}

/** Resolves once the recorder's stream reports an error (it lost its connection). */
function connectionLost(rec: SseRecorder): Promise<void> {
  return new Promise((resolve) => rec.es.addEventListener('error', () => resolve(), { once: true }))
}

export async function getJson(target: string, token: string): Promise<{ status: number; body: any }> {
  const res = await fetch(target, { headers: { authorization: `Bearer ${token}` } })
  return { status: res.status, body: await res.json() }
}

function readRuns(file: string): RunLine[] {
  let text = ''
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as RunLine)
}

/**
 * A TCP proxy in front of a hub: the client's URL stays the same while the hub behind it changes.
 * `hold()` parks new connections until `switchTo(port)` sends them (and later ones) to that port.
 */
class SwitchProxy {
  /** The port each connection went to, in order. */
  readonly upstreams: number[] = []
  /** The Last-Event-ID header of each connection's first request (null when absent), in order. */
  readonly lastEventIds: (string | null)[] = []
  #target: number | null
  #held: Socket[] = []
  readonly #sockets = new Set<Socket>()

  private constructor(
    readonly server: Server,
    target: number,
  ) {
    this.#target = target
    server.on('connection', (client) => {
      this.#sockets.add(client)
      client.on('close', () => this.#sockets.delete(client))
      client.on('error', () => client.destroy())
      if (this.#target === null) this.#held.push(client)
      else this.#pipe(client, this.#target)
    })
  }

  static async start(target: number): Promise<SwitchProxy> {
    const server = createServer({ pauseOnConnect: true })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return new SwitchProxy(server, target)
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as { port: number }).port}`
  }

  hold(): void {
    this.#target = null
  }

  switchTo(port: number): void {
    this.#target = port
    for (const client of this.#held.splice(0)) if (!client.destroyed) this.#pipe(client, port)
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  #pipe(client: Socket, port: number): void {
    this.upstreams.push(port)
    const upstream = connect({ host: '127.0.0.1', port })
    this.#sockets.add(upstream)
    const end = (): void => {
      client.destroy()
      upstream.destroy()
    }
    upstream.on('error', end).on('close', end)
    client.on('close', end)
    client.once('data', (head: Buffer) => this.lastEventIds.push(/^last-event-id: *(.*?)\r$/im.exec(head.toString('latin1'))?.[1] ?? null))
    client.pipe(upstream)
    upstream.pipe(client)
    client.resume()
  }
}

const portOf = (u: string): number => Number(new URL(u).port)

/** Defines the suite `<name> across real processes` with the cases every engine must pass. */
export function processSuite(name: string, options: ProcessSuiteOptions): void {
  describe(`${name} across real processes (tidings serve / tidings worker)`, { skip: options.skip ?? false }, () => {
    let dir: string
    let admin: string
    let tests = 0
    const nextEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ ...BASE_ENV, ...options.env(tests++, extra), ...extra })

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'tidings-procs-'))
      admin = await signToken({ sub: 'ops', tidings: { admin: true } })
    })
    afterEach(killAllProcesses)
    after(async () => {
      await killAllProcesses()
      rmSync(dir, { recursive: true, force: true })
      await options.cleanup()
    })

    it('a client of hub A, SIGKILLed, resumes on hub B from its Last-Event-ID with exactly what it missed, in order', { timeout: 60_000 }, async () => {
      const env = nextEnv()
      const [a, b] = await Promise.all([serve('hub A', env, ['--no-worker']), serve('hub B', env, ['--no-worker'])])
      const publisher = await signToken({ sub: 'svc', tidings: { publish: ['room:*'] } })
      const reader = await signToken({ sub: 'u1', tidings: { subscribe: ['room:*'] } })
      const publishTo = async (hub: string, n: number): Promise<string> => {
        const r = await postJson(`${hub}/v1/publish`, { type: 'room.msg', channels: ['room:1'], data: { n } }, publisher)
        assert.equal(r.status, 202, JSON.stringify(r.body))
        return r.body.id as string
      }
      const proxy = await SwitchProxy.start(portOf(a.url))
      try {
        const types = ['room.msg', 'tidings.reset']
        // The real `eventsource` client, pointed at the proxy: it reconnects (and sends Last-Event-ID) by itself.
        const rec = new SseRecorder(eventsUrl(proxy.url, ['room:1']), { types, token: reader })
        await rec.opened()
        const ids: string[] = []
        for (let n = 1; n <= 3; n++) ids.push(await publishTo(a.url, n))
        await rec.waitFor(3)

        proxy.hold()
        const lost = connectionLost(rec)
        assert.equal((await a.proc.kill('SIGKILL')).signal, 'SIGKILL')
        await lost
        for (let n = 4; n <= 8; n++) ids.push(await publishTo(b.url, n))
        proxy.switchTo(portOf(b.url))
        await rec.waitFor(8)
        // Live events after the resume: a replayed event repeated at the seam would show up before them.
        for (let n = 9; n <= 10; n++) ids.push(await publishTo(b.url, n))
        await rec.waitFor(10)

        assert.deepEqual(rec.events.map((e) => e.data.id), ids, 'every event once, in publish order')
        assert.deepEqual(rec.events.map((e) => e.data.data), ids.map((_, i) => ({ n: i + 1 })))
        assert.ok(rec.events.every((e) => e.type === 'room.msg'), 'no tidings.reset: same log, same epoch')
        assert.deepEqual(proxy.upstreams, [portOf(a.url), portOf(b.url)], 'first served by A, then by B')
        assert.deepEqual(proxy.lastEventIds, [null, rec.events[2]!.lastEventId], 'the client resumed from its Last-Event-ID')
        rec.close()
      } finally {
        await proxy.close()
      }
    })

    it('a worker SIGKILLed mid-job: the job runs again in another worker process and succeeds exactly once', { timeout: 60_000 }, async () => {
      const env = nextEnv()
      const runsFile = join(dir, 'crash.jsonl')
      const [s, w1] = await Promise.all([serve('serve', env, ['--no-worker', '--jobs', JOBS_MODULE]), worker('worker 1', env)])
      const enq = await postJson(`${s.url}/v1/jobs`, { name: 'proc.crashable', payload: { runsFile, hangIn: w1.pid } }, admin)
      assert.equal(enq.status, 202, JSON.stringify(enq.body))
      const id = enq.body.id as string
      assert.ok(enq.body.followFrom, 'the log has a head (worker.started) to follow from')
      const rec = new SseRecorder(eventsUrl(s.url, [`job:${id}`]), { types: JOB_TYPES, token: admin, lastEventId: enq.body.followFrom })
      const firstRun = await eventWhere(rec, JOB_TYPES, (e) => e.type === 'proc.run')
      assert.equal((firstRun.data.data as { pid: number }).pid, w1.pid, 'worker 1 took it')

      assert.equal((await w1.kill('SIGKILL')).signal, 'SIGKILL')
      const w2 = await worker('worker 2', env)
      const succeeded = await eventWhere(rec, JOB_TYPES, (e) => e.type === 'job.succeeded')
      const outcome = succeeded.data.data as { result: unknown; attempt: number }
      assert.deepEqual([outcome.result, outcome.attempt], [{ pid: w2.pid }, 2], 'worker 2 ran it, as the second attempt')
      // With every worker gone, nothing can run it again: what the record and the log say now is final.
      assert.equal((await w2.stop()).code, 0, w2.output())

      const record = await getJson(`${s.url}/v1/jobs/${id}`, admin)
      assert.equal(record.body.status, 'succeeded')
      assert.equal(record.body.attempts, 2)
      assert.deepEqual(record.body.result, { pid: w2.pid })
      assert.deepEqual(
        readRuns(runsFile).map((r) => [r.what, r.pid, r.attempt]),
        [
          ['run', w1.pid, 1],
          ['run', w2.pid, 2],
        ],
        'ran in worker 1, then once in worker 2',
      )
      const history = await getJson(`${s.url}/v1/history?channel=job:${id}&limit=1000`, admin)
      const lifecycle = (history.body.events as { event: { type: string; data: { workerId?: string } } }[]).map((e) => e.event).filter((e) => e.type.startsWith('job.'))
      // job.queued is appended by the producer after the job is stored, so a worker in another
      // process may append job.started first: only the counts and the end are fixed.
      assert.deepEqual(lifecycle.map((e) => e.type).sort(), ['job.queued', 'job.started', 'job.started', 'job.succeeded'])
      assert.equal(lifecycle.at(-1)!.type, 'job.succeeded')
      assert.deepEqual(
        lifecycle.filter((e) => e.type === 'job.started').map((e) => e.data.workerId),
        [workerId(w1), workerId(w2)],
        'started in worker 1, then in worker 2',
      )
      rec.close()
    })

    it('a cancel sent to the serve process aborts the job running in a worker process', { timeout: 60_000 }, async () => {
      const env = nextEnv()
      const runsFile = join(dir, 'cancel.jsonl')
      const [s, w] = await Promise.all([serve('serve', env, ['--no-worker', '--jobs', JOBS_MODULE]), worker('worker', env)])
      const enq = await postJson(`${s.url}/v1/jobs`, { name: 'proc.cancellable', payload: { runsFile } }, admin)
      assert.equal(enq.status, 202, JSON.stringify(enq.body))
      const id = enq.body.id as string
      const rec = new SseRecorder(eventsUrl(s.url, [`job:${id}`]), { types: JOB_TYPES, token: admin, lastEventId: enq.body.followFrom })
      const run = await eventWhere(rec, JOB_TYPES, (e) => e.type === 'proc.run')
      assert.equal((run.data.data as { pid: number }).pid, w.pid)

      const cancel = await postJson(`${s.url}/v1/jobs/${id}/cancel`, {}, admin)
      assert.equal(cancel.status, 202, JSON.stringify(cancel.body))
      assert.equal(cancel.body.outcome, 'requested')
      const cancelled = await eventWhere(rec, JOB_TYPES, (e) => e.type === 'job.cancelled')
      assert.deepEqual(cancelled.data.data, { attempts: 1, running: true })

      assert.equal(w.exit, null, 'the worker process is still running')
      const record = await getJson(`${s.url}/v1/jobs/${id}`, admin)
      assert.equal(record.body.status, 'cancelled')
      assert.ok(record.body.cancelRequestedAt)
      assert.deepEqual(
        readRuns(runsFile).map((r) => [r.what, r.pid, r.reason ?? null]),
        [
          ['run', w.pid, null],
          ['aborted', w.pid, 'TIDINGS_ERR_JOB_CANCELLED'],
        ],
        "the handler's signal fired, in the worker process, because of the cancel",
      )
      assert.equal((await w.stop()).code, 0, w.output())
      rec.close()
    })

    it('cron in three worker processes fires each tick once', { timeout: 60_000 }, async () => {
      const env = nextEnv()
      const runsFile = join(dir, 'ticks.jsonl')
      const s = await serve('serve', env, ['--no-worker', '--jobs', JOBS_MODULE])
      const rec = new SseRecorder(eventsUrl(s.url, ['queue:ticks']), { types: JOB_TYPES, token: admin })
      await rec.opened()
      const created = await postJson(`${s.url}/v1/schedules`, { name: 'every-second', cron: '* * * * * *', job: 'proc.tick', payload: { runsFile } }, admin)
      assert.equal(created.status, 201, JSON.stringify(created.body))
      // Each scheduler loads the schedule as it starts; `running` is printed after that.
      const workers = await Promise.all([1, 2, 3].map((n) => worker(`worker ${n}`, env)))
      const queuedSoFar = (): number => rec.events.filter((e) => e.type === 'job.queued').length
      const queuedBefore = queuedSoFar()
      // Four more ticks: at least three claimed while all three schedulers were armed.
      await eventWhere(rec, JOB_TYPES, () => queuedSoFar() >= queuedBefore + 4, 30_000)
      const disabled = await fetch(`${s.url}/v1/schedules/every-second`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({ enabled: false }),
      })
      assert.equal(disabled.status, 200)
      const exits = await Promise.all(workers.map((w) => w.stop()))
      for (const [i, e] of exits.entries()) assert.equal(e.code, 0, workers[i]!.output())

      const list = await getJson(`${s.url}/v1/jobs?name=proc.tick&limit=500`, admin)
      const jobs = list.body.jobs as { id: string; key: string; status: string }[]
      const history = await getJson(`${s.url}/v1/history?channel=queue:ticks&limit=1000`, admin)
      const queued = (history.body.events as { event: { type: string; job: { id: string }; data: { schedule: string } } }[]).filter((e) => e.event.type === 'job.queued')
      assert.deepEqual(queued.map((e) => e.event.job.id).sort(), jobs.map((j) => j.id).sort(), 'each tick claimed (and announced) by exactly one scheduler')
      assert.ok(queued.every((e) => e.event.data.schedule === 'every-second'))
      const ticks = jobs.map((j) => /^schedule:every-second:(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z)$/.exec(j.key)?.[1])
      assert.ok(ticks.every((t) => t !== undefined), `every job carries its tick: ${jobs.map((j) => j.key).join(', ')}`)
      assert.equal(new Set(ticks).size, jobs.length, 'one job per tick')
      assert.ok(jobs.length >= queuedBefore + 4, `${jobs.length} ticks fired`)
      const runs = readRuns(runsFile).map((r) => r.job)
      assert.equal(new Set(runs).size, runs.length, 'no tick job ran twice')
      assert.deepEqual(
        [...new Set(runs)].sort(),
        jobs.filter((j) => j.status === 'succeeded').map((j) => j.id).sort(),
      )
      rec.close()
    })

    options.more?.({ env: nextEnv })
  })
}
