/**
 * Jobs across Tidings instances that share nothing in-process: each has its own RedisEventLog and
 * its own RedisJobQueue on one key prefix, as separate processes would. Exactly-once runs, a worker
 * dying mid-job, a cancel from another instance (through the log), and cron in three instances.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { z } from 'zod'
import { isTidingsError } from '../../src/core/errors.js'
import { defineJob } from '../../src/core/jobs/define.js'
import { RedisEventLog } from '../../src/engines/redis/event-log.js'
import { RedisJobQueue } from '../../src/engines/redis/job-queue.js'
import { EventCollector } from '../../src/testing/index.js'
import { createTidings, type Tidings } from '../../src/tidings.js'
import { engineAvailable, engineUrl } from '../helpers/engines.js'
import { signal } from '../helpers/jobs.js'
import { deleteKeys, testPrefix } from '../helpers/redis.js'

const skip = await engineAvailable('redis')
const url = engineUrl('redis')
const runPrefix = testPrefix('jobs')
let clusters = 0

interface Instance {
  readonly tidings: Tidings
  readonly events: EventCollector
  readonly queue: RedisJobQueue
  readonly log: RedisEventLog
}

const closers: (() => Promise<void>)[] = []

/** `n` instances on a fresh prefix; each has its own connections, as a process would. */
async function startInstances(n: number): Promise<Instance[]> {
  const prefix = `${runPrefix}:${clusters++}`
  const out: Instance[] = []
  for (let i = 0; i < n; i++) {
    const log = new RedisEventLog({ url, prefix, clientName: `${prefix}:${i}` })
    const queue = new RedisJobQueue({ url, prefix, clientName: `${prefix}:${i}` })
    const tidings = createTidings({ auth: { open: true }, events: log, jobs: queue })
    await tidings.ready()
    const events = new EventCollector(tidings)
    await events.ready()
    out.push({ tidings, events, queue, log })
    closers.push(async () => {
      await events.close()
      await tidings.close()
      await queue.close()
      await log.close()
    })
  }
  return out
}

const codeOf = (reason: unknown): string | undefined => (isTidingsError(reason) ? reason.code : undefined)

