import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { z } from 'zod'
import { isTidingsError } from '../../src/core/errors.js'
import { CONTROL_CHANNEL } from '../../src/core/jobs/control.js'
import { defineJob } from '../../src/core/jobs/define.js'
import type { JobError } from '../../src/core/job-queue.js'
import { eventually, signal, startCluster } from '../helpers/jobs.js'

const codeOf = (reason: unknown): string | undefined => (isTidingsError(reason) ? reason.code : undefined)

describe('jobs across instances sharing one memory engine', () => {
  it('runs a job exactly once; its record and its events say so, on job:, queue: and the owner\'s user: channel with the owner\'s tenant', async () => {
    const { nodes } = await startCluster(3)
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
    await nodes[1]!.tidings.startWorker({ concurrency: 2, heartbeatMs: 200 })
    await nodes[2]!.tidings.startWorker({ concurrency: 2, heartbeatMs: 200 })
    const producer = nodes[0]!
    const id = await producer.tidings.enqueue(echo, { n: 21 }, { owner: { user: 'u1', tenant: 't1' } })
    const done = await producer.events.waitForJob(id)
    assert.equal(done.type, 'job.succeeded')
    assert.deepEqual(producer.events.jobTypes(id), ['job.queued', 'job.started', 'job.succeeded'])
    for (const e of producer.events.forJob(id)) {
      assert.deepEqual(e.channels, [`job:${id}`, 'queue:default', 'user:u1'])
      assert.equal(e.tenant, 't1')
      assert.deepEqual(e.job, { id, name: 'test.echo', queue: 'default', attempt: e.type === 'job.queued' ? 0 : 1 })
    }
    assert.deepEqual(done.data, { result: { doubled: 42 }, attempt: 1, durationMs: (await producer.tidings.getJob(id))!.durationMs })
    const record = await producer.tidings.getJob(id)
    assert.equal(record?.status, 'succeeded')
    assert.equal(record?.attempts, 1)
    assert.deepEqual(record?.result, { doubled: 42 })
    assert.deepEqual(record?.owner, { user: 'u1', tenant: 't1' })
    assert.ok(record?.startedAt && record.finishedAt && record.durationMs !== null)

    const ids = await Promise.all(Array.from({ length: 40 }, (_, i) => producer.tidings.enqueue(echo, { n: 100 + i })))
    await Promise.all(ids.map((j) => producer.events.waitForJob(j)))
    for (let i = 0; i < 40; i++) assert.equal(runs.get(100 + i), 1, `job ${i} ran once`)
    assert.equal(producer.events.filter('job.started').length, 41)
    const workers = new Set(producer.events.filter('job.started').map((e) => (e.data as { workerId: string }).workerId))
    assert.equal(workers.size, 2, 'both workers took jobs')
  })

  it('retries a failing job with its backoff and ends it failed after its attempts', async () => {
    const { nodes } = await startCluster(2)
    const backoffCalls: [number, string][] = []
    const fixed = defineJob({
      name: 'test.fail.fixed',
      schema: z.object({}),
      retries: 2,
      backoff: { type: 'fixed', delayMs: 50 },
      handler: async (ctx) => {
        throw Object.assign(new Error(`attempt ${ctx.job.attempt} broke`), { code: 'E_BROKEN' })
      },
    })
    const custom = defineJob({
      name: 'test.fail.custom',
      schema: z.object({}),
      retries: 2,
      backoff: (attempt: number, error: JobError) => {
        backoffCalls.push([attempt, error.message])
        return 20 * attempt
      },
      handler: async (ctx) => {
        throw new Error(`custom ${ctx.job.attempt}`)
      },
    })
    for (const node of nodes) node.tidings.registerJobs(fixed, custom)
    await nodes[1]!.tidings.startWorker({ heartbeatMs: 200 })
    const { tidings, events } = nodes[0]!

    const id = await tidings.enqueue(fixed, {})
    const final = await events.waitForJob(id)
    assert.equal(final.type, 'job.failed')
    assert.deepEqual(events.jobTypes(id), ['job.queued', 'job.started', 'job.retrying', 'job.started', 'job.retrying', 'job.started', 'job.failed'])
    const retrying = events.forJob(id).filter((e) => e.type === 'job.retrying')
    assert.deepEqual(retrying.map((e) => (e.data as { delayMs: number }).delayMs), [50, 50])
    assert.deepEqual(retrying.map((e) => (e.data as { attempt: number }).attempt), [1, 2])
    const started = events.forJob(id).filter((e) => e.type === 'job.started')
    assert.deepEqual(started.map((e) => e.job?.attempt), [1, 2, 3])
    for (let i = 0; i < 2; i++) {
      assert.ok(Date.parse(started[i + 1]!.occurredAt) >= Date.parse((retrying[i]!.data as { retryAt: string }).retryAt), 'a retry never starts before its retryAt')
    }
    const record = await tidings.getJob(id)
    assert.equal(record?.status, 'failed')
    assert.equal(record?.attempts, 3)
    assert.equal(record?.maxAttempts, 3)
    assert.equal(record?.error?.message, 'attempt 3 broke')
    assert.equal(record?.error?.code, 'E_BROKEN')
    assert.match(record?.error?.stack ?? '', /attempt 3 broke/)
    assert.deepEqual((final.data as { error: JobError }).error.code, 'E_BROKEN')

    const id2 = await tidings.enqueue(custom, {})
    assert.equal((await events.waitForJob(id2)).type, 'job.failed')
    assert.deepEqual(backoffCalls, [
      [1, 'custom 1'],
      [2, 'custom 2'],
    ])
    assert.deepEqual(events.forJob(id2).filter((e) => e.type === 'job.retrying').map((e) => (e.data as { delayMs: number }).delayMs), [20, 40])
  })

  it('aborts the signal when an attempt times out, fails the attempt with a timeout error, and retries while attempts remain', async () => {
    const { nodes } = await startCluster(1)
    const reasons: (string | undefined)[] = []
    const slow = defineJob({
      name: 'test.slow',
      schema: z.object({}),
      retries: 1,
      timeout: 100,
      backoff: { type: 'fixed', delayMs: 0 },
      handler: (ctx) =>
        new Promise((_, reject) => {
          ctx.signal.addEventListener('abort', () => {
            reasons.push(codeOf(ctx.signal.reason))
            reject(ctx.signal.reason)
          })
        }),
    })
    const { tidings, events } = nodes[0]!
    tidings.registerJobs(slow)
    await tidings.startWorker({ heartbeatMs: 200 })
    const id = await tidings.enqueue(slow, {})
    assert.equal((await events.waitForJob(id)).type, 'job.failed')
    assert.deepEqual(reasons, ['TIDINGS_ERR_JOB_TIMEOUT', 'TIDINGS_ERR_JOB_TIMEOUT'])
    assert.deepEqual(events.jobTypes(id), ['job.queued', 'job.started', 'job.retrying', 'job.started', 'job.failed'])
    const record = await tidings.getJob(id)
    assert.equal(record?.status, 'failed')
    assert.equal(record?.error?.code, 'TIDINGS_ERR_JOB_TIMEOUT')
  })

  it('cancels a running job from another instance through the event log: the signal fires and the record ends cancelled', async () => {
    const { nodes } = await startCluster(2)
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
    const [workerNode, otherNode] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
    workerNode.tidings.registerJobs(forever)
    otherNode.tidings.registerJobs(forever)
    // Heartbeats also carry cancel requests; this one is far too slow to, so only the log can.
    await workerNode.tidings.startWorker({ heartbeatMs: 60_000 })
    const id = await otherNode.tidings.enqueue(forever, {})
    await started.promise
    const result = await otherNode.tidings.cancel(id)
    assert.equal(result.outcome, 'requested')
    assert.equal(await aborted.promise, 'TIDINGS_ERR_JOB_CANCELLED')
    const final = await otherNode.events.waitForJob(id)
    assert.equal(final.type, 'job.cancelled')
    assert.deepEqual(final.data, { attempts: 1, running: true })
    assert.equal((await otherNode.tidings.getJob(id))?.status, 'cancelled')
    const control = otherNode.events.filter((e) => e.type === 'job.cancel.requested')
    assert.equal(control.length, 1)
    assert.deepEqual(control[0]!.channels, [CONTROL_CHANNEL])
    assert.equal((control[0]!.data as { id: string }).id, id)

    const later = await otherNode.tidings.enqueue(forever, {}, { delay: 60_000 })
    const queuedCancel = await otherNode.tidings.cancel(later)
    assert.equal(queuedCancel.outcome, 'cancelled')
    assert.equal((await otherNode.events.waitForJob(later)).type, 'job.cancelled')
    assert.equal((await otherNode.tidings.getJob(later))?.status, 'cancelled')
    assert.equal((await otherNode.tidings.cancel(later)).outcome, 'finished')
  })

  it('runs the job of a worker that died mid-job again on another worker within 2× the heartbeat interval; it succeeds once', async () => {
    const { nodes } = await startCluster(2)
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

  it('shuts down gracefully: a job that finishes within the grace period succeeds, the rest go back to the queue', async () => {
    const { nodes } = await startCluster(2)
    const quickStarted = signal()
    const releaseQuick = signal()
    const stubbornStarted = signal()
    const quick = defineJob({
      name: 'test.quick',
      schema: z.object({}),
      handler: async () => {
        quickStarted.resolve()
        await releaseQuick.promise
        return 'quick'
      },
    })
    const stubborn = defineJob({
      name: 'test.stubborn',
      schema: z.object({}),
      handler: async (ctx) => {
        if (ctx.job.attempt === 1 && ctx.job.startedAt) stubbornStarted.resolve()
        if (ctx.signal.aborted) throw ctx.signal.reason
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve))
        throw ctx.signal.reason
      },
    })
    for (const node of nodes) node.tidings.registerJobs(quick, stubborn)
    const { tidings, events } = nodes[0]!
    const worker = await tidings.startWorker({ concurrency: 2, heartbeatMs: 200 })
    const q = await tidings.enqueue(quick, {})
    const s = await tidings.enqueue(stubborn, {})
    await Promise.all([quickStarted.promise, stubbornStarted.promise])
    const stopping = worker.stop(300)
    releaseQuick.resolve()
    await stopping
    assert.equal(worker.state, 'stopped')
    assert.equal((await tidings.getJob(q))?.status, 'succeeded')
    const released = await tidings.getJob(s)
    assert.equal(released?.status, 'queued')
    assert.equal(released?.attempts, 0, 'a released attempt does not count')
    const requeued = events.forJob(s).filter((e) => e.type === 'job.queued')
    assert.deepEqual(requeued.map((e) => (e.data as { reason: string }).reason), ['enqueued', 'released'])
    assert.deepEqual(events.filter((e) => e.channels.includes(`worker:${worker.id}`)).map((e) => e.type), ['worker.started', 'worker.stopped'])
  })

  it('hands every handler the worker\'s onStartup state, releases it with onShutdown, and records progress, log lines and custom events', async () => {
    const { nodes } = await startCluster(1)
    const { tidings, events } = nodes[0]!
    const shutdownWith: unknown[] = []
    const report = tidings.defineJob({
      name: 'test.report',
      schema: z.object({ steps: z.int() }),
      handler: async (ctx) => {
        const pool = (ctx.state as { pool: string }).pool
        await ctx.log(`using ${pool}`)
        for (let i = 1; i <= ctx.payload.steps; i++) await ctx.progress(i, ctx.payload.steps, `step ${i}`)
        await ctx.log('almost done', 'warn')
        await ctx.publish({ type: 'report.ready', data: { url: '/r/1' } })
        return pool
      },
    })
    const worker = await tidings.startWorker({ heartbeatMs: 200, onStartup: () => ({ pool: 'pool-1' }), onShutdown: (state) => void shutdownWith.push(state) })
    const id = await tidings.enqueue(report, { steps: 2 }, { owner: { user: 'u9', tenant: null } })
    assert.equal((await events.waitForJob(id)).type, 'job.succeeded')
    assert.deepEqual(events.jobTypes(id), ['job.queued', 'job.started', 'job.log', 'job.progress', 'job.progress', 'job.log', 'report.ready', 'job.succeeded'])
    const progress = events.forJob(id).filter((e) => e.type === 'job.progress')
    assert.deepEqual(progress.map((e) => e.data), [
      { current: 1, total: 2, percent: 50, message: 'step 1' },
      { current: 2, total: 2, percent: 100, message: 'step 2' },
    ])
    const logs = events.forJob(id).filter((e) => e.type === 'job.log')
    assert.deepEqual(logs.map((e) => e.data), [
      { level: 'info', message: 'using pool-1', sequence: 1 },
      { level: 'warn', message: 'almost done', sequence: 2 },
    ])
    const custom = events.forJob(id).find((e) => e.type === 'report.ready')!
    assert.deepEqual(custom.channels, [`job:${id}`])
    assert.deepEqual(custom.job, { id, name: 'test.report', queue: 'default', attempt: 1 })
    const record = await tidings.getJob(id)
    assert.equal(record?.result, 'pool-1')
    assert.equal(record?.progress?.current, 2)
    assert.equal(record?.progress?.percent, 100)
    await worker.stop()
    assert.deepEqual(shutdownWith, [{ pool: 'pool-1' }])
  })

  it('refuses bad input with a coded error and enqueues nothing; a dedup key returns the first job', async () => {
    const { nodes } = await startCluster(1)
    const { tidings, events } = nodes[0]!
    const typed = tidings.defineJob({ name: 'test.typed', schema: z.object({ n: z.int().min(0) }), handler: () => null })
    const code = async (p: Promise<unknown>): Promise<string | undefined> => p.then(() => undefined, (err: unknown) => codeOf(err))
    assert.equal(await code(tidings.enqueue('test.unknown', {})), 'TIDINGS_ERR_UNKNOWN_JOB')
    assert.equal(await code(tidings.enqueue(typed, { n: -1 })), 'TIDINGS_ERR_INVALID_PAYLOAD')
    assert.equal(await code(tidings.enqueue('test.typed', { n: 'x' })), 'TIDINGS_ERR_INVALID_PAYLOAD')
    assert.equal(await code(tidings.enqueue(typed, { n: 1 }, { delay: -5 })), 'TIDINGS_ERR_INVALID_JOB_OPTIONS')
    assert.equal(await code(tidings.enqueue(typed, { n: 1 }, { runAt: 'not a time' })), 'TIDINGS_ERR_INVALID_JOB_OPTIONS')
    assert.equal(await code(tidings.enqueue(typed, { n: 1 }, { priority: 1.5 })), 'TIDINGS_ERR_INVALID_JOB_OPTIONS')
    assert.equal(await code(tidings.enqueue(typed, { n: 1 }, { owner: { user: 'has space' } })), 'TIDINGS_ERR_INVALID_JOB_OPTIONS')
    assert.equal((await tidings.listJobs()).jobs.length, 0)
    const first = await tidings.enqueue(typed, { n: 1 }, { key: 'once' })
    const second = await tidings.enqueue(typed, { n: 2 }, { key: 'once' })
    assert.equal(second, first)
    await events.waitFor('job.queued')
    assert.equal((await tidings.listJobs()).jobs.length, 1)
    assert.equal(events.filter('job.queued').length, 1)
  })

  it('queues a failed job again with retry, and it runs again', async () => {
    const { nodes } = await startCluster(1)
    const { tidings, events } = nodes[0]!
    let fail = true
    const flaky = tidings.defineJob({
      name: 'test.flaky',
      schema: z.object({}),
      retries: 0,
      handler: () => {
        if (fail) throw new Error('not yet')
        return 'ok'
      },
    })
    await tidings.startWorker({ heartbeatMs: 200 })
    const id = await tidings.enqueue(flaky, {})
    assert.equal((await events.waitForJob(id)).type, 'job.failed')
    fail = false
    const again = await tidings.retry(id)
    assert.equal(again.attempts, 0)
    assert.equal((await events.waitFor((e) => e.job?.id === id && e.type === 'job.succeeded')).type, 'job.succeeded')
    const record = await eventually(async () => {
      const r = await tidings.getJob(id)
      return r?.status === 'succeeded' ? r : null
    })
    assert.equal(record.attempts, 1)
    assert.equal(record.error, null)
  })
})

