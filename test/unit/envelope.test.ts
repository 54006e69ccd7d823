import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { fastPublishInput, newEventId, normalizeEvent, publishInputSchema, serializeEvent } from '../../src/core/envelope.js'
import { isTidingsError } from '../../src/core/errors.js'

const code = (fn: () => unknown): string => {
  try {
    fn()
  } catch (err) {
    if (isTidingsError(err)) return err.code
    throw err
  }
  return 'no error'
}

describe('event envelope', () => {
  it('fills id (UUIDv7), occurredAt and null fields', () => {
    const e = normalizeEvent({ type: 'order.paid', channels: ['user:1'] })
    assert.match(e.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    assert.equal(e.schemaVersion, 1)
    assert.ok(!Number.isNaN(Date.parse(e.occurredAt)))
    assert.deepEqual(
      Object.keys(JSON.parse(serializeEvent(e))),
      ['id', 'schemaVersion', 'type', 'channels', 'tenant', 'key', 'occurredAt', 'data', 'job', 'traceparent'],
    )
    assert.equal(e.tenant, null)
    assert.equal(e.data, null)
  })

  it('makes UUIDv7 ids that are unique and strictly increasing within a process', () => {
    let prev = ''
    const seen = new Set<string>()
    for (let i = 0; i < 50_000; i++) {
      const id = newEventId()
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
      assert.ok(id > prev, `${id} must sort after ${prev}`)
      assert.ok(!seen.has(id))
      seen.add(id)
      prev = id
    }
  })

  it('keeps a caller-supplied id and normalises occurredAt to UTC', () => {
    const e = normalizeEvent({ id: 'evt-1', type: 'a.b', channels: ['x'], occurredAt: '2026-01-20T02:30:00+01:00' })
    assert.equal(e.id, 'evt-1')
    assert.equal(e.occurredAt, '2026-01-20T01:30:00.000Z')
  })

  it("accepts seed 000's snake_case form and maps user_id to user:{id}", () => {
    const e = normalizeEvent({
      event_id: '01958f12-3456-7890-abcd-ef0123456789',
      event_type: 'provider.token.expiring',
      user_id: '01234567-89ab-cdef-0123-456789abcdef',
      data: { provider_slug: 'plaid' },
      occurred_at: '2026-01-20T02:30:00+00:00',
    })
    assert.equal(e.id, '01958f12-3456-7890-abcd-ef0123456789')
    assert.equal(e.type, 'provider.token.expiring')
    assert.deepEqual(e.channels, ['user:01234567-89ab-cdef-0123-456789abcdef'])
    assert.deepEqual(e.data, { provider_slug: 'plaid' })
    assert.equal(e.occurredAt, '2026-01-20T02:30:00.000Z')
  })

  it('deduplicates channels of one event', () => {
    assert.deepEqual(normalizeEvent({ type: 'a', channels: ['x', 'y', 'x'] }).channels, ['x', 'y'])
  })

  it('rejects bad input with coded errors', () => {
    assert.equal(code(() => normalizeEvent('nope')), 'TIDINGS_ERR_INVALID_EVENT')
    assert.equal(code(() => normalizeEvent({ type: 'a' })), 'TIDINGS_ERR_INVALID_EVENT')
    assert.equal(code(() => normalizeEvent({ type: 'a', channels: [] })), 'TIDINGS_ERR_INVALID_EVENT')
    assert.equal(code(() => normalizeEvent({ type: 'a\nevent: x', channels: ['c'] })), 'TIDINGS_ERR_INVALID_EVENT')
    assert.equal(code(() => normalizeEvent({ type: 'a\0', channels: ['c'] })), 'TIDINGS_ERR_INVALID_EVENT')
    assert.equal(code(() => normalizeEvent({ type: 'a', channels: ['c\r\n'] })), 'TIDINGS_ERR_INVALID_CHANNEL')
    assert.equal(code(() => normalizeEvent({ type: 'a', channels: ['has space'] })), 'TIDINGS_ERR_INVALID_CHANNEL')
    assert.equal(code(() => normalizeEvent({ type: 'a', channels: ['c'], extra: 1 })), 'TIDINGS_ERR_INVALID_EVENT')
    assert.equal(code(() => normalizeEvent({ type: 'a', channels: ['c'], occurredAt: 'yesterday' })), 'TIDINGS_ERR_INVALID_EVENT')
    assert.equal(code(() => normalizeEvent({ event_type: 'a' })), 'TIDINGS_ERR_INVALID_EVENT')
  })

  it('enforces the size limit', () => {
    const big = { type: 'a', channels: ['c'], data: 'x'.repeat(70_000) }
    assert.equal(code(() => normalizeEvent(big)), 'TIDINGS_ERR_EVENT_TOO_LARGE')
    assert.equal(normalizeEvent(big, { maxEventBytes: 100_000 }).type, 'a')
    assert.equal(code(() => normalizeEvent({ type: 'a', channels: ['c'], data: 'x'.repeat(200) }, { maxEventBytes: 100 })), 'TIDINGS_ERR_EVENT_TOO_LARGE')
  })
})

describe('the hand-checked fast path of normalizeEvent', () => {
  const valid = { type: 'job.started', channels: ['job:1', 'queue:default'], data: { a: 1 }, tenant: 'acme', job: { id: 'j1', name: 'demo.report', queue: 'default', attempt: 1 } }
  // Each case differs from `valid` in one field; the fast path may decline a valid one, never accept an invalid one.
  const cases: Record<string, unknown>[] = [
    valid,
    { type: 'a', channels: ['x'] },
    { ...valid, id: 'evt-1', schemaVersion: 1, key: 'k', traceparent: null, tenant: null, job: null },
    { ...valid, extra: 1 },
    { ...valid, id: '' },
    { ...valid, id: 'has space' },
    { ...valid, schemaVersion: 2 },
    { ...valid, type: 'bad type' },
    { ...valid, type: '' },
    { ...valid, type: 7 },
    { ...valid, channels: [] },
    { ...valid, channels: 'job:1' },
    { ...valid, channels: ['ok', 'bad channel'] },
    { ...valid, channels: Array.from({ length: 33 }, (_, i) => `c${i}`) },
    { ...valid, channels: Array.from({ length: 32 }, (_, i) => `c${i}`) },
    { ...valid, tenant: 'a b' },
    { ...valid, tenant: 5 },
    { ...valid, key: '' },
    { ...valid, key: 'k'.repeat(257) },
    { ...valid, key: 'k'.repeat(256) },
    { ...valid, traceparent: 't'.repeat(257) },
    { ...valid, occurredAt: '2026-01-20T02:30:00Z' },
    { ...valid, occurredAt: 'yesterday' },
    { ...valid, job: { id: 'j1', name: 'demo.report', queue: 'default' } },
    { ...valid, job: { id: 'j1', name: 'demo.report', queue: 'default', attempt: -1 } },
    { ...valid, job: { id: 'j1', name: 'demo.report', queue: 'default', attempt: 1.5 } },
    { ...valid, job: { id: 'j1', name: 'demo report', queue: 'default', attempt: 1 } },
    { ...valid, job: { id: 'j1', name: 'demo.report', queue: 'default', attempt: 1, more: true } },
    { ...valid, job: [] },
  ]
  for (const [i, input] of cases.entries()) {
    it(`case ${i}: agrees with the schema`, () => {
      const fast = fastPublishInput(input)
      const schema = publishInputSchema.safeParse(input)
      if (fast !== null) {
        assert.ok(schema.success, `the fast path accepted what the schema rejects: ${JSON.stringify(input).slice(0, 120)}`)
        assert.deepEqual(fast, schema.data)
      }
    })
  }

  it('takes the common lifecycle shape (or the speed-up is gone) and copies the job reference', () => {
    const input = { ...valid, job: { ...valid.job } }
    const fast = fastPublishInput(input)
    assert.ok(fast !== null)
    const event = normalizeEvent(input)
    input.job.attempt = 9
    assert.equal(event.job?.attempt, 1)
  })

  it('serialises each normalised envelope once and returns the same JSON', () => {
    const event = normalizeEvent(valid)
    assert.equal(serializeEvent(event), serializeEvent({ ...event }))
    assert.equal(serializeEvent(event), serializeEvent(event))
  })
})