describe('jobs across instances on Redis (events and jobs)', { skip: skip ?? false }, () => {
  after(async () => {
    for (const close of closers.reverse()) await close()
    await deleteKeys(url, runPrefix)
  })

  it('runs each job exactly once however many workers compete for it', async () => {
    const nodes = await startInstances(3)
    const runs = new Map<number, number>()
    const echo = defineJob({
      name: 'test.echo',
      schema: z.object({ n: z.int() }),
      handler: async (ctx) => {
        runs.set(ctx.payload.n, (runs.get(ctx.payload.n) ?? 0) + 1)
        return { doubled: ctx.payload.n * 2 }
      },
    })
    for (const node of nodes) node.tidings.registerJobs(echo)
    await nodes[1]!.tidings.startWorker({ concurrency: 4, heartbeatMs: 200 })
    await nodes[2]!.tidings.startWorker({ concurrency: 4, heartbeatMs: 200 })
    const producer = nodes[0]!
    const ids = await Promise.all(Array.from({ length: 60 }, (_, i) => producer.tidings.enqueue(echo, { n: i }, { owner: { user: 'u1', tenant: 't1' } })))
    await Promise.all(ids.map((id) => producer.events.waitForJob(id, { timeoutMs: 15_000 })))
    for (let i = 0; i < 60; i++) assert.equal(runs.get(i), 1, `job ${i} ran once`)
    assert.equal(producer.events.filter('job.started').length, 60)
    assert.equal(producer.events.filter('job.succeeded').length, 60)
    const workers = new Set(producer.events.filter('job.started').map((e) => (e.data as { workerId: string }).workerId))
    assert.equal(workers.size, 2, 'both workers took jobs')
    const record = await nodes[2]!.tidings.getJob(ids[7]!)
    assert.equal(record?.status, 'succeeded')
    assert.equal(record?.attempts, 1)
    assert.deepEqual(record?.result, { doubled: 14 })
    assert.deepEqual(record?.owner, { user: 'u1', tenant: 't1' })
    assert.deepEqual(producer.events.jobTypes(ids[7]!), ['job.queued', 'job.started', 'job.succeeded'])
  })

  it('runs the job of a worker that died mid-job again on another worker within 2× the heartbeat interval; it succeeds once', async () => {
    const nodes = await startInstances(2)
    const heartbeatMs = 200
    const onFirst = signal()
    let handlerRuns = 0
    const work = defineJob({
      name: 'test.crashy',
      schema: z.object({}),
      handler: async (ctx) => {
        handlerRuns++
        if (ctx.job.attempt === 1) {
          onFirst.resolve()
          await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve))
          throw ctx.signal.reason
        }
        return 'done'
      },
    })
    for (const node of nodes) node.tidings.registerJobs(work)
    const doomed = await nodes[0]!.tidings.startWorker({ heartbeatMs })
    const id = await nodes[0]!.tidings.enqueue(work, {})
    await onFirst.promise
    const rescuer = await nodes[1]!.tidings.startWorker({ heartbeatMs })
    const crashedAt = Date.now()
    doomed.simulateCrash()
    const { events } = nodes[1]!
    const final = await events.waitForJob(id)
    assert.equal(final.type, 'job.succeeded')
    const starts = events.forJob(id).filter((e) => e.type === 'job.started')
    assert.deepEqual(starts.map((e) => (e.data as { workerId: string }).workerId), [doomed.id, rescuer.id])
    const rerunAfterMs = Date.parse(starts[1]!.occurredAt) - crashedAt
    assert.ok(rerunAfterMs < 2 * heartbeatMs, `ran again ${rerunAfterMs} ms after the crash; the bound is ${2 * heartbeatMs} ms`)
    assert.equal(events.forJob(id).filter((e) => e.type === 'job.succeeded').length, 1)
    const record = await nodes[0]!.tidings.getJob(id)
    assert.equal(record?.status, 'succeeded')
    assert.equal(record?.attempts, 2)
    assert.equal(record?.result, 'done')
    assert.equal(handlerRuns, 2)
  })

  it('cancels a running job from another instance: the signal fires and the record ends cancelled', async () => {
    const nodes = await startInstances(2)
    const started = signal()
    const aborted = signal<string | undefined>()
    const forever = defineJob({
      name: 'test.forever',
      schema: z.object({}),
      handler: (ctx) =>
        new Promise((_, reject) => {
          ctx.signal.addEventListener('abort', () => {
            aborted.resolve(codeOf(ctx.signal.reason))
            reject(ctx.signal.reason)
          })
          started.resolve()
        }),
    })
    const [workerNode, otherNode] = nodes as [Instance, Instance]
    workerNode.tidings.registerJobs(forever)
    otherNode.tidings.registerJobs(forever)
    // Heartbeats also carry cancel requests; this one is far too slow to, so only the log can.
    await workerNode.tidings.startWorker({ heartbeatMs: 60_000 })
    const id = await otherNode.tidings.enqueue(forever, {})
    await started.promise
    assert.equal((await otherNode.tidings.cancel(id)).outcome, 'requested')
    assert.equal(await aborted.promise, 'TIDINGS_ERR_JOB_CANCELLED')
    const final = await otherNode.events.waitForJob(id)
    assert.equal(final.type, 'job.cancelled')
    assert.deepEqual(final.data, { attempts: 1, running: true })
    const record = await otherNode.tidings.getJob(id)
    assert.equal(record?.status, 'cancelled')
    assert.ok(record?.cancelRequestedAt !== null)
    assert.equal((await otherNode.tidings.cancel(id)).outcome, 'finished')
  })

  it('fires a cron schedule once per tick across three instances', async () => {
    const nodes = await startInstances(3)
    const tick = defineJob({ name: 'test.tick', schema: z.object({ label: z.string() }), handler: (ctx) => ctx.payload.label })
    for (const node of nodes) {
      node.tidings.registerJobs(tick)
      await node.tidings.schedule('every-second', '* * * * * *', 'test.tick', { label: 'hi' })
    }
    await Promise.all(nodes.map((n) => n.tidings.scheduler.start()))
    await nodes[0]!.tidings.startWorker({ heartbeatMs: 200 })
    const { events } = nodes[0]!
    const fromSchedule = (e: { type: string; data: unknown }) => e.type === 'job.queued' && (e.data as { schedule: string | null }).schedule === 'every-second'
    await events.waitFor(fromSchedule, { count: 3, timeoutMs: 10_000 })
    await Promise.all(nodes.map((n) => n.tidings.scheduler.stop()))

    const jobs = (await nodes[1]!.tidings.listJobs({ name: 'test.tick' }, { limit: 100 })).jobs
    assert.ok(jobs.length >= 3)
    const keys = jobs.map((j) => j.key!)
    assert.equal(new Set(keys).size, jobs.length, 'one job per tick')
    assert.equal(events.filter(fromSchedule).length, jobs.length, 'one job.queued per tick')
    const stats = nodes.map((n) => n.tidings.scheduler.stats)
    assert.equal(stats.reduce((s, x) => s + x.fired, 0), jobs.length)
    assert.ok(stats.reduce((s, x) => s + x.skipped, 0) >= 2 * (jobs.length - 1), `claims turned away: ${JSON.stringify(stats)}`)
    const schedule = await nodes[2]!.tidings.scheduler.get('every-second')
    assert.equal(schedule?.lastRunAt, [...keys].sort().at(-1)!.slice('schedule:every-second:'.length))
    assert.ok(jobs.some((j) => j.id === schedule?.lastJobId))
  })
})