describe('worker write batching', () => {
  it('leases for every slot freed in one turn with one call, and publishes job.started before the outcome', async () => {
    const { createTidings } = await import('../../src/tidings.js')
    const { MemoryJobQueue } = await import('../../src/engines/memory/job-queue.js')
    const queue = new MemoryJobQueue()
    const limits: number[] = []
    const lease = queue.lease.bind(queue)
    queue.lease = async (request) => {
      const r = await lease(request)
      if (r.leases.length > 0) limits.push(r.leases.length)
      return r
    }
    const tidings = createTidings({ jobs: queue })
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    let started = 0
    let eightStarted!: () => void
    const allStarted = new Promise<void>((resolve) => (eightStarted = resolve))
    tidings.defineJob({
      name: 'test.gated',
      schema: z.object({ n: z.int() }),
      handler: async () => {
        if (++started === 8) eightStarted()
        await gate
        // Each ends in its own callback of the same turn, as replies from an engine do.
        await new Promise((resolve) => setImmediate(resolve))
        return null
      },
    })
    const ids: string[] = []
    for (let n = 0; n < 16; n++) ids.push(await tidings.enqueue('test.gated', { n }))
    const worker = await tidings.startWorker({ concurrency: 8 })
    try {
      await allStarted
      // Eight handlers end in the same turn: the next eight come from one lease call.
      release()
      await eventually(async () => ((await tidings.getJob(ids[15]!))?.status === 'succeeded' ? true : null))
      assert.deepEqual(limits, [8, 8])
      const types = (await tidings.log.read(null, { limit: 1000 })).entries.filter((e) => e.event.job?.id === ids[0]).map((e) => e.event.type)
      assert.deepEqual(types, ['job.queued', 'job.started', 'job.succeeded'])
    } finally {
      release()
      await worker.stop(0)
      await tidings.close()
    }
  })
})
