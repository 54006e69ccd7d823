import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, describe, it } from 'node:test'
import { isTidingsError } from '../../src/core/errors.js'
import type { JobQueue, JobRecord, ScheduleRecord } from '../../src/core/job-queue.js'
import { MemoryJobQueue } from '../../src/engines/memory/job-queue.js'
import { RedisJobQueue, type RedisJobQueueOptions } from '../../src/engines/redis/job-queue.js'
import { engineAvailable, engineUrl } from '../helpers/engines.js'
import { deleteKeys, testPrefix } from '../helpers/redis.js'
import { jobQueueConformance, newJob } from './job-queue.js'

const skip = await engineAvailable('redis')
const url = engineUrl('redis')
const runPrefix = testPrefix('jobs-conformance')
let n = 0

describe('redis job queue', { skip: skip ?? false }, () => {
  const opened: RedisJobQueue[] = []
  /** A queue on a fresh prefix, or on `prefix` to stand in for another process sharing it. */
  const open = async (options: RedisJobQueueOptions = {}): Promise<RedisJobQueue> => {
    const q = new RedisJobQueue({ url, prefix: `${runPrefix}:${n++}`, ...options })
    opened.push(q)
    await q.ready()
    return q
  }
  after(async () => {
    for (const q of opened) await q.close()
    await deleteKeys(url, runPrefix)
  })

  jobQueueConformance('redis', {
    create: async (options) => new RedisJobQueue({ url, prefix: `${runPrefix}:${n++}`, ...options }),
  })

  describe('Redis specifics', () => {
    it('answers exactly as the memory engine does, operation by operation', async () => {
      const memory = new MemoryJobQueue()
      const redis = await open()
      try {
        const [a, b] = await Promise.all([transcript(memory), transcript(redis)])
        assert.equal(a.length, b.length)
        for (let i = 0; i < a.length; i++) assert.deepEqual(b[i], a[i], `step ${i}: ${JSON.stringify(a[i]).slice(0, 80)}`)
      } finally {
        await memory.close()
      }
    })

    it('never hands one job to two of several instances leasing at once', async () => {
      const first = await open()
      const others = await Promise.all(Array.from({ length: 3 }, () => open({ prefix: first.prefix })))
      const queues = [first, ...others]
      const ids = new Set<string>()
      for (let i = 0; i < 200; i++) {
        const job = newJob({ priority: i % 3 })
        ids.add(job.id)
        await queues[i % queues.length]!.enqueue(job)
      }
      const taken: string[] = []
      await Promise.all(
        queues.map(async (q, w) => {
          for (;;) {
            const { leases } = await q.lease({ queues: ['q'], names: ['t.job'], workerId: `w${w}`, leaseMs: 10_000, limit: 7 })
            if (leases.length === 0) return
            taken.push(...leases.map((l) => l.id))
            await Promise.all(leases.map((l) => q.complete(l, null)))
          }
        }),
      )
      assert.equal(taken.length, 200, 'every job leased once')
      assert.deepEqual(new Set(taken), ids)
    })

    it('wakes a worker waiting on one instance when another enqueues, and when a delayed job falls due', async () => {
      const waiting = await open()
      const other = await open({ prefix: waiting.prefix })
      const request = { queues: ['q'], names: ['t.job'] }
      const ac = new AbortController()
      const began = Date.now()
      const woke = waiting.waitForJobs(request, 30_000, ac.signal)
      await sleep(50)
      await other.enqueue(newJob())
      await woke
      assert.ok(Date.now() - began < 5_000)
      await waiting.lease({ ...request, workerId: 'w', leaseMs: 10_000, limit: 1 })

      // A wake-up is a hint (the enqueue's own announcement may still be on its way), so wait the way a worker does.
      await other.enqueue(newJob({ runAt: new Date(Date.now() + 300) }))
      const start = Date.now()
      let wakeUps = 0
      while ((await waiting.lease({ ...request, workerId: 'w', leaseMs: 10_000, limit: 1 })).leases.length === 0) {
        await waiting.waitForJobs(request, 30_000, ac.signal)
        wakeUps++
      }
      const waited = Date.now() - start
      assert.ok(waited >= 250 && waited < 2_000, `leased after ${waited} ms a job due in 300 ms`)
      assert.ok(wakeUps <= 3, `${wakeUps} wake-ups`)

      const unrelated = waiting.waitForJobs(request, 300, ac.signal)
      const t0 = Date.now()
      await other.enqueue(newJob({ name: 't.other' }))
      await unrelated
      assert.ok(Date.now() - t0 >= 250, 'a job of another lane does not wake it')
    })

    it('keeps lanes apart whatever their names contain', async () => {
      const q = await open()
      const x = newJob({ queue: 'a:b', name: 'c' })
      const y = newJob({ queue: 'a', name: 'b:c' })
      const z = newJob({ queue: 'a%3Ab', name: 'c' })
      for (const j of [x, y, z]) await q.enqueue(j)
      const take = async (queue: string, name: string) => (await q.lease({ queues: [queue], names: [name], workerId: 'w', leaseMs: 10_000, limit: 5 })).leases.map((l) => l.id)
      assert.deepEqual(await take('a:b', 'c'), [x.id])
      assert.deepEqual(await take('a', 'b:c'), [y.id])
      assert.deepEqual(await take('a%3Ab', 'c'), [z.id])
    })

    it('examines a bounded number of records per list call; the cursor carries on past them', async () => {
      const q = await open({ listScan: 5 })
      const rare: string[] = []
      for (let i = 0; i < 23; i++) {
        const job = newJob({ name: i % 10 === 0 ? 't.rare' : 't.job' })
        if (i % 10 === 0) rare.push(job.id)
        await q.enqueue(job)
      }
      const seen: string[] = []
      let cursor: string | null = null
      let calls = 0
      do {
        const page: Awaited<ReturnType<JobQueue['list']>> = await q.list({ name: 't.rare' }, { limit: 2, cursor })
        seen.push(...page.jobs.map((j) => j.id))
        cursor = page.next
        calls++
      } while (cursor !== null)
      assert.deepEqual(seen, [...rare].reverse())
      assert.ok(calls >= 5, `took ${calls} calls for 23 records at 5 per call`)
      await assert.rejects(q.list({}, { limit: 1, cursor: 'nope' }), (e: unknown) => isTidingsError(e, 'TIDINGS_ERR_INVALID_CURSOR'))
    })

    it('ends waits on close and refuses work afterwards', async () => {
      const q = await open()
      const wait = q.waitForJobs({ queues: ['q'], names: ['t.job'] }, 60_000, new AbortController().signal)
      await sleep(20)
      await q.close()
      await wait
      await assert.rejects(q.enqueue(newJob()), (e: unknown) => isTidingsError(e, 'TIDINGS_ERR_CLOSED'))
      await assert.rejects(q.get('x'), (e: unknown) => isTidingsError(e, 'TIDINGS_ERR_CLOSED'))
    })
  })
})

