import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, describe, it } from 'node:test'
import { isTidingsError } from '../../src/core/errors.js'
import type { JobQueue } from '../../src/core/job-queue.js'
import { MemoryJobQueue } from '../../src/engines/memory/job-queue.js'
import { RedisJobQueue, type RedisJobQueueOptions } from '../../src/engines/redis/job-queue.js'
import { engineAvailable, engineUrl } from '../helpers/engines.js'
import { deleteKeys, testPrefix } from '../helpers/redis.js'
import { jobQueueConformance, newJob } from './job-queue.js'
import { transcript } from './job-queue-transcript.js'

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
