import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { describe, it } from 'node:test'
import { MemoryEventLog } from '../../src/engines/memory/event-log.js'
import { eventsUrl, SseRecorder, startTestServer } from '../helpers/harness.js'

describe('resume, seam, reset and slow consumers', () => {
  for (const [label, windowSize] of [
    ['window', 100_000],
    ['engine', 64],
  ] as const) {
    it(`seam (${label} replay): a client resuming while 10k events are written concurrently gets exactly the full sequence`, async () => {
      const srv = await startTestServer({ hub: { windowSize, replayPageSize: 100 } })
      try {
        const channels = ['s:1', 's:2']
        const first = await srv.tidings.publish({ type: 't.s', channels: ['s:1'], data: -1 })
        const expected: string[] = []
        const total = 10_000
        let written = 0
        // The publisher runs concurrently with the client's resume: batches of 50, yielding between.
        const publishing = (async () => {
          while (written < total) {
            const batch = Array.from({ length: 50 }, (_, j) => ({ type: 't.s', channels: [['s:1', 's:2', 'noise'][(written + j) % 3]!], data: written + j }))
            const out = await srv.tidings.publish(batch)
            out.forEach((p, j) => {
              if ((written + j) % 3 !== 2) expected.push(p.id)
            })
            written += batch.length
            await new Promise((r) => setImmediate(r))
          }
        })()
        // Resume once a part of the stream exists, while the rest is still being written.
        while (written < 2_000) await new Promise((r) => setImmediate(r))
        const rec = new SseRecorder(eventsUrl(srv.url, channels), { types: ['t.s', 'tidings.reset'], lastEventId: first.cursor! })
        await publishing
        await rec.waitFor(expected.length, 30_000)
        const marker = await srv.tidings.publish({ type: 't.s', channels: ['s:2'], data: 'end' })
        expected.push(marker.id)
        await rec.waitFor(expected.length, 10_000)
        const got = rec.events.map((e) => e.data.id)
        assert.equal(got.length, expected.length, 'no event lost or repeated')
        assert.deepEqual(got, expected)
        rec.close()
      } finally {
        await srv.close()
      }
    })
  }

  it('a cursor beyond retention gets tidings.reset, then live events', async () => {
    const srv = await startTestServer({ events: new MemoryEventLog({ maxEvents: 20 }), hub: { windowSize: 10 } })
    try {
      const old = await srv.tidings.publish({ type: 't.x', channels: ['r'], data: 0 })
      await srv.tidings.publish(Array.from({ length: 100 }, (_, i) => ({ type: 't.x', channels: ['r'], data: i + 1 })))
      const rec = new SseRecorder(eventsUrl(srv.url, ['r']), { types: ['t.x', 'tidings.reset'], lastEventId: old.cursor! })
      await rec.waitFor(1)
      const live = await srv.tidings.publish({ type: 't.x', channels: ['r'], data: 'live' })
      await rec.waitFor(2)
      assert.equal(rec.events[0]!.type, 'tidings.reset')
      assert.equal((rec.events[0]!.data.data as { reason: string }).reason, 'truncated')
      assert.deepEqual(rec.events.slice(1).map((e) => e.data.id), [live.id])
      rec.close()
    } finally {
      await srv.close()
    }
  })

  it('an unknown cursor, and a cursor from an older epoch, get tidings.reset then live events', async () => {
    const before = await startTestServer()
    const stale = await before.tidings.publish({ type: 't.x', channels: ['e'] })
    await before.close()
    const srv = await startTestServer()
    try {
      await srv.tidings.publish({ type: 't.x', channels: ['e'], data: 'existing' })
      const epoch = srv.tidings.hub.epoch
      const cases: [string, string][] = [
        [stale.cursor!, 'epoch'],
        [`${epoch}.999999`, 'unknown'],
        ['garbage', 'unknown'],
      ]
      for (const [cursor, reason] of cases) {
        const rec = new SseRecorder(eventsUrl(srv.url, ['e']), { types: ['t.x', 'tidings.reset'], lastEventId: cursor })
        await rec.waitFor(1)
        const live = await srv.tidings.publish({ type: 't.x', channels: ['e'], data: cursor })
        await rec.waitFor(2)
        assert.equal(rec.events[0]!.type, 'tidings.reset', cursor)
        assert.equal((rec.events[0]!.data.data as { reason: string }).reason, reason)
        assert.deepEqual(rec.events.slice(1).map((e) => e.data.id), [live.id])
        rec.close()
      }
    } finally {
      await srv.close()
    }
  })

  it('?lastEventId= resumes like the header does', async () => {
    const srv = await startTestServer()
    try {
      const a = await srv.tidings.publish({ type: 't.q', channels: ['q'], data: 1 })
      const b = await srv.tidings.publish({ type: 't.q', channels: ['q'], data: 2 })
      const rec = new SseRecorder(eventsUrl(srv.url, ['q'], { lastEventId: a.cursor! }), { types: ['t.q', 'tidings.reset'] })
      await rec.waitFor(1)
      assert.deepEqual(rec.events.map((e) => e.data.id), [b.id])
      rec.close()
    } finally {
      await srv.close()
    }
  })

  it('a client that stops reading is cut with bounded hub memory and resumes with 0 gaps', async () => {
    const maxBufferBytes = 256 * 1024
    const srv = await startTestServer({ http: { maxBufferBytes, maxBufferEvents: 100_000 } })
    try {
      const port = Number(new URL(srv.url).port)
      const socket = connect(port, '127.0.0.1')
      const chunks: Buffer[] = []
      // Wait for the stream's opening frame (the server has the connection), then stop reading.
      const opened = new Promise<void>((resolve) => {
        socket.on('data', (c: Buffer) => {
          chunks.push(c)
          if (Buffer.concat(chunks).includes(': connected')) resolve()
        })
      })
      await new Promise<void>((resolve) => socket.once('connect', resolve))
      socket.write(`GET /v1/events?channel=slow HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`)
      await opened
      socket.pause()
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))

      const ids: string[] = []
      const payload = 'p'.repeat(1000)
      // Publish until the hub cuts the connection (the kernel's buffers absorb the first few MB).
      for (let round = 0; round < 200 && srv.tidings.http.connectionCount > 0; round++) {
        const out = await srv.tidings.publish(Array.from({ length: 500 }, (_, i) => ({ type: 't.slow', channels: ['slow'], data: { round, i, payload } })))
        ids.push(...out.map((p) => p.id))
        await new Promise((r) => setImmediate(r))
      }
      assert.equal(srv.tidings.http.connectionCount, 0, 'the slow consumer was cut')
      const metrics = await srv.tidings.metrics.render()
      assert.match(metrics, /tidings_slow_consumer_cuts_total 1/)
      assert.ok(srv.tidings.http.peakQueuedBytes <= maxBufferBytes + 600 * 1024, `queued at most the bound plus one batch, was ${srv.tidings.http.peakQueuedBytes}`)

      // Read what reached the client before the cut: complete frames only.
      socket.resume()
      await closed
      const text = Buffer.concat(chunks).toString('utf8')
      const body = text.slice(text.indexOf('\r\n\r\n') + 4)
      const received: { id: string; cursor: string }[] = []
      for (const m of body.matchAll(/id: (\S+)\nevent: t\.slow\ndata: (\{.*\})\n\n/g)) {
        received.push({ cursor: m[1]!, id: JSON.parse(m[2]!).id })
      }
      assert.ok(received.length > 0 && received.length < ids.length, `got ${received.length} of ${ids.length} before the cut`)
      assert.deepEqual(received.map((r) => r.id), ids.slice(0, received.length))

      const rec = new SseRecorder(eventsUrl(srv.url, ['slow']), { types: ['t.slow', 'tidings.reset'], lastEventId: received[received.length - 1]!.cursor })
      await rec.waitFor(ids.length - received.length, 30_000)
      assert.deepEqual([...received.map((r) => r.id), ...rec.events.map((e) => e.data.id)], ids)
      rec.close()
    } finally {
      await srv.close()
    }
  })
})
