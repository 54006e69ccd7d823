import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { z } from 'zod'
import { defineJob } from '../../src/core/jobs/define.js'
import { isTidingsError } from '../../src/core/errors.js'
import { createTestTidings, runJobInline } from '../../src/testing/index.js'

const resize = defineJob({
  name: 'images.resize',
  schema: z.object({ url: z.url(), sizes: z.array(z.int()).min(1) }),
  handler: async (ctx) => {
    for (const [i, size] of ctx.payload.sizes.entries()) {
      if (ctx.signal.aborted) throw ctx.signal.reason
      await ctx.progress(i + 1, ctx.payload.sizes.length, `${size}px`)
    }
    await ctx.log(`done with ${(ctx.state as { bucket: string }).bucket}`)
    await ctx.publish({ type: 'images.ready', data: { count: ctx.payload.sizes.length } })
    return { variants: ctx.payload.sizes.length }
  },
})

describe('tidings/testing', () => {
  it('runs one handler inline with a fake context and reports what it did', async () => {
    const run = await runJobInline(resize, { url: 'https://example.com/a.png', sizes: [64, 128] }, { state: { bucket: 'b1' }, id: 'j1', owner: { user: 'u1', tenant: 't1' } })
    assert.equal(run.status, 'succeeded')
    assert.deepEqual(run.result, { variants: 2 })
    assert.deepEqual(run.progress.map((p) => [p.current, p.total, p.percent, p.message]), [
      [1, 2, 50, '64px'],
      [2, 2, 100, '128px'],
    ])
    assert.deepEqual(run.logs, [{ level: 'info', message: 'done with b1' }])
    assert.equal(run.published.length, 1)
    assert.deepEqual(run.published[0]!.channels, ['job:j1'])
    assert.equal(run.published[0]!.tenant, 't1')
    assert.deepEqual(run.published[0]!.job, { id: 'j1', name: 'images.resize', queue: 'default', attempt: 1 })
  })

  it('reports a handler that fails, checks the payload, and passes a cancel through the signal', async () => {
    const ac = new AbortController()
    ac.abort(new Error('cancelled by test'))
    const run = await runJobInline(resize, { url: 'https://example.com/a.png', sizes: [64] }, { signal: ac.signal, state: { bucket: 'b' } })
    assert.equal(run.status, 'failed')
    assert.equal((run.error as Error).message, 'cancelled by test')
    await assert.rejects(
      runJobInline(resize, { url: 'not a url', sizes: [] }),
      (e: unknown) => isTidingsError(e, 'TIDINGS_ERR_INVALID_PAYLOAD'),
    )
  })

  it('gives a memory Tidings whose collector sees a job\'s whole life', async () => {
    const t = await createTestTidings()
    try {
      t.tidings.registerJobs(resize)
      await t.tidings.startWorker({ onStartup: () => ({ bucket: 'test' }) })
      const id = await t.tidings.enqueue(resize, { url: 'https://example.com/b.png', sizes: [32] })
      const final = await t.events.waitForJob(id)
      assert.equal(final.type, 'job.succeeded')
      assert.deepEqual(t.events.jobTypes(id), ['job.queued', 'job.started', 'job.progress', 'job.log', 'images.ready', 'job.succeeded'])
    } finally {
      await t.close()
    }
  })
})
