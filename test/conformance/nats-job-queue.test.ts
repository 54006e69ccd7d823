import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, describe, it } from 'node:test'
import { connect } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import { isTidingsError } from '../../src/core/errors.js'
import { MemoryJobQueue } from '../../src/engines/memory/job-queue.js'
import { NatsJobQueue, type NatsJobQueueOptions } from '../../src/engines/nats/job-queue.js'
import { engineAvailable, engineUrl } from '../helpers/engines.js'
import { deleteStreams, testNames } from '../helpers/nats.js'
import { jobQueueConformance, newJob } from './job-queue.js'
import { transcript } from './job-queue-transcript.js'

const skip = await engineAvailable('nats')
const url = engineUrl('nats')
const names = testNames('jobs')
let n = 0

/** Options of a fresh queue (own bucket, stream and subjects), or of `like`'s, standing in for another process. */
function optionsFor(extra: NatsJobQueueOptions = {}, like?: NatsJobQueue): NatsJobQueueOptions {
  if (like !== undefined) return { url, bucket: like.bucket, workStream: like.workStream, workSubjectPrefix: like.workSubjectPrefix, ...extra }
  const i = n++
  return { url, bucket: `${names.bucket}_${i}`, workStream: `${names.stream}_${i}`, workSubjectPrefix: `${names.subject}.${i}`, ...extra }
}

