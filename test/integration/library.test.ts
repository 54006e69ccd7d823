import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isTidingsError } from '../../src/core/errors.js'
import type { Delivery } from '../../src/core/subscription.js'
import { MemoryEventLog } from '../../src/engines/memory/event-log.js'
import { createTidings } from '../../src/tidings.js'

async function take(iter: AsyncIterator<Delivery>, n: number): Promise<Delivery[]> {
  const out: Delivery[] = []
  while (out.length < n) {
    const r = await iter.next()
    if (r.done) break
    out.push(r.value)
  }
  return out
}

describe('library API', () => {
  it('subscribe() is an async iterator with the same resume rules as SSE', async () => {
    const tidings = createTidings()
    try {
      await tidings.ready()
      const sub = tidings.subscribe(['lib:*'])
      const it1 = sub[Symbol.asyncIterator]()
      const a = await tidings.publish({ type: 't.l', channels: ['lib:1'], data: 1 })
      await tidings.publish({ type: 't.l', channels: ['other'], data: 'x' })
      const b = await tidings.publish({ type: 't.l', channels: ['lib:2'], data: 2 })
      const got = await take(it1, 2)
      assert.deepEqual(got.map((d) => d.event.id), [a.id, b.id])
      assert.equal(got[1]!.cursor, b.cursor)
      await it1.return!()
      assert.equal(tidings.hub.size, 0, 'return() detaches')

      const c = await tidings.publish({ type: 't.l', channels: ['lib:3'], data: 3 })
      const resumed = tidings.subscribe(['lib:*'], { from: a.cursor })
      const it2 = resumed[Symbol.asyncIterator]()
      assert.deepEqual((await take(it2, 2)).map((d) => d.event.id), [b.id, c.id])
      await it2.return!()
    } finally {
      await tidings.close()
    }
  })

  it('delivers at most once per id and per key within one subscription', async () => {
    const tidings = createTidings()
    try {
      await tidings.ready()
      const it = tidings.subscribe(['d'])[Symbol.asyncIterator]()
      const first = await tidings.publish({ id: 'same-id', type: 't.d', channels: ['d'], data: 1 })
      await tidings.publish({ id: 'same-id', type: 't.d', channels: ['d'], data: 'repeat' })
      const keyed = await tidings.publish({ type: 't.d', channels: ['d'], key: 'job-7-done', data: 2 })
      await tidings.publish({ type: 't.d', channels: ['d'], key: 'job-7-done', data: 'retry re-emit' })
      const last = await tidings.publish({ type: 't.d', channels: ['d'], data: 3 })
      const got = await take(it, 3)
      assert.deepEqual(got.map((d) => d.event.data), [1, 2, 3])
      assert.deepEqual(got.map((d) => d.event.id), [first.id, keyed.id, last.id])
      await it.return!()
    } finally {
      await tidings.close()
    }
  })

  it('strict publish rejects when the log fails; failOpen logs, counts and resolves', async () => {
    class BrokenLog extends MemoryEventLog {
      override async append(): Promise<string[]> {
        throw new Error('disk on fire')
      }
    }
    const tidings = createTidings({ events: new BrokenLog() })
    try {
      await assert.rejects(tidings.publish({ type: 't.f', channels: ['f'] }), (err) => isTidingsError(err, 'TIDINGS_ERR_PUBLISH_FAILED'))
      const p = await tidings.publish({ type: 't.f', channels: ['f'] }, { mode: 'failOpen' })
      assert.equal(p.position, null)
      assert.equal(p.event.type, 't.f')
      const metrics = await tidings.metrics.render()
      assert.match(metrics, /tidings_publish_failures_total\{mode="strict"\} 1/)
      assert.match(metrics, /tidings_publish_failures_total\{mode="failOpen"\} 1/)
      // Validation errors are never swallowed, whatever the mode.
      await assert.rejects(tidings.publish({ type: 'bad type', channels: ['f'] }, { mode: 'failOpen' }), (err) => isTidingsError(err, 'TIDINGS_ERR_INVALID_EVENT'))
    } finally {
      await tidings.close()
    }
  })

  it('several instances sharing one memory log each see every event', async () => {
    const log = new MemoryEventLog()
    const a = createTidings({ events: log })
    const b = createTidings({ events: log })
    try {
      const itA = a.subscribe(['shared'])[Symbol.asyncIterator]()
      const itB = b.subscribe(['shared'])[Symbol.asyncIterator]()
      await Promise.all([a.ready(), b.ready()])
      const p1 = await a.publish({ type: 't.s', channels: ['shared'], data: 'from a' })
      const p2 = await b.publish({ type: 't.s', channels: ['shared'], data: 'from b' })
      for (const it of [itA, itB]) assert.deepEqual((await take(it, 2)).map((d) => d.event.id), [p1.id, p2.id])
      await itA.return!()
      await itB.return!()
    } finally {
      await a.close()
      await b.close()
      await log.close()
    }
  })
})
