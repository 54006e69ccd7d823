/**
 * The JobQueue conformance suite (DESIGN §2): every engine's test file calls
 * `jobQueueConformance(name, harness)`. It uses the port only. A capability an engine lacks is
 * declared on the queue and its test skipped with the reason printed.
 */
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, describe, it } from 'node:test'
import { newEventId } from '../../src/core/envelope.js'
import { isTidingsError } from '../../src/core/errors.js'
import type { JobLease, JobQueue, JobRecord, NewJob } from '../../src/core/job-queue.js'

/** How the suite gets queues from an engine. */
export interface JobQueueHarness {
  /** A fresh, empty queue of its own. */
  create(options?: { retentionMs?: number }): Promise<JobQueue>
  cleanup?(): Promise<void>
}

/** A new job to store; `runAt` defaults to now. */
export function newJob(fields: Partial<NewJob> = {}): NewJob {
  const now = new Date()
  return { id: newEventId(), name: 't.job', queue: 'q', payload: { n: 1 }, priority: 0, key: null, owner: null, maxAttempts: 3, enqueuedAt: now, runAt: now, ...fields }
}

const worker = (queue: JobQueue, names = ['t.job'], queues = ['q'], leaseMs = 10_000, limit = 1) =>
  queue.lease({ queues, names, workerId: 'w1', leaseMs, limit })

async function leaseOne(queue: JobQueue, names = ['t.job'], queues = ['q'], leaseMs = 10_000): Promise<JobLease> {
  const r = await worker(queue, names, queues, leaseMs)
  assert.equal(r.leases.length, 1, 'expected one lease')
  return r.leases[0]!
}

/** Polls `fn` every 10 ms until it returns a value, for at most `ms`. */
async function eventually<T>(fn: () => Promise<T | null | undefined>, ms = 5_000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v !== null && v !== undefined) return v
    if (Date.now() > end) throw new Error('condition not met in time')
    await sleep(10)
  }
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => isTidingsError(err) && err.code === code)
}

