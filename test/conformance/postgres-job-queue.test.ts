import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import pg from 'pg'
import { isTidingsError } from '../../src/core/errors.js'
import { MemoryJobQueue } from '../../src/engines/memory/job-queue.js'
import { PostgresEventLog } from '../../src/engines/postgres/event-log.js'
import { PostgresJobQueue, type PostgresJobQueueOptions } from '../../src/engines/postgres/job-queue.js'
import { quoteSchema } from '../../src/engines/postgres/migrations.js'
import { engineAvailable } from '../helpers/engines.js'
import { dropSchemas, POSTGRES_URL, testPool, testSchema, waitUntil } from '../helpers/postgres.js'
import { jobQueueConformance, newJob } from './job-queue.js'
import { transcript } from './job-queue-transcript.js'

const skip = await engineAvailable('postgres')
const runSchema = testSchema('jobs')
const schemas = new Set<string>()
let n = 0

/** A fresh schema name of this run; dropped after the file. */
function freshSchema(): string {
  const schema = `${runSchema}_${n++}`
  schemas.add(schema)
  return schema
}

describe('postgres job queue', { skip: skip ?? false }, () => {
  const pool = testPool()
  const opened: PostgresJobQueue[] = []
  /** A queue on a fresh schema, or on `schema` to stand in for another process sharing it. */
  const open = async (options: PostgresJobQueueOptions = {}): Promise<PostgresJobQueue> => {
    const q = new PostgresJobQueue({ connectionString: POSTGRES_URL, schema: options.schema ?? freshSchema(), ...options })
    opened.push(q)
    await q.ready()
    return q
  }
  after(async () => {
    for (const q of opened) await q.close()
    await pool.end()
    await dropSchemas(POSTGRES_URL, schemas)
  })

  jobQueueConformance('postgres', {
    create: async (options) => new PostgresJobQueue({ pool, schema: freshSchema(), ...options }),
  })

  describe('PostgreSQL specifics', () => {
    it('answers exactly as the memory engine does, operation by operation', async () => {
      const memory = new MemoryJobQueue()
      const postgres = await open()
      try {
        const [a, b] = await Promise.all([transcript(memory), transcript(postgres)])
        assert.equal(a.length, b.length)
        for (let i = 0; i < a.length; i++) assert.deepEqual(b[i], a[i], `step ${i}: ${JSON.stringify(a[i]).slice(0, 80)}`)
      } finally {
        await memory.close()
      }
    })

    it('never hands one job to two of several instances leasing at once', async () => {
      const first = await open()
      const others = await Promise.all(Array.from({ length: 3 }, () => open({ schema: first.schema })))
      const queues = [first, ...others]
      const ids = new Set<string>()
      for (let i = 0; i < 200; i++) {
        const job = newJob({ priority: i % 3, name: i % 2 === 0 ? 't.job' : 't.other' })
        ids.add(job.id)
        await queues[i % queues.length]!.enqueue(job)
      }
      const taken: string[] = []
      await Promise.all(
        queues.map(async (q, w) => {
          for (;;) {
            const { leases } = await q.lease({ queues: ['q'], names: ['t.job', 't.other'], workerId: `w${w}`, leaseMs: 10_000, limit: 7 })
            if (leases.length === 0) return
            taken.push(...leases.map((l) => l.id))
            await Promise.all(leases.map((l) => q.complete(l, null)))
          }
        }),
      )
      assert.equal(taken.length, 200, 'every job leased once')
      assert.deepEqual(new Set(taken), ids)
    })

    it('fires a tick once when several instances claim it at the same moment, whatever job keys they bring', async () => {
      const first = await open()
      const others = await Promise.all(Array.from({ length: 4 }, () => open({ schema: first.schema })))
      const input = { name: 's', cron: '* * * * * *', timezone: null, job: 't.job', payload: {}, enabled: true, nextRunAt: null }
      const { revision } = await first.putSchedule(input)
      for (let round = 0; round < 5; round++) {
        const tick = new Date(Date.UTC(2030, 0, 1, 0, 0, round))
        // Distinct keys: only the schedule's row lock and lastRunAt check can turn the others away.
        const claims = await Promise.all([first, ...others].map((q, i) => q.claimScheduleTick('s', revision, tick, null, newJob({ key: `schedule:s:${tick.toISOString()}:${i}` }))))
        assert.equal(claims.filter((c) => c !== null).length, 1, `tick ${round} fired once`)
      }
      assert.equal((await first.list({}, { limit: 50 })).jobs.length, 5)
    })

    it('wakes a worker waiting on one instance when another enqueues, and when a delayed job falls due', async () => {
      const waiting = await open()
      const other = await open({ schema: waiting.schema })
      const request = { queues: ['q'], names: ['t.job'] }
      const ac = new AbortController()
      // The first wait starts the listener; its connection wakes every waiter once it listens.
      await waiting.waitForJobs(request, 5_000, ac.signal)
      await waitUntil(() => waiting.listenerState?.type === 'listening', 'the queue listens')
      const began = Date.now()
      const woke = waiting.waitForJobs(request, 30_000, ac.signal)
      await other.enqueue(newJob())
      await woke
      assert.ok(Date.now() - began < 5_000)
      assert.equal((await waiting.lease({ ...request, workerId: 'w', leaseMs: 10_000, limit: 1 })).leases.length, 1)

      // A wake-up is a hint, so wait the way a worker does: lease, and wait when there was nothing.
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

    it('sends a wake-up with the lane in the transaction of each change that makes a job leasable, and only then', async () => {
      const q = await open()
      const listener = new pg.Client({ connectionString: POSTGRES_URL })
      await listener.connect()
      try {
        const heard: string[] = []
        listener.on('notification', (msg) => heard.push(msg.payload ?? ''))
        await listener.query(`LISTEN ${listener.escapeIdentifier(q.notifyChannel)}`)
        /** Resolves once `count` notifications have arrived in all. */
        const hear = (count: number): Promise<void> => waitUntil(() => heard.length >= count, `${count} notifications`, 5_000, 5)
        const lane = ['q', 't.job']

        const { job } = await q.enqueue(newJob({ key: 'k', maxAttempts: 3 }))
        await hear(1)
        assert.equal((await q.enqueue(newJob({ key: 'k' }))).created, false)
        const l1 = (await q.lease({ queues: ['q'], names: ['t.job'], workerId: 'w', leaseMs: 10_000, limit: 1 })).leases[0]!
        await q.setProgress(l1, { current: 1, total: null, percent: null, message: null, at: new Date().toISOString() })
        await q.fail(l1, { message: 'x', code: null, stack: null }, new Date())
        await hear(2)
        const l2 = (await q.lease({ queues: ['q'], names: ['t.job'], workerId: 'w', leaseMs: 10_000, limit: 1 })).leases[0]!
        await q.release(l2)
        await hear(3)
        const l3 = (await q.lease({ queues: ['q'], names: ['t.job'], workerId: 'w', leaseMs: 10_000, limit: 1 })).leases[0]!
        await q.fail(l3, { message: 'y', code: null, stack: null }, null)
        await q.retry(job.id, new Date())
        await hear(4)
        // Nothing leasable: a marker enqueue in another lane is the next thing heard.
        await q.cancel(job.id)
        await q.enqueue(newJob({ name: 'marker' }))
        await hear(5)
        assert.deepEqual(heard.map((h) => JSON.parse(h)), [lane, lane, lane, lane, ['q', 'marker']])
        assert.equal(l3.id, job.id)
      } finally {
        await listener.end()
      }
    })

    it('keeps waking workers after its listening connection is killed', async () => {
      const waiting = await open()
      const other = await open({ schema: waiting.schema })
      const request = { queues: ['q'], names: ['t.job'] }
      const ac = new AbortController()
      await waiting.waitForJobs(request, 5_000, ac.signal)
      await waitUntil(() => waiting.listenerState?.type === 'listening', 'the queue listens')
      const state = waiting.listenerState
      const pid = state?.type === 'listening' ? state.pid : null
      assert.ok(pid !== null)
      const lostConnection = waiting.waitForJobs(request, 30_000, ac.signal)
      await pool.query('SELECT pg_terminate_backend($1)', [pid])
      await lostConnection
      await waitUntil(() => {
        const s = waiting.listenerState
        return s?.type === 'listening' && s.pid !== pid
      }, 'the listener is back on a new connection')
      const began = Date.now()
      const woke = waiting.waitForJobs(request, 30_000, ac.signal)
      await other.enqueue(newJob())
      await woke
      assert.ok(Date.now() - began < 5_000, `woke ${Date.now() - began} ms after the enqueue`)
    })

    it('migrates once however many processes start on a fresh schema at once, beside the event log', async () => {
      const schema = freshSchema()
      const logs = Array.from({ length: 2 }, () => new PostgresEventLog({ pool, schema }))
      const queues = Array.from({ length: 4 }, () => new PostgresJobQueue({ pool, schema }))
      try {
        await Promise.all([...logs.map((l) => l.ready()), ...queues.map((q) => q.ready())])
        const { rows } = await pool.query<{ component: string; version: number }>(
          `SELECT component, version FROM ${quoteSchema(schema)}.migrations ORDER BY component, version`,
        )
        assert.deepEqual(rows.map((r) => `${r.component}@${r.version}`), ['events@1', 'jobs@1', 'jobs@2'])
        const { job } = await queues[0]!.enqueue(newJob())
        assert.equal((await queues[3]!.get(job.id))?.id, job.id)
      } finally {
        for (const q of queues) await q.close()
        for (const l of logs) await l.close()
      }
    })

    it('recreates its tables when the schema was dropped under it', async () => {
      const q = await open()
      await q.enqueue(newJob())
      await dropSchemas(POSTGRES_URL, [q.schema])
      await assert.rejects(q.get('x'))
      const { created } = await q.enqueue(newJob())
      assert.equal(created, true)
      assert.equal((await q.list({}, { limit: 10 })).jobs.length, 1)
    })

    it('ends waits on close and refuses work afterwards', async () => {
      const q = await open()
      const wait = q.waitForJobs({ queues: ['q'], names: ['t.job'] }, 60_000, new AbortController().signal)
      await q.close()
      await wait
      await assert.rejects(q.enqueue(newJob()), (e: unknown) => isTidingsError(e, 'TIDINGS_ERR_CLOSED'))
      await assert.rejects(q.get('x'), (e: unknown) => isTidingsError(e, 'TIDINGS_ERR_CLOSED'))
    })

    it('refuses a cursor it did not make', async () => {
      const q = await open()
      await assert.rejects(q.list({}, { limit: 1, cursor: 'nope' }), (e: unknown) => isTidingsError(e, 'TIDINGS_ERR_INVALID_CURSOR'))
    })
  })
})
