import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import type { JobQueue } from '../../src/core/job-queue.js'
import { MemoryJobQueue } from '../../src/engines/memory/job-queue.js'
import { PostgresJobQueue } from '../../src/engines/postgres/index.js'
import { RabbitJobQueue, delayBucket, type RabbitJobQueueOptions } from '../../src/engines/rabbitmq/job-queue.js'
import { engineAvailable } from '../helpers/engines.js'
import { dropSchemas, POSTGRES_URL, testPool, testSchema } from '../helpers/postgres.js'
import { AMQP_URL, deleteQueues, testName, withChannel } from '../helpers/rabbitmq.js'
import { jobQueueConformance, newJob } from './job-queue.js'

const skip = await engineAvailable('rabbitmq')
const pgSkip = skip === null ? await engineAvailable('postgres') : null
const run = testName('jobs')
let n = 0

describe('delay buckets', () => {
  it('round a delay up to two significant digits: never early, at most 10 % late', () => {
    assert.equal(delayBucket(0), 0)
    assert.equal(delayBucket(-5), 0)
    assert.equal(delayBucket(7), 7)
    assert.equal(delayBucket(99.2), 100)
    assert.equal(delayBucket(101), 110)
    assert.equal(delayBucket(1_234), 1_300)
    assert.equal(delayBucket(60_000), 60_000)
    for (const ms of [3, 57, 999, 1_001, 12_345, 3_600_001]) {
      const b = delayBucket(ms)
      assert.ok(b >= ms && b <= ms * 1.1 + 1, `${ms} → ${b}`)
    }
  })
})