describe('nats job queue', { skip: skip ?? false }, () => {
  const opened: NatsJobQueue[] = []
  const open = async (extra: NatsJobQueueOptions = {}, like?: NatsJobQueue): Promise<NatsJobQueue> => {
    const q = new NatsJobQueue(optionsFor(extra, like))
    opened.push(q)
    await q.ready()
    return q
  }
  after(async () => {
    for (const q of opened) await q.close()
    await deleteStreams(url, [names.stream, `KV_${names.bucket}`])
  })

  jobQueueConformance('nats', {
    create: async (options) => new NatsJobQueue(optionsFor(options?.retentionMs === undefined ? {} : { retentionMs: options.retentionMs })),
  })

  describe('NATS specifics', () => {
    it('answers exactly as the memory engine does, operation by operation', async () => {
      const memory = new MemoryJobQueue()
      const nats = await open()
      try {
        const [a, b] = await Promise.all([transcript(memory), transcript(nats)])
        assert.equal(a.length, b.length)
        for (let i = 0; i < a.length; i++) assert.deepEqual(b[i], a[i], `step ${i}: ${JSON.stringify(a[i]).slice(0, 80)}`)
      } finally {
        await memory.close()
      }
    })

    it('never hands one job to two of several instances leasing at once', { timeout: 60_000 }, async () => {
      const first = await open()
      const others = await Promise.all(Array.from({ length: 3 }, () => open({}, first)))
      const queues = [first, ...others]
      const ids = new Set<string>()
      for (let i = 0; i < 120; i++) {
        const job = newJob({ priority: i % 3 })
        ids.add(job.id)
        await queues[i % queues.length]!.enqueue(job)
      }
      const taken: string[] = []
      await Promise.all(
        queues.map(async (q, w) => {
          for (;;) {
            const { leases } = await q.lease({ queues: ['q'], names: ['t.job'], workerId: `w${w}`, leaseMs: 10_000, limit: 7 })
            if (leases.length === 0) {
              // Handed back by a competitor a moment ago, or really empty: ask the records.
              if ((await q.list({ status: ['queued'] }, { limit: 1 })).jobs.length === 0) return
              await q.waitForJobs({ queues: ['q'], names: ['t.job'] }, 20, new AbortController().signal)
              continue
            }
            taken.push(...leases.map((l) => l.id))
            await Promise.all(leases.map((l) => q.complete(l, null)))
          }
        }),
      )
      assert.equal(taken.length, 120, 'every job leased once')
      assert.deepEqual(new Set(taken), ids)
    })

    it('orders by priority within the window one lease examines', async () => {
      const q = await open({ scanPerLane: 8 })
      const low = Array.from({ length: 5 }, () => newJob({ priority: -1 }))
      for (const j of low) await q.enqueue(j)
      const high = newJob({ priority: 9 })
      await q.enqueue(high)
      const { leases } = await q.lease({ queues: ['q'], names: ['t.job'], workerId: 'w', leaseMs: 10_000, limit: 2 })
      assert.deepEqual(leases.map((l) => l.id), [high.id, low[0]!.id])
    })

    it('wakes a worker waiting on one instance when another enqueues, and only for its lanes', async () => {
      const waiting = await open()
      const other = await open({}, waiting)
      const request = { queues: ['q'], names: ['t.job'] }
      const ac = new AbortController()
      await waiting.lease({ ...request, workerId: 'w', leaseMs: 10_000, limit: 1 })
      const woke = waiting.waitForJobs(request, 30_000, ac.signal).then(() => 'woke')
      await other.enqueue(newJob())
      const guard = new AbortController()
      assert.equal(await Promise.race([woke, sleep(10_000, 'timeout', { signal: guard.signal }).catch(() => 'cancelled')]), 'woke')
      guard.abort()
      assert.equal((await waiting.lease({ ...request, workerId: 'w', leaseMs: 10_000, limit: 1 })).leases.length, 1)

      let unrelatedWoke = false
      const unrelated = waiting.waitForJobs(request, 300, ac.signal).then(() => (unrelatedWoke = true))
      await other.enqueue(newJob({ name: 't.other' }))
      await other.enqueue(newJob({ queue: 'q2' }))
      // A job of another lane announces itself too; this one must go to its own lane's waiters only.
      const otherLane = other.waitForJobs({ queues: ['q2'], names: ['t.job'] }, 5_000, ac.signal)
      await other.enqueue(newJob({ queue: 'q2' }))
      await otherLane
      assert.equal(unrelatedWoke, false, 'a job of another lane does not wake it')
      await unrelated
    })

    it('keeps lanes apart whatever their names contain', async () => {
      const q = await open()
      const x = newJob({ queue: 'a:b', name: 'c' })
      const y = newJob({ queue: 'a', name: 'b:c' })
      const z = newJob({ queue: 'a_3Ab', name: 'c' })
      const w = newJob({ queue: 'a.b', name: 'c' })
      for (const j of [x, y, z, w]) await q.enqueue(j)
      const take = async (queue: string, name: string) => (await q.lease({ queues: [queue], names: [name], workerId: 'w', leaseMs: 10_000, limit: 5 })).leases.map((l) => l.id)
      assert.deepEqual(await take('a:b', 'c'), [x.id])
      assert.deepEqual(await take('a', 'b:c'), [y.id])
      assert.deepEqual(await take('a_3Ab', 'c'), [z.id])
      assert.deepEqual(await take('a.b', 'c'), [w.id])
    })

    it('acks a finished job\'s message at once, leaving the work queue empty', async () => {
      const q = await open()
      await q.enqueue(newJob())
      const { leases } = await q.lease({ queues: ['q'], names: ['t.job'], workerId: 'w', leaseMs: 60_000, limit: 1 })
      await q.complete(leases[0]!, 'ok')
      const nc = await connect({ servers: url })
      try {
        const jsm = await jetstreamManager(nc)
        let messages = -1
        for (let i = 0; i < 100 && messages !== 0; i++) {
          messages = (await jsm.streams.info(q.workStream)).state.messages
          if (messages !== 0) await sleep(10)
        }
        assert.equal(messages, 0)
      } finally {
        await nc.close()
      }
    })

    it('ends waits on close and refuses work afterwards', async () => {
      const q = await open()
      const wait = q.waitForJobs({ queues: ['q'], names: ['t.job'] }, 60_000, new AbortController().signal)
      await q.close()
      await wait
      await assert.rejects(q.enqueue(newJob()), (e: unknown) => isTidingsError(e, 'TIDINGS_ERR_CLOSED'))
      await assert.rejects(q.get('x'), (e: unknown) => isTidingsError(e, 'TIDINGS_ERR_CLOSED'))
    })
  })
})