/** A record with its clock-dependent fields reduced to whether they are set. */
function shape(job: JobRecord | null): unknown {
  if (job === null) return null
  return {
    ...job,
    startedAt: job.startedAt !== null,
    finishedAt: job.finishedAt !== null,
    updatedAt: typeof job.updatedAt,
    leaseExpiresAt: job.leaseExpiresAt !== null,
    cancelRequestedAt: job.cancelRequestedAt !== null,
    durationMs: job.durationMs === null ? null : job.durationMs >= 0,
    runAt: typeof job.runAt,
  }
}

function scheduleShape(s: ScheduleRecord | null): unknown {
  return s === null ? null : { ...s, createdAt: typeof s.createdAt, updatedAt: typeof s.updatedAt }
}

async function outcome<T>(p: Promise<T>, map: (v: T) => unknown): Promise<unknown> {
  try {
    return map(await p)
  } catch (err) {
    return { threw: isTidingsError(err) ? err.code : String(err) }
  }
}

/** One fixed sequence of calls; every answer, reduced to what must not depend on the engine or the clock. */
async function transcript(q: JobQueue): Promise<unknown[]> {
  const out: unknown[] = []
  const base = Date.parse('2030-01-01T00:00:00.000Z')
  const at = (ms: number) => new Date(base + ms)
  const past = new Date(Date.now() - 60_000)
  const ids = Array.from({ length: 8 }, (_, i) => `01900000-0000-7000-8000-00000000000${i}`)
  const job = (i: number, fields: Parameters<typeof newJob>[0] = {}) => newJob({ id: ids[i]!, enqueuedAt: at(i), runAt: past, ...fields })
  const W = { workerId: 'w1', leaseMs: 10_000 }
  const lease = async (names: string[], limit: number, queues = ['q']) => {
    const r = await q.lease({ queues, names, limit, ...W })
    out.push({ leases: r.leases.map((l) => ({ id: l.id, attempt: l.attempt, job: shape(l.job) })), lost: r.lost.map(shape) })
    return r.leases
  }
  const rec = async (p: Promise<JobRecord>) => out.push(await outcome(p, shape))

  for (const [i, fields] of [
    [0, { owner: { user: 'u1', tenant: 't1' }, key: 'k0', payload: { deep: [1, { x: null }] } }],
    [1, { runAt: at(60_000), priority: 5 }],
    [2, { priority: 5, owner: { user: 'u2', tenant: null } }],
    [3, { name: 't.other', queue: 'q2' }],
    [4, { maxAttempts: 1 }],
    [5, { priority: -1, payload: 'text' }],
  ] as const) {
    out.push(await outcome(q.enqueue(job(i, fields)), (r) => ({ created: r.created, job: shape(r.job) })))
  }
  out.push(await outcome(q.enqueue(job(6, { key: 'k0' })), (r) => ({ created: r.created, job: shape(r.job) })))
  out.push(await outcome(q.enqueue(job(0)), (r) => r.created))

  const [l2, l0, l4] = await lease(['t.job'], 3)
  await lease(['t.job'], 0)
  out.push(await q.heartbeat([l2!, { id: ids[1]!, token: 'nope' }, { id: 'missing', token: 'x' }], 10_000))
  out.push(await outcome(q.setProgress(l0!, { current: 1, total: 4, percent: 25, message: 'one', at: at(5).toISOString() }), () => 'ok'))
  await rec(q.get(l0!.id).then((r) => r!))
  await rec(q.fail(l0!, { message: 'boom', code: 'E_BOOM', stack: 'at x' }, past))
  await rec(q.fail(l4!, { message: 'last', code: null, stack: null }, null))
  await rec(q.release(l2!))
  await rec(q.complete(l2!, 'stale'))
  out.push(await outcome(q.cancel(ids[1]!), (c) => c && { outcome: c.outcome, job: shape(c.job) }))
  out.push(await outcome(q.cancel('missing'), (c) => c))

  const [again2, again0, l5] = await lease(['t.job', 't.other'], 5, ['q', 'q2'])
  out.push(await outcome(q.cancel(again0!.id), (c) => c && { outcome: c.outcome, job: shape(c.job) }))
  out.push(await q.heartbeat([again0!], 10_000))
  await rec(q.confirmCancel(again0!))
  await rec(q.complete(again2!, { ok: [1, 2] }))
  await rec(q.complete(l5!, undefined))
  out.push(await outcome(q.cancel(again2!.id), (c) => c && { outcome: c.outcome, job: shape(c.job) }))

  await rec(q.retry(ids[0]!, at(120_000)))
  await rec(q.retry(ids[4]!, past))
  await rec(q.retry(ids[2]!, past))
  await rec(q.retry('missing', past))

  const page = async (filter: Parameters<JobQueue['list']>[0], limit: number, cursor: string | null = null) =>
    q.list(filter, { limit, cursor }).then((p) => ({ ids: p.jobs.map((j) => j.id), more: p.next !== null, jobs: p.jobs.map(shape) }))
  out.push(await page({}, 100))
  out.push(await page({ status: ['queued'] }, 100))
  out.push(await page({ status: ['delayed', 'cancelled', 'failed'] }, 100))
  out.push(await page({ user: 'u1' }, 100))
  out.push(await page({ tenant: null }, 100))
  out.push(await page({ user: 'u2', tenant: null }, 100))
  out.push(await page({ queue: 'q2', name: 't.other' }, 100))
  const first = await q.list({}, { limit: 2 })
  out.push(first.jobs.map((j) => j.id), await page({}, 2, first.next))

  out.push(await q.prune(new Date(Date.now() + 60_000)))
  out.push(await outcome(q.enqueue(job(7, { key: 'k0' })), (r) => ({ created: r.created, job: shape(r.job) })))
  out.push(await page({}, 100))

  const input = { name: 'nightly', cron: '0 3 * * *', timezone: 'Europe/Paris', job: 't.job', payload: { n: [1] }, enabled: true, nextRunAt: at(1_000) }
  out.push(scheduleShape(await q.putSchedule(input)))
  out.push(scheduleShape(await q.putSchedule(input)))
  out.push(scheduleShape(await q.putSchedule({ ...input, timezone: null, nextRunAt: null })))
  out.push(scheduleShape(await q.putSchedule({ ...input, name: 'hourly', cron: '0 * * * *' })))
  out.push((await q.listSchedules()).map(scheduleShape))
  out.push(await outcome(q.claimScheduleTick('nightly', 2, at(10_000), at(20_000), job(7, { id: 'tick-1', key: 'tick:1' })), shape))
  out.push(await outcome(q.claimScheduleTick('nightly', 2, at(10_000), at(20_000), job(7, { id: 'tick-2', key: 'tick:1b' })), shape))
  out.push(await outcome(q.claimScheduleTick('nightly', 2, at(20_000), null, job(7, { id: 'tick-3', key: 'tick:1' })), shape))
  out.push(scheduleShape(await q.getSchedule('nightly')))
  out.push(await q.deleteSchedule('nightly'), await q.deleteSchedule('nightly'), await q.getSchedule('nightly'))
  out.push((await q.listSchedules()).map((s) => s.name))
  return out
}
