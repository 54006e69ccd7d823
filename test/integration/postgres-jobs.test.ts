/**
 * Issue 5: jobs on PostgreSQL across real processes. Spawned `tidings serve` and `tidings worker`
 * processes share nothing but the PostgreSQL cluster (events and jobs both on it, in a random
 * schema per test, dropped afterwards): a worker SIGKILLed mid-job; a cancel sent to the serve
 * process aborting a job in a worker process; cron in three worker processes; progress from a
 * worker process reaching an SSE client of the serve process.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, afterEach, before, describe, it } from 'node:test'
import type { PgRunLine } from '../fixtures/jobs-postgres.js'
import { engineAvailable } from '../helpers/engines.js'
import { eventsUrl, postJson, signToken, SseRecorder, TEST_SECRET, type Received } from '../helpers/harness.js'
import { dropSchemas, POSTGRES_URL, testSchema } from '../helpers/postgres.js'

const skip = await engineAvailable('postgres')
const root = new URL('../../', import.meta.url).pathname
const JOBS_MODULE = './test/fixtures/jobs-postgres.ts'
const JOB_TYPES = ['job.queued', 'job.started', 'job.progress', 'job.succeeded', 'job.failed', 'job.retrying', 'job.cancelled', 'tidings.reset']
const runSchema = testSchema('procs')
const schemas = new Set<string>()

/** A spawned `tidings` process: its pid is the Tidings process itself, so SIGKILL is a real crash. */
class Proc {
  readonly child: ChildProcess
  readonly pid: number
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  stdout = ''
  stderr = ''
  running = true
  readonly #onOutput = new Set<() => void>()

  constructor(
    readonly label: string,
    args: string[],
    env: NodeJS.ProcessEnv,
  ) {
    this.child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/run.ts', ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    if (this.child.pid === undefined) throw new Error(`${label}: could not spawn tidings ${args.join(' ')}`)
    this.pid = this.child.pid
    procs.add(this)
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        this.running = false
        procs.delete(this)
        for (const l of [...this.#onOutput]) l()
        resolve({ code, signal })
      }),
    )
    const read = (into: 'stdout' | 'stderr') => (d: Buffer) => {
      this[into] += d.toString()
      for (const l of [...this.#onOutput]) l()
    }
    this.child.stdout!.on('data', read('stdout'))
    this.child.stderr!.on('data', read('stderr'))
  }

  /** The first match of `re` in stdout; rejects when the process exits first or after `timeoutMs`. */
  waitForOutput(re: RegExp, timeoutMs = 30_000): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const settle = (fn: () => void): void => {
        clearTimeout(timer)
        this.#onOutput.delete(check)
        fn()
      }
      const check = (): void => {
        const m = re.exec(this.stdout)
        if (m !== null) settle(() => resolve(m))
        else if (!this.running) settle(() => reject(new Error(`${this.label} exited before printing ${re}\n${this.output()}`)))
      }
      const timer = setTimeout(() => settle(() => reject(new Error(`${this.label} did not print ${re} within ${timeoutMs} ms\n${this.output()}`))), timeoutMs)
      this.#onOutput.add(check)
      check()
    })
  }

  /** Sends `signal` to its pid; resolves once it has exited. */
  kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running) {
      try {
        process.kill(this.pid, signal)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err
      }
    }
    return this.exited
  }

  /** SIGTERM (a graceful stop), then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const timer = setTimeout(() => void this.kill('SIGKILL'), graceMs)
    try {
      return await this.kill('SIGTERM')
    } finally {
      clearTimeout(timer)
    }
  }

  output(): string {
    return `--- ${this.label} (pid ${this.pid}) stdout:\n${this.stdout.slice(-3000)}--- stderr:\n${this.stderr.slice(-3000)}`
  }
}

const procs = new Set<Proc>()
const killAll = async (): Promise<void> => {
  await Promise.all([...procs].map((p) => p.kill('SIGKILL')))
}

/** The environment of every process of one test: PostgreSQL for events and jobs, in that test's schema. */
function envFor(schema: string): NodeJS.ProcessEnv {
  return {
    TIDINGS_BACKEND: 'postgres',
    TIDINGS_EVENTS_BACKEND: '',
    TIDINGS_JOBS_BACKEND: '',
    DATABASE_URL: POSTGRES_URL,
    TIDINGS_PG_SCHEMA: schema,
    TIDINGS_PORT: '0',
    TIDINGS_HOST: '127.0.0.1',
    TIDINGS_JWT_SECRET: TEST_SECRET,
  }
}

