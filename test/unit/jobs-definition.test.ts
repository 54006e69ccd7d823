import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { z } from 'zod'
import { isTidingsError } from '../../src/core/errors.js'
import { DEFAULT_BACKOFF_BASE_MS, retryDelay } from '../../src/core/jobs/backoff.js'
import { DEFAULT_JOB_RETRIES, DEFAULT_JOB_TIMEOUT_MS, defineJob, isJobDefinition } from '../../src/core/jobs/define.js'
import { makeProgress, toJobError } from '../../src/core/jobs/lifecycle.js'

const err = { message: 'x', code: null, stack: null }
const schema = z.object({})

describe('defineJob', () => {
  it('applies seed 002\'s defaults: 3 retries, 300 s timeout, queue default, exponential backoff', () => {
    const d = defineJob({ name: 'a.b', schema, handler: () => null })
    assert.equal(d.retries, DEFAULT_JOB_RETRIES)
    assert.equal(d.retries, 3)
    assert.equal(d.maxAttempts, 4)
    assert.equal(d.timeoutMs, DEFAULT_JOB_TIMEOUT_MS)
    assert.equal(d.timeoutMs, 300_000)
    assert.equal(d.queue, 'default')
    assert.equal(d.priority, 0)
    assert.deepEqual(d.backoff, { type: 'exponential', baseMs: 1_000, maxMs: 900_000 })
    assert.ok(isJobDefinition(d))
    assert.ok(!isJobDefinition({ name: 'a.b' }))
  })

  it('rejects bad fields with TIDINGS_ERR_INVALID_JOB_DEFINITION', () => {
    const bad = [
      { name: 'has space' },
      { retries: -1 },
      { retries: 1.5 },
      { timeout: 0 },
      { queue: 'a b' },
      { priority: 1001 },
      { backoff: { type: 'fixed', delayMs: -1 } },
      { backoff: { type: 'exponential', baseMs: 100, maxMs: 10 } },
      { backoff: { type: 'linear' } },
      { schema: {} },
    ]
    for (const fields of bad) {
      assert.throws(
        () => defineJob({ name: 'a.b', schema, handler: () => null, ...(fields as object) }),
        (e: unknown) => isTidingsError(e, 'TIDINGS_ERR_INVALID_JOB_DEFINITION'),
        JSON.stringify(fields),
      )
    }
  })
})

describe('retry delays', () => {
  it('exponential with full jitter: uniform in [0, min(max, base·2^(n−1))]', () => {
    const backoff = { type: 'exponential', baseMs: 100, maxMs: 1_000 } as const
    assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => retryDelay(backoff, n, err, () => 0.999_999)), [100, 200, 400, 800, 1_000, 1_000])
    assert.deepEqual([1, 2, 3].map((n) => retryDelay(backoff, n, err, () => 0)), [0, 0, 0])
    assert.equal(retryDelay(backoff, 3, err, () => 0.5), 200)
    assert.equal(retryDelay({ type: 'exponential' }, 1, err, () => 0.999_999), DEFAULT_BACKOFF_BASE_MS)
    for (let i = 0; i < 200; i++) {
      const d = retryDelay(backoff, 4, err)
      assert.ok(d >= 0 && d <= 800)
    }
  })

  it('fixed and custom', () => {
    assert.equal(retryDelay({ type: 'fixed', delayMs: 250 }, 7, err), 250)
    assert.equal(retryDelay((n, e) => n * 10 + e.message.length, 3, err), 31)
    assert.equal(retryDelay(() => -5, 1, err), 0, 'a negative custom delay means now')
    assert.equal(retryDelay(() => Number.NaN, 1, err), 0)
  })
})

describe('lifecycle helpers', () => {
  it('derives percent from current and total, and keeps a message', () => {
    const at = new Date('2026-01-20T02:30:00.000Z')
    assert.deepEqual(makeProgress(3, 4, 'Fetched source', at), { current: 3, total: 4, percent: 75, message: 'Fetched source', at: at.toISOString() })
    assert.deepEqual(makeProgress(1, 3, undefined, at), { current: 1, total: 3, percent: 33.3, message: null, at: at.toISOString() })
    assert.equal(makeProgress(7, undefined, undefined, at).percent, null)
    assert.equal(makeProgress(9, 4, undefined, at).percent, 100)
  })

  it('stores a thrown value as message, code and stack', () => {
    const e = Object.assign(new Error('nope'), { code: 'ECONNRESET' })
    const stored = toJobError(e)
    assert.equal(stored.message, 'nope')
    assert.equal(stored.code, 'ECONNRESET')
    assert.match(stored.stack!, /nope/)
    assert.deepEqual(toJobError('plain string'), { message: 'plain string', code: null, stack: null })
  })
})

declare module '../../src/index.js' {
  interface JobPayloads {
    'typing.example': { videoId: string }
  }
}

describe('typed enqueue', () => {
  it('checks payloads against a definition, or against JobPayloads by name (compile time; typecheck fails otherwise)', async () => {
    const { createTidings } = await import('../../src/index.js')
    const t = createTidings()
    const d = t.defineJob({ name: 'typing.def', schema: z.object({ n: z.int() }), handler: (ctx) => ctx.payload.n + 1 })
    const typed = async (): Promise<void> => {
      await t.enqueue(d, { n: 1 })
      // @ts-expect-error n must be a number
      await t.enqueue(d, { n: 'one' })
      await t.enqueue('typing.example', { videoId: 'v1' })
      // @ts-expect-error videoId is required by the merged JobPayloads
      await t.enqueue('typing.example', { video: 'v1' })
      await t.enqueue('typing.unknown', { anything: true })
    }
    assert.equal(typeof typed, 'function')
    await t.close()
  })
})