describe('rabbitmq job queue', { skip: skip ?? false }, () => {
  const opened: RabbitJobQueue[] = []
  const open = async (options: Partial<RabbitJobQueueOptions> = {}): Promise<RabbitJobQueue> => {
    const q = new RabbitJobQueue({ url: AMQP_URL, prefix: `${run}.${n++}`, records: new MemoryJobQueue(), ...options })
    opened.push(q)
    await q.ready()
    return q
  }
  after(async () => {
    for (const q of opened) await q.close()
    await deleteQueues([], run, Array.from({ length: n }, (_, i) => `${run}.${i}`))
  })

  jobQueueConformance('rabbitmq (memory records)', {
    create: async (options) => new RabbitJobQueue({ url: AMQP_URL, prefix: `${run}.${n++}`, records: new MemoryJobQueue(options) }),
  })

  // Seed 001's arrangement: records in PostgreSQL, dispatch through RabbitMQ.
  describe('with PostgreSQL records', { skip: pgSkip ?? false }, () => {
    const pool = testPool()
    const schemas: string[] = []
    after(async () => {
      await dropSchemas(POSTGRES_URL, schemas)
      await pool.end()
    })
    jobQueueConformance('rabbitmq (postgres records)', {
      create: async (options) => {
        const schema = testSchema(`rmq_${schemas.length}`)
        schemas.push(schema)
        return new RabbitJobQueue({ url: AMQP_URL, prefix: `${run}.${n++}`, records: new PostgresJobQueue({ pool, schema, ...options }) })
      },
    })
  })

  describe('RabbitMQ specifics', () => {
    /** Two queues on one prefix and one record store: two processes of one deployment. */
    const pair = async (): Promise<[RabbitJobQueue, RabbitJobQueue, JobQueue]> => {
      const records = new MemoryJobQueue()
      const a = await open({ records })
      const b = await open({ records, prefix: a.prefix, ownsRecords: false })
      return [a, b, records]
    }
    const request = { queues: ['q'], names: ['t.job'] }

    it('a worker waiting in one process is woken through RabbitMQ when another enqueues', { timeout: 20_000 }, async () => {
      const [a, b] = await pair()
      const ac = new AbortController()
      // The record store's own wake-ups are not used: only a RabbitMQ delivery can end this wait early.
      const woke = b.waitForJobs(request, 600_000, ac.signal)
      await settleConsumer(b)
      const job = newJob()
      await a.enqueue(job)
      await woke
      const { leases } = await b.lease({ ...request, workerId: 'w', leaseMs: 10_000, limit: 1 })
      assert.deepEqual(leases.map((l) => l.id), [job.id])
    })

    it('a delayed job is announced through a delay queue when it falls due, never before', { timeout: 20_000 }, async () => {
      const [a, b] = await pair()
      const runAt = new Date(Date.now() + 300)
      const job = newJob({ runAt })
      await a.enqueue(job)
      // A job due later is not announced now: only the delay queue's dead-lettered message can wake this.
      await b.waitForJobs(request, 600_000, new AbortController().signal)
      assert.ok(Date.now() >= runAt.getTime(), 'not before runAt')
      const { leases } = await b.lease({ ...request, workerId: 'w', leaseMs: 10_000, limit: 1 })
      assert.deepEqual(leases.map((l) => l.id), [job.id])
    })

    it('a retry after backoff wakes a worker when it is due', { timeout: 20_000 }, async () => {
      const [a, b] = await pair()
      await a.enqueue(newJob({ maxAttempts: 2 }))
      // b takes the enqueue's wake-up, runs attempt 1 and fails it with a backoff.
      await b.waitForJobs(request, 600_000, new AbortController().signal)
      const lease = (await b.lease({ ...request, workerId: 'w', leaseMs: 10_000, limit: 1 })).leases[0]!
      const retryAt = new Date(Date.now() + 200)
      await b.fail(lease, { message: 'boom', code: null, stack: null }, retryAt)
      await a.waitForJobs(request, 600_000, new AbortController().signal)
      assert.ok(Date.now() >= retryAt.getTime())
      const again = (await a.lease({ ...request, workerId: 'w2', leaseMs: 10_000, limit: 1 })).leases
      assert.equal(again[0]?.attempt, 2)
    })

    it('copies a job that failed its last attempt to the dead-letter queue', { timeout: 20_000 }, async () => {
      const q = await open()
      const { job } = await q.enqueue(newJob({ maxAttempts: 1 }))
      const lease = (await q.lease({ ...request, workerId: 'w', leaseMs: 10_000, limit: 1 })).leases[0]!
      await q.fail(lease, { message: 'gave up', code: 'E_X', stack: null }, null)
      const dead = await withChannel(async (ch) => ch.get(q.topology.deadLetters, { noAck: true }))
      assert.ok(dead !== false, 'a dead letter is there')
      const record = JSON.parse(dead.content.toString())
      assert.equal(record.id, job.id)
      assert.equal(record.status, 'failed')
      assert.equal(record.error.code, 'E_X')
      assert.equal(dead.properties.messageId, job.id)
    })

    it('keeps working on its record store while RabbitMQ is unreachable: nothing enqueued is lost', async () => {
      const records = new MemoryJobQueue()
      const q = new RabbitJobQueue({ url: 'amqp://127.0.0.1:1', prefix: `${run}.${n++}`, records })
      opened.push(q)
      const { job, created } = await q.enqueue(newJob())
      assert.equal(created, true)
      assert.equal((await q.get(job.id))?.status, 'queued')
      await q.waitForJobs(request, 50, new AbortController().signal)
      const { leases } = await q.lease({ ...request, workerId: 'w', leaseMs: 10_000, limit: 1 })
      assert.deepEqual(leases.map((l) => l.id), [job.id])
    })
  })
})

/** Resolves once the lane consumer of `q` is attached (the broker delivers only to attached consumers). */
async function settleConsumer(q: RabbitJobQueue): Promise<void> {
  const lane = q.topology.laneQueue('q', 't.job')
  await withChannel(async (_ch, conn) => {
    for (;;) {
      const ch = await conn.createChannel()
      ch.on('error', () => undefined)
      const ok = await ch.checkQueue(lane).catch(() => null)
      await ch.close().catch(() => undefined)
      if (ok !== null && ok.consumerCount > 0) return
      await new Promise((resolve) => setImmediate(resolve))
    }
  })
}