/** Registers the suite. */
export function jobQueueConformance(name: string, harness: JobQueueHarness): void {
  describe(`JobQueue conformance: ${name}`, () => {
    const opened: JobQueue[] = []
    const make = async (options?: { retentionMs?: number }): Promise<JobQueue> => {
      const q = await harness.create(options)
      await q.ready()
      opened.push(q)
      return q
    }
    after(async () => {
      for (const q of opened) await q.close()
      await harness.cleanup?.()
    })

    it('stores a job with every field and hands it out once, marked running with a token', async () => {
      const q = await make()
      const input = newJob({ payload: { deep: { list: [1, 2] } }, owner: { user: 'u1', tenant: 't1' }, key: 'k-1' })
      const { job, created } = await q.enqueue(input)
      assert.equal(created, true)
      assert.equal(job.id, input.id)
      assert.equal(job.status, 'queued')
      assert.deepEqual(job.payload, { deep: { list: [1, 2] } })
      assert.deepEqual(job.owner, { user: 'u1', tenant: 't1' })
      assert.equal(job.attempts, 0)
      assert.equal(job.maxAttempts, 3)
      assert.equal(job.startedAt, null)
      assert.equal(job.finishedAt, null)
      assert.deepEqual(await q.get(input.id), job)
      const lease = await leaseOne(q)
      assert.equal(lease.id, input.id)
      assert.equal(lease.attempt, 1)
      assert.equal(lease.job.status, 'running')
      assert.equal(lease.job.workerId, 'w1')
      assert.ok(lease.token.length > 0)
      assert.equal((await worker(q)).leases.length, 0, 'a leased job is not handed out again')
      const done = await q.complete(lease, { ok: true })
      assert.equal(done.status, 'succeeded')
      assert.deepEqual(done.result, { ok: true })
      assert.equal(done.attempts, 1)
      assert.ok(done.finishedAt !== null && done.durationMs !== null && done.durationMs >= 0)
      await rejectsWith(q.complete(lease, null), 'TIDINGS_ERR_JOB_LEASE_LOST')
    })

    it('complete answers the record get() reads, given the lease or only its id and token, several in one turn', async () => {
      const q = await make()
      const a = newJob({ owner: { user: 'u1', tenant: null } })
      const b = newJob()
      const c = newJob()
      for (const j of [a, b, c]) await q.enqueue(j)
      const { leases } = await worker(q, ['t.job'], ['q'], 10_000, 3)
      assert.equal(leases.length, 3)
      const [la, lb, lc] = [a, b, c].map((j) => leases.find((l) => l.id === j.id)!)
      // What changes while a job runs must show in the completed record.
      await q.setProgress(la!, { current: 2, total: 4, percent: 50, message: 'half', at: new Date().toISOString() })
      assert.equal((await q.cancel(a.id))?.outcome, 'requested')
      const [da, db, dc] = await Promise.all([
        q.complete(la!, { n: 1 }),
        q.complete({ id: lb!.id, token: lb!.token }, [2]),
        q.complete({ id: lc!.id, token: 'not-the-token' }, null).catch((err: unknown) => err),
      ])
      assert.deepEqual(da, await q.get(a.id), 'the record from a lease is the stored one')
      assert.equal((da as JobRecord).progress?.message, 'half')
      assert.ok((da as JobRecord).cancelRequestedAt !== null)
      assert.deepEqual(db, await q.get(b.id), 'the record from an id and token is the stored one')
      assert.deepEqual((db as JobRecord).result, [2])
      assert.ok(isTidingsError(dc, 'TIDINGS_ERR_JOB_LEASE_LOST'), 'a wrong token fails only its own call')
      assert.equal((await q.get(c.id))?.status, 'running')
    })

    it('hands out higher priority first, then earlier runAt, then enqueue order; only the names and queues asked for', async () => {
      const q = await make()
      const low = newJob({ priority: -5 })
      const a = newJob()
      const b = newJob()
      const high = newJob({ priority: 10 })
      const other = newJob({ name: 't.other' })
      const elsewhere = newJob({ queue: 'q2' })
      for (const j of [low, a, b, high, other, elsewhere]) await q.enqueue(j)
      const r = await worker(q, ['t.job'], ['q'], 10_000, 10)
      assert.deepEqual(r.leases.map((l) => l.id), [high.id, a.id, b.id, low.id])
      assert.deepEqual((await worker(q, ['t.other'], ['q'])).leases.map((l) => l.id), [other.id])
      assert.deepEqual((await worker(q, ['t.job'], ['q2'])).leases.map((l) => l.id), [elsewhere.id])
    })

    it('keeps a delayed job until its time, then hands it out', async () => {
      const q = await make()
      const runAt = new Date(Date.now() + 150)
      const { job } = await q.enqueue(newJob({ runAt }))
      assert.equal(job.status, 'delayed')
      assert.equal((await worker(q)).leases.length, 0)
      const lease = await eventually(async () => (await worker(q)).leases[0])
      assert.ok(Date.now() >= runAt.getTime(), 'not before runAt')
      assert.equal(lease.id, job.id)
    })

    it('deduplicates by key: the second enqueue stores nothing and returns the first job', async () => {
      const q = await make()
      const first = await q.enqueue(newJob({ key: 'same' }))
      const second = await q.enqueue(newJob({ key: 'same', payload: { n: 2 } }))
      assert.equal(second.created, false)
      assert.equal(second.job.id, first.job.id)
      assert.deepEqual(second.job.payload, { n: 1 })
      assert.equal((await q.list({}, { limit: 10 })).jobs.length, 1)
    })

    it('fails an attempt into retrying until retryAt, then runs attempt 2; a final failure ends failed', async () => {
      const q = await make()
      const { job } = await q.enqueue(newJob({ maxAttempts: 2 }))
      const l1 = await leaseOne(q)
      const retryAt = new Date(Date.now() + 100)
      const retrying = await q.fail(l1, { message: 'boom', code: 'E_BOOM', stack: null }, retryAt)
      assert.equal(retrying.status, 'retrying')
      assert.deepEqual(retrying.error, { message: 'boom', code: 'E_BOOM', stack: null })
      assert.equal(retrying.runAt, retryAt.toISOString())
      const l2 = await eventually(async () => (await worker(q)).leases[0])
      assert.ok(Date.now() >= retryAt.getTime())
      assert.equal(l2.id, job.id)
      assert.equal(l2.attempt, 2)
      assert.notEqual(l2.token, l1.token)
      const failed = await q.fail(l2, { message: 'boom again', code: null, stack: 'at x' }, null)
      assert.equal(failed.status, 'failed')
      assert.equal(failed.attempts, 2)
      assert.equal(failed.error?.message, 'boom again')
    })

    it('returns a job whose lease expired to another worker; the old token no longer counts', async () => {
      const q = await make()
      const { job } = await q.enqueue(newJob())
      const l1 = await leaseOne(q, ['t.job'], ['q'], 60)
      const l2 = await eventually(async () => (await q.lease({ queues: ['q'], names: ['t.job'], workerId: 'w2', leaseMs: 10_000, limit: 1 })).leases[0])
      assert.equal(l2.id, job.id)
      assert.equal(l2.attempt, 2)
      assert.equal(l2.job.workerId, 'w2')
      assert.deepEqual(await q.heartbeat([l1], 10_000), [{ id: job.id, held: false, cancelRequested: false }])
      await rejectsWith(q.complete(l1, 'stale'), 'TIDINGS_ERR_JOB_LEASE_LOST')
      await rejectsWith(q.setProgress(l1, { current: 1, total: null, percent: null, message: null, at: new Date().toISOString() }), 'TIDINGS_ERR_JOB_LEASE_LOST')
      const done = await q.complete(l2, 'fresh')
      assert.equal(done.status, 'succeeded')
      assert.equal(done.result, 'fresh')
    })

    it('keeps a lease that is heartbeated', async () => {
      const q = await make()
      await q.enqueue(newJob())
      const lease = await leaseOne(q, ['t.job'], ['q'], 100)
      const until = Date.now() + 400
      while (Date.now() < until) {
        const [beat] = await q.heartbeat([lease], 100)
        assert.equal(beat!.held, true)
        assert.equal((await q.lease({ queues: ['q'], names: ['t.job'], workerId: 'w2', leaseMs: 100, limit: 1 })).leases.length, 0)
        await sleep(25)
      }
    })

    it('ends a job whose lease expired with no attempt left failed (worker lost) and reports it', async () => {
      const q = await make()
      const { job } = await q.enqueue(newJob({ maxAttempts: 1 }))
      await leaseOne(q, ['t.job'], ['q'], 50)
      const lost = await eventually(async () => (await worker(q)).lost[0])
      assert.equal(lost.id, job.id)
      assert.equal(lost.status, 'failed')
      assert.equal(lost.error?.code, 'TIDINGS_ERR_JOB_WORKER_LOST')
      assert.equal((await q.get(job.id))?.status, 'failed')
    })

    it('cancels a waiting job at once, marks a running one, and leaves a finished one alone', async () => {
      const q = await make()
      const waiting = (await q.enqueue(newJob({ runAt: new Date(Date.now() + 60_000) }))).job
      const c1 = await q.cancel(waiting.id)
      assert.equal(c1?.outcome, 'cancelled')
      assert.equal(c1?.job.status, 'cancelled')
      assert.equal((await q.get(waiting.id))?.status, 'cancelled')

      const running = (await q.enqueue(newJob())).job
      const lease = await leaseOne(q)
      const c2 = await q.cancel(running.id)
      assert.equal(c2?.outcome, 'requested')
      assert.equal(c2?.job.status, 'running')
      assert.ok(c2?.job.cancelRequestedAt)
      assert.deepEqual(await q.heartbeat([lease], 10_000), [{ id: running.id, held: true, cancelRequested: true }])
      const cancelled = await q.confirmCancel(lease)
      assert.equal(cancelled.status, 'cancelled')
      assert.equal((await q.cancel(running.id))?.outcome, 'finished')
      assert.equal(await q.cancel('no-such-job'), null)
    })

    it('gives a released job back without counting the attempt', async () => {
      const q = await make()
      const { job } = await q.enqueue(newJob())
      const l1 = await leaseOne(q)
      const released = await q.release(l1)
      assert.equal(released.status, 'queued')
      assert.equal(released.attempts, 0)
      const l2 = await leaseOne(q)
      assert.equal(l2.id, job.id)
      assert.equal(l2.attempt, 1)
    })

    it('retries failed and cancelled jobs with a fresh attempt count, and only those', async () => {
      const q = await make()
      const { job } = await q.enqueue(newJob({ maxAttempts: 1, key: 'rk' }))
      await rejectsWith(q.retry(job.id, new Date()), 'TIDINGS_ERR_JOB_NOT_RETRYABLE')
      const lease = await leaseOne(q)
      await q.fail(lease, { message: 'x', code: null, stack: null }, null)
      const again = await q.retry(job.id, new Date())
      assert.equal(again.status, 'queued')
      assert.equal(again.attempts, 0)
      assert.equal(again.error, null)
      assert.equal(again.key, 'rk')
      assert.equal((await leaseOne(q)).attempt, 1)
      await rejectsWith(q.retry('no-such-job', new Date()), 'TIDINGS_ERR_JOB_NOT_FOUND')
    })

    it('lists newest first with filters and cursor pages', async () => {
      const q = await make()
      const ids: string[] = []
      for (let i = 0; i < 7; i++) {
        const j = newJob({ name: i % 2 === 0 ? 't.even' : 't.odd', queue: i < 5 ? 'q' : 'q2', owner: i < 3 ? { user: 'alice', tenant: 'acme' } : { user: 'bob', tenant: null } })
        ids.push(j.id)
        await q.enqueue(j)
      }
      const seen: string[] = []
      let cursor: string | null = null
      do {
        const page: Awaited<ReturnType<JobQueue['list']>> = await q.list({}, { limit: 3, cursor })
        assert.ok(page.jobs.length <= 3)
        seen.push(...page.jobs.map((j) => j.id))
        cursor = page.next
      } while (cursor !== null)
      assert.deepEqual(seen, [...ids].reverse())
      const ids2 = (r: { jobs: readonly JobRecord[] }) => r.jobs.map((j) => j.id)
      assert.deepEqual(ids2(await q.list({ name: 't.even' }, { limit: 50 })), [ids[6], ids[4], ids[2], ids[0]])
      assert.deepEqual(ids2(await q.list({ queue: 'q2' }, { limit: 50 })), [ids[6], ids[5]])
      assert.deepEqual(ids2(await q.list({ user: 'alice', tenant: 'acme' }, { limit: 50 })), [ids[2], ids[1], ids[0]])
      assert.deepEqual(ids2(await q.list({ user: 'alice', tenant: null }, { limit: 50 })), [])
      const lease = await leaseOne(q, ['t.even'], ['q'])
      assert.deepEqual(ids2(await q.list({ status: ['running'] }, { limit: 50 })), [lease.id])
    })

    it('prunes finished records older than the given time, freeing their keys', async () => {
      const q = await make()
      const { job } = await q.enqueue(newJob({ key: 'gone' }))
      const keep = (await q.enqueue(newJob())).job
      await q.complete(await leaseOne(q), null)
      assert.equal(await q.prune(new Date(Date.now() + 1_000)), 1)
      assert.equal(await q.get(job.id), null)
      assert.ok(await q.get(keep.id), 'a waiting job is never pruned')
      assert.equal((await q.enqueue(newJob({ key: 'gone' }))).created, true)
    })

    it('stores schedules and fires each tick exactly once however many claim it', async () => {
      const q = await make()
      const input = { name: 's1', cron: '* * * * * *', timezone: null, job: 't.job', payload: { n: 1 }, enabled: true, nextRunAt: new Date() }
      const s = await q.putSchedule(input)
      assert.equal(s.revision, 1)
      assert.equal((await q.putSchedule(input)).revision, 1, 'storing the same schedule again changes nothing')
      assert.deepEqual((await q.listSchedules()).map((x) => x.name), ['s1'])
      const tick = new Date(Math.floor(Date.now() / 1000) * 1000)
      const next = new Date(tick.getTime() + 1000)
      const claims = await Promise.all(Array.from({ length: 5 }, () => q.claimScheduleTick('s1', 1, tick, next, newJob({ key: `schedule:s1:${tick.toISOString()}` }))))
      const won = claims.filter((c) => c !== null)
      assert.equal(won.length, 1)
      const after1 = await q.getSchedule('s1')
      assert.equal(after1?.lastRunAt, tick.toISOString())
      assert.equal(after1?.lastJobId, won[0]!.id)
      assert.equal(after1?.nextRunAt, next.toISOString())
      assert.equal(await q.claimScheduleTick('s1', 1, new Date(tick.getTime() - 1000), tick, newJob()), null, 'an earlier tick never fires')
      assert.equal(await q.claimScheduleTick('s1', 0, next, null, newJob()), null, 'a stale revision never fires')
      assert.ok(await q.claimScheduleTick('s1', 1, next, null, newJob({ key: `schedule:s1:${next.toISOString()}` })))
      const disabled = await q.putSchedule({ ...input, enabled: false })
      assert.equal(disabled.revision, 2)
      assert.equal(disabled.lastRunAt, next.toISOString(), 'a change keeps when it last ran')
      assert.equal(await q.claimScheduleTick('s1', 2, new Date(next.getTime() + 1000), null, newJob()), null, 'a disabled schedule never fires')
      assert.equal(await q.deleteSchedule('s1'), true)
      assert.equal(await q.getSchedule('s1'), null)
      assert.equal(await q.deleteSchedule('s1'), false)
    })

    it('hands out the highest priority first however many jobs wait before it', async (t) => {
      const q = await make()
      if (q.capabilities.exactOrder === false) {
        t.skip(`${name} orders only the jobs one lease call examines (capabilities.exactOrder = false); beyond that window a lane is first in, first out`)
        return
      }
      for (let i = 0; i < 300; i++) await q.enqueue(newJob({ priority: -1 }))
      const urgent = newJob({ priority: 5 })
      await q.enqueue(urgent)
      assert.deepEqual((await worker(q)).leases.map((l) => l.id), [urgent.id])
    })

    it('wakes a waiting worker when a job arrives', async (t) => {
      const q = await make()
      if (!q.capabilities.wakeUps) {
        t.skip(`${name} has no wake-ups: workers poll`)
        return
      }
      const ac = new AbortController()
      const woke = q.waitForJobs({ queues: ['q'], names: ['t.job'] }, 60_000, ac.signal)
      await q.enqueue(newJob())
      const guard = sleep(5_000, 'timeout')
      assert.notEqual(await Promise.race([woke.then(() => 'woke'), guard]), 'timeout')
      ac.abort()
    })
  })
}