/** `tidings serve --no-worker` knowing the fixture jobs: it enqueues and serves, never runs them. */
async function serve(env: NodeJS.ProcessEnv): Promise<{ proc: Proc; url: string }> {
  const proc = new Proc('serve', ['serve', '--no-worker', '--jobs', JOBS_MODULE], env)
  const m = await proc.waitForOutput(/listening on (http:\/\/\S+)\n/)
  return { proc, url: m[1]! }
}

/** `tidings worker` running the fixture jobs (and the scheduler); resolves once it runs them. */
async function worker(label: string, env: NodeJS.ProcessEnv): Promise<Proc> {
  const proc = new Proc(label, ['worker', '--jobs', JOBS_MODULE], env)
  await proc.waitForOutput(/^worker \S+ running /m)
  return proc
}

/** Resolves with the first event the recorder has, or gets, that `match` accepts. */
function eventWhere(rec: SseRecorder, match: (e: Received) => boolean, timeoutMs = 30_000): Promise<Received> {
  return new Promise((resolve, reject) => {
    const settle = (fn: () => void): void => {
      clearTimeout(timer)
      for (const t of JOB_TYPES) rec.es.removeEventListener(t, check)
      fn()
    }
    // The recorder's own listeners were added first, so rec.events already holds the event here.
    const check = (): void => {
      const e = rec.events.find(match)
      if (e !== undefined) settle(() => resolve(e))
    }
    const timer = setTimeout(() => settle(() => reject(new Error(`no matching event within ${timeoutMs} ms; got ${rec.events.map((e) => e.type).join(', ')}`))), timeoutMs)
    for (const t of JOB_TYPES) rec.es.addEventListener(t, check)
    check()
  })
}

async function getJson(target: string, token: string): Promise<{ status: number; body: any }> {
  const res = await fetch(target, { headers: { authorization: `Bearer ${token}` } })
  return { status: res.status, body: await res.json() }
}

function readRuns(file: string): PgRunLine[] {
  let text = ''
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as PgRunLine)
}

/**
 * The events a job's worker publishes, in log order, after checking that the enqueuer published
 * `job.queued` exactly once. The two come from different processes: the worker is woken by the
 * enqueue's commit, and its `job.started` can reach the log before the enqueuer's `job.queued`.
 */
function workerSide(types: string[]): string[] {
  assert.equal(types.filter((t) => t === 'job.queued').length, 1, `one job.queued in ${types.join(', ')}`)
  return types.filter((t) => t !== 'job.queued')
}

/** The pid in a default worker id (`<host>-<pid>-<random>`). */
const pidOfWorker = (workerId: string): number => Number(/-(\d+)-[0-9a-f]+$/.exec(workerId)?.[1])

