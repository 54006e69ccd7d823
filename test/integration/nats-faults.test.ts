/**
 * Issue 6 part 3: the NATS engine under faults, on a nats-server of this test's own (a spare
 * loopback port, a store directory of its own, killed and restarted by its pid; the machine's
 * server on 4222 is never touched). The server SIGKILLed and restarted while events are being
 * published: no acknowledged event is lost, and hubs and workers carry on by themselves. A worker
 * process SIGKILLed mid-job: the job runs again in another worker and succeeds once. Seed 002's
 * flow: a `tidings worker` process runs a job whose progress an SSE client receives through a
 * `tidings serve` process.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { z } from 'zod'
import { defineJob } from '../../src/core/jobs/define.js'
import { NatsEventLog } from '../../src/engines/nats/event-log.js'
import { NatsJobQueue } from '../../src/engines/nats/job-queue.js'
import { EventCollector } from '../../src/testing/index.js'
import { createTidings, type Tidings } from '../../src/tidings.js'
import { engineAvailable } from '../helpers/engines.js'
import { eventsUrl, postJson, signToken, SseRecorder, TEST_SECRET, type Received } from '../helpers/harness.js'
import { natsBinaryAvailable, OwnNatsServer } from '../helpers/nats.js'
import { CliProcess, killAllProcesses } from '../helpers/processes.js'

const skip = (await engineAvailable('nats')) ?? (await natsBinaryAvailable())
const JOBS_MODULE = './test/fixtures/jobs-nats.ts'
const JOB_TYPES = ['job.queued', 'job.started', 'job.progress', 'job.log', 'job.succeeded', 'job.failed', 'job.retrying', 'nats.run', 'tidings.reset']

interface Instance {
  readonly tidings: Tidings
  readonly events: EventCollector
  readonly log: NatsEventLog
  readonly queue: NatsJobQueue
}

describe('NATS faults', { skip: skip ?? false }, () => {
  let server: OwnNatsServer
  let dir: string
  let admin: string
  const closers: (() => Promise<void>)[] = []

  before(async () => {
    server = await OwnNatsServer.start()
    dir = mkdtempSync(join(tmpdir(), 'tidings-nats-faults-'))
    admin = await signToken({ sub: 'ops', tidings: { admin: true } })
  })
  after(async () => {
    await killAllProcesses()
    for (const close of closers.reverse()) await close().catch(() => undefined)
    await server?.stop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  /** An in-process instance with its own connections, as a process would have. */
  async function instance(): Promise<Instance> {
    const log = new NatsEventLog({ url: server.url, checkIntervalMs: 500 })
    const queue = new NatsJobQueue({ url: server.url })
    const tidings = createTidings({ auth: { open: true }, events: log, jobs: queue })
    await tidings.ready()
    const events = new EventCollector(tidings)
    await events.ready()
    closers.push(async () => {
      await events.close()
      await tidings.close()
      await queue.close()
      await log.close()
    })
    return { tidings, events, log, queue }
  }

  /** The environment of a spawned CLI process on this test's server. */
  const env = (): NodeJS.ProcessEnv => ({
    TIDINGS_BACKEND: 'nats',
    TIDINGS_EVENTS_BACKEND: '',
    TIDINGS_JOBS_BACKEND: '',
    NATS_URL: server.url,
    TIDINGS_NATS_PREFIX: '',
    TIDINGS_PORT: '0',
    TIDINGS_HOST: '127.0.0.1',
    TIDINGS_JWT_SECRET: TEST_SECRET,
  })

  it('a server restarted mid-publish loses no acknowledged event; hubs and workers recover unaided', { timeout: 60_000 }, async () => {
    const [producer, consumer] = [await instance(), await instance()]
    const echo = defineJob({ name: 'fault.echo', schema: z.object({ n: z.int() }), handler: (ctx) => ({ n: ctx.payload.n }) })
    producer.tidings.registerJobs(echo)
    consumer.tidings.registerJobs(echo)
    await consumer.tidings.startWorker({ heartbeatMs: 200 })
    const before = await producer.tidings.enqueue(echo, { n: 0 })
    await producer.events.waitForJob(before, { timeoutMs: 10_000 })

    const acknowledged: string[] = []
    let failed = 0
    let restarted: Promise<void> | undefined
    // Four publishers at once, so that publishes are in flight when the server dies.
    await Promise.all(
      Array.from({ length: 4 }, async (_, p) => {
        for (let i = 0; i < 60; i++) {
          if (p === 0 && i === 20) restarted = server.restart()
          try {
            const out = await producer.tidings.publish({ type: 'fault.n', channels: [`fault:${p}`], data: { p, i } })
            acknowledged.push(out.id)
          } catch {
            failed++
          }
        }
      }),
    )
    await restarted
    const marker = await producer.tidings.publish({ type: 'fault.marker', channels: ['fault:end'] })
    for (const node of [producer, consumer]) {
      await node.events.waitFor((e) => e.id === marker.id, { timeoutMs: 20_000 })
      const seen = new Set(node.events.filter('fault.n').map((e) => e.id))
      assert.deepEqual(acknowledged.filter((id) => !seen.has(id)), [], 'every acknowledged event reached the hub')
      assert.equal(node.events.filter('tidings.reset').length, 0, 'same stream, same epoch: no reset')
    }
    const stored = new Set<string>()
    let pos: string | null = null
    for (;;) {
      const page = await producer.log.read(pos, { limit: 500 })
      for (const e of page.entries) stored.add(e.event.id)
      if (page.entries.length === 0 || page.next === null || page.next === pos) break
      pos = page.next
    }
    assert.deepEqual(acknowledged.filter((id) => !stored.has(id)), [], 'every acknowledged event is in the log after the restart')
    assert.ok(acknowledged.length + failed === 240 && acknowledged.length > 0, `${acknowledged.length} acknowledged, ${failed} failed`)

    // The worker started before the restart takes jobs enqueued after it.
    const afterRestart = await producer.tidings.enqueue(echo, { n: 7 })
    const done = await producer.events.waitForJob(afterRestart, { timeoutMs: 20_000 })
    assert.equal(done.type, 'job.succeeded')
    assert.deepEqual((await consumer.tidings.getJob(afterRestart))?.result, { n: 7 })
  })

  it('a worker process SIGKILLed mid-job: another worker process runs it again and it succeeds exactly once', { timeout: 60_000 }, async () => {
    const runsFile = join(dir, 'crash.jsonl')
    const s = CliProcess.spawn('serve', ['serve', '--no-worker', '--jobs', JOBS_MODULE], env())
    const url = (await s.waitForOutput(/listening on (http:\/\/\S+)\n/))[1]!
    const w1 = CliProcess.spawn('worker 1', ['worker', '--jobs', JOBS_MODULE], env())
    await w1.waitForOutput(/^worker \S+ running /m)
    const enq = await postJson(`${url}/v1/jobs`, { name: 'nats.crashable', payload: { runsFile, hangIn: w1.pid } }, admin)
    assert.equal(enq.status, 202, JSON.stringify(enq.body))
    const id = enq.body.id as string
    const rec = new SseRecorder(eventsUrl(url, [`job:${id}`]), { types: JOB_TYPES, token: admin, lastEventId: enq.body.followFrom })
    const firstRun = await eventWhere(rec, (e) => e.type === 'nats.run')
    assert.equal((firstRun.data.data as { pid: number }).pid, w1.pid, 'worker 1 took it')

    assert.equal((await w1.kill('SIGKILL')).signal, 'SIGKILL')
    const w2 = CliProcess.spawn('worker 2', ['worker', '--jobs', JOBS_MODULE], env())
    const succeeded = await eventWhere(rec, (e) => e.type === 'job.succeeded')
    assert.deepEqual(succeeded.data.data, { result: { pid: w2.pid }, attempt: 2, durationMs: (succeeded.data.data as { durationMs: number }).durationMs })
    assert.equal((await w2.stop()).code, 0, w2.output())

    const record = await getJson(`${url}/v1/jobs/${id}`, admin)
    assert.equal(record.body.status, 'succeeded')
    assert.equal(record.body.attempts, 2)
    const runs = readFileSync(runsFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { pid: number; attempt: number })
    assert.deepEqual(runs, [{ pid: w1.pid, attempt: 1 }, { pid: w2.pid, attempt: 2 }], 'ran in worker 1, then once in worker 2')
    assert.equal(rec.events.filter((e) => e.type === 'job.succeeded').length, 1)
    rec.close()
    await s.stop()
  })

  it("seed 002: a `tidings worker` process runs a job whose progress an SSE client receives through `tidings serve`", { timeout: 60_000 }, async () => {
    const s = CliProcess.spawn('serve', ['serve', '--no-worker', '--jobs', JOBS_MODULE], env())
    const url = (await s.waitForOutput(/listening on (http:\/\/\S+)\n/))[1]!
    const w = CliProcess.spawn('worker', ['worker', '--jobs', JOBS_MODULE], env())
    const workerId = (await w.waitForOutput(/^worker (\S+) running /m))[1]!
    const enq = await postJson(`${url}/v1/jobs`, { name: 'demo.report', payload: { steps: 4, stepMs: 20 } }, admin)
    assert.equal(enq.status, 202, JSON.stringify(enq.body))
    const id = enq.body.id as string
    const rec = new SseRecorder(eventsUrl(url, [`job:${id}`]), { types: JOB_TYPES, token: admin, lastEventId: enq.body.followFrom })
    await eventWhere(rec, (e) => e.type === 'job.succeeded')
    const progress = rec.events.filter((e) => e.type === 'job.progress').map((e) => e.data.data as { current: number; total: number; percent: number })
    assert.deepEqual(progress.map((p) => [p.current, p.total, p.percent]), [[1, 4, 25], [2, 4, 50], [3, 4, 75], [4, 4, 100]])
    const started = rec.events.find((e) => e.type === 'job.started')
    assert.equal((started?.data.data as { workerId: string }).workerId, workerId, 'the worker process ran it')
    assert.deepEqual(rec.events.find((e) => e.type === 'job.succeeded')?.data.data, {
      result: { steps: 4, pages: 12 },
      attempt: 1,
      durationMs: (rec.events.find((e) => e.type === 'job.succeeded')!.data.data as { durationMs: number }).durationMs,
    })
    const ids = rec.events.map((e) => e.data.id)
    assert.equal(new Set(ids).size, ids.length, 'each event once')
    rec.close()
    await w.stop()
    await s.stop()
  })
})

async function getJson(target: string, token: string): Promise<{ status: number; body: any }> {
  const res = await fetch(target, { headers: { authorization: `Bearer ${token}` } })
  return { status: res.status, body: await res.json() }
}

/** Resolves with the first event the recorder has, or gets, that `match` accepts. */
function eventWhere(rec: SseRecorder, match: (e: Received) => boolean, timeoutMs = 30_000): Promise<Received> {
  const found = rec.events.find(match)
  if (found !== undefined) return Promise.resolve(found)
  return new Promise((resolve, reject) => {
    const check = (): void => {
      const e = rec.events.find(match)
      if (e !== undefined) done(() => resolve(e))
    }
    const timer = setTimeout(() => done(() => reject(new Error(`no matching event within ${timeoutMs} ms; got ${rec.events.map((e) => e.type).join(', ')}`))), timeoutMs)
    const done = (settle: () => void): void => {
      clearTimeout(timer)
      for (const t of JOB_TYPES) rec.es.removeEventListener(t, check)
      settle()
    }
    for (const t of JOB_TYPES) rec.es.addEventListener(t, check)
  })
}