describe('jobs on PostgreSQL across real processes (tidings serve / tidings worker)', { skip: skip ?? false }, () => {
  let dir: string
  let admin: string
  let tests = 0
  const schema = (): string => {
    const s = `${runSchema}_${tests++}`
    schemas.add(s)
    return s
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tidings-pg-procs-'))
    admin = await signToken({ sub: 'ops', tidings: { admin: true } })
  })
  afterEach(killAll)
  after(async () => {
    await killAll()
    rmSync(dir, { recursive: true, force: true })
    await dropSchemas(POSTGRES_URL, schemas)
  })

  it('a worker SIGKILLed mid-job: the job runs again in another worker process and succeeds exactly once', { timeout: 60_000 }, async () => {
    const env = envFor(schema())
    const runsFile = join(dir, 'crash.jsonl')
    const [s, w1] = await Promise.all([serve(env), worker('worker 1', env)])
    const enq = await postJson(`${s.url}/v1/jobs`, { name: 'pg.crashable', payload: { runsFile } }, admin)
    assert.equal(enq.status, 202, JSON.stringify(enq.body))
    const id = enq.body.id as string
    const rec = new SseRecorder(eventsUrl(s.url, [`job:${id}`]), { types: JOB_TYPES, token: admin, lastEventId: enq.body.followFrom })
    const working = await eventWhere(rec, (e) => e.type === 'job.progress')
    assert.equal((working.data.data as { message: string }).message, `attempt 1 in ${w1.pid}`)

    assert.equal((await w1.kill('SIGKILL')).signal, 'SIGKILL')
    const w2 = await worker('worker 2', env)
    const succeeded = await eventWhere(rec, (e) => e.type === 'job.succeeded')
    const outcome = succeeded.data.data as { result: unknown; attempt: number }
    assert.deepEqual([outcome.result, outcome.attempt], [{ pid: w2.pid }, 2], 'worker 2 ran it, as the second attempt')
    // With every worker gone nothing can run it again: what the record and the log say now is final.
    assert.equal((await w2.stop()).code, 0, w2.output())

    const record = await getJson(`${s.url}/v1/jobs/${id}`, admin)
    assert.equal(record.body.status, 'succeeded')
    assert.equal(record.body.attempts, 2)
    assert.deepEqual(record.body.result, { pid: w2.pid })
    assert.equal(record.body.error, null)
    assert.deepEqual(
      readRuns(runsFile).map((r) => [r.what, r.pid, r.attempt]),
      [
        ['started', w1.pid, 1],
        ['started', w2.pid, 2],
        ['finished', w2.pid, 2],
      ],
      'started in worker 1, then ran to the end once, in worker 2',
    )
    const history = await getJson(`${s.url}/v1/history?channel=job:${id}&limit=1000`, admin)
    const lifecycle = (history.body.events as { event: { type: string; data: { workerId?: string } } }[]).filter((e) => e.event.type !== 'job.progress')
    assert.deepEqual(workerSide(lifecycle.map((e) => e.event.type)), ['job.started', 'job.started', 'job.succeeded'])
    assert.deepEqual(lifecycle.filter((e) => e.event.type === 'job.started').map((e) => pidOfWorker(e.event.data.workerId!)), [w1.pid, w2.pid])
    rec.close()
  })

  it('a cancel sent over HTTP to the serve process aborts the job running in a worker process', { timeout: 60_000 }, async () => {
    const env = envFor(schema())
    const runsFile = join(dir, 'cancel.jsonl')
    const [s, w] = await Promise.all([serve(env), worker('worker', env)])
    const enq = await postJson(`${s.url}/v1/jobs`, { name: 'pg.cancellable', payload: { runsFile } }, admin)
    assert.equal(enq.status, 202, JSON.stringify(enq.body))
    const id = enq.body.id as string
    const rec = new SseRecorder(eventsUrl(s.url, [`job:${id}`]), { types: JOB_TYPES, token: admin, lastEventId: enq.body.followFrom })
    const waiting = await eventWhere(rec, (e) => e.type === 'job.progress')
    assert.equal((waiting.data.data as { message: string }).message, `waiting in ${w.pid}`)

    const cancel = await postJson(`${s.url}/v1/jobs/${id}/cancel`, {}, admin)
    assert.equal(cancel.status, 202, JSON.stringify(cancel.body))
    assert.equal(cancel.body.outcome, 'requested')
    const cancelled = await eventWhere(rec, (e) => e.type === 'job.cancelled')
    assert.deepEqual(cancelled.data.data, { attempts: 1, running: true })

    assert.ok(w.running, 'the worker process is still running')
    const record = await getJson(`${s.url}/v1/jobs/${id}`, admin)
    assert.equal(record.body.status, 'cancelled')
    assert.ok(record.body.cancelRequestedAt)
    assert.deepEqual(
      readRuns(runsFile).map((r) => [r.what, r.pid, r.reason ?? null]),
      [
        ['started', w.pid, null],
        ['aborted', w.pid, 'TIDINGS_ERR_JOB_CANCELLED'],
      ],
      "the handler's signal fired in the worker process, because of the cancel",
    )
    assert.equal((await w.stop()).code, 0, w.output())
    rec.close()
  })

  it('cron in three worker processes fires each tick once', { timeout: 60_000 }, async () => {
    const env = envFor(schema())
    const runsFile = join(dir, 'ticks.jsonl')
    const s = await serve(env)
    const rec = new SseRecorder(eventsUrl(s.url, ['queue:pg-ticks']), { types: JOB_TYPES, token: admin })
    await rec.opened()
    const created = await postJson(`${s.url}/v1/schedules`, { name: 'every-second', cron: '* * * * * *', job: 'pg.tick', payload: { runsFile } }, admin)
    assert.equal(created.status, 201, JSON.stringify(created.body))
    // Each scheduler loads the schedules as it starts; `running` is printed after that.
    const workers = await Promise.all([1, 2, 3].map((n) => worker(`worker ${n}`, env)))
    const queued = (): Received[] => rec.events.filter((e) => e.type === 'job.queued')
    const before = queued().length
    // Four more ticks: at least three claimed while all three schedulers were armed.
    await eventWhere(rec, () => queued().length >= before + 4, 30_000)
    const disabled = await fetch(`${s.url}/v1/schedules/every-second`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ enabled: false }),
    })
    assert.equal(disabled.status, 200)
    for (const w of workers) assert.equal((await w.stop()).code, 0, w.output())

    const list = await getJson(`${s.url}/v1/jobs?name=pg.tick&limit=500`, admin)
    const jobs = list.body.jobs as { id: string; key: string; status: string }[]
    assert.ok(jobs.length >= before + 4, `${jobs.length} ticks fired`)
    const ticks = jobs.map((j) => /^schedule:every-second:(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z)$/.exec(j.key)?.[1])
    assert.ok(ticks.every((t) => t !== undefined), `every job carries its tick: ${jobs.map((j) => j.key).join(', ')}`)
    assert.equal(new Set(ticks).size, jobs.length, 'one job per tick')
    const seconds = ticks.map((t) => Date.parse(t!) / 1000).sort((a, b) => a - b)
    assert.deepEqual(seconds, seconds.map((_, i) => seconds[0]! + i), 'no tick skipped while three schedulers ran')

    const history = await getJson(`${s.url}/v1/history?channel=queue:pg-ticks&limit=1000`, admin)
    const announced = (history.body.events as { event: { type: string; job: { id: string }; data: { schedule: string } } }[]).filter((e) => e.event.type === 'job.queued')
    assert.deepEqual(announced.map((e) => e.event.job.id).sort(), jobs.map((j) => j.id).sort(), 'each tick claimed, and announced, by exactly one scheduler')
    assert.ok(announced.every((e) => e.event.data.schedule === 'every-second'))
    const ran = readRuns(runsFile).map((r) => r.job)
    assert.equal(new Set(ran).size, ran.length, 'no tick job ran twice')
    assert.deepEqual([...new Set(ran)].sort(), jobs.filter((j) => j.status === 'succeeded').map((j) => j.id).sort())
    rec.close()
  })

  it('a job enqueued over HTTP runs in a worker process, and its progress reaches an SSE client of the serve process', { timeout: 60_000 }, async () => {
    const env = envFor(schema())
    const [s, w] = await Promise.all([serve(env), worker('worker', env)])
    const enq = await postJson(`${s.url}/v1/jobs`, { name: 'pg.slow', payload: { steps: 3, stepMs: 20 } }, admin)
    assert.equal(enq.status, 202, JSON.stringify(enq.body))
    const id = enq.body.id as string
    const rec = new SseRecorder(eventsUrl(s.url, [`job:${id}`]), { types: JOB_TYPES, token: admin, lastEventId: enq.body.followFrom })
    await eventWhere(rec, (e) => e.type === 'job.succeeded')
    assert.deepEqual(workerSide(rec.events.map((e) => e.type)), ['job.started', 'job.progress', 'job.progress', 'job.progress', 'job.succeeded'])
    assert.ok(rec.events.every((e) => e.data.job !== null && (e.data.job as { id: string }).id === id))
    assert.deepEqual(
      rec.events.filter((e) => e.type === 'job.progress').map((e) => e.data.data),
      [1, 2, 3].map((step) => ({ current: step, total: 3, percent: Math.round((step / 3) * 1000) / 10, message: `step ${step}` })),
    )
    const started = rec.events.find((e) => e.type === 'job.started')!
    assert.equal(pidOfWorker((started.data.data as { workerId: string }).workerId), w.pid, 'the worker process ran it')
    assert.deepEqual((rec.events.at(-1)!.data.data as { result: unknown }).result, { steps: 3, pid: w.pid })
    const record = await getJson(`${s.url}/v1/jobs/${id}`, admin)
    assert.equal(record.body.status, 'succeeded')
    assert.deepEqual(record.body.progress, { ...(rec.events[4]!.data.data as object), at: record.body.progress.at })
    assert.equal((await w.stop()).code, 0, w.output())
    rec.close()
  })
})
