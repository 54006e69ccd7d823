import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { eventsUrl, postJson, SseRecorder, startTestServer, type TestServer } from '../helpers/harness.js'

describe('SSE delivery over a real socket (eventsource client)', () => {
  let srv: TestServer
  before(async () => {
    srv = await startTestServer()
  })
  after(async () => {
    await srv.close()
  })

  it('publish → receive: a client on 3 channels gets exactly its events, in log order', async () => {
    const rec = new SseRecorder(eventsUrl(srv.url, ['a:1', 'b:1', 'c:1']), { types: ['t.x'] })
    await rec.opened()
    const channels = ['a:1', 'b:1', 'c:1', 'd:1', 'a:2']
    const sent: string[] = []
    for (let i = 0; i < 50; i++) {
      const channel = channels[i % channels.length]!
      const r = await postJson(`${srv.url}/v1/publish`, { type: 't.x', channels: [channel], data: { i } })
      assert.equal(r.status, 202)
      if (['a:1', 'b:1', 'c:1'].includes(channel)) sent.push(r.body.id)
    }
    // One event on two followed channels arrives once.
    const both = await postJson(`${srv.url}/v1/publish`, { type: 't.x', channels: ['a:1', 'b:1'], data: { both: true } })
    sent.push(both.body.id)
    await rec.waitFor(sent.length)
    // Give stray extra events a chance to show up before asserting the exact set.
    const marker = await postJson(`${srv.url}/v1/publish`, { type: 't.x', channels: ['c:1'], data: { marker: true } })
    sent.push(marker.body.id)
    await rec.waitFor(sent.length)
    assert.deepEqual(rec.events.map((e) => e.data.id), sent)
    rec.close()
  })

  it('disconnect, 500 events meanwhile, reconnect with Last-Event-ID → exactly those of its channels, in order, once', async () => {
    const mine = ['r:1', 'r:2']
    const rec1 = new SseRecorder(eventsUrl(srv.url, mine), { types: ['t.r'] })
    await rec1.opened()
    const first = await postJson(`${srv.url}/v1/publish`, { type: 't.r', channels: ['r:1'], data: { i: -1 } })
    await rec1.waitFor(1)
    const cursor = rec1.lastEventId!
    assert.equal(cursor, first.body.cursor)
    rec1.close()

    const expected: string[] = []
    const batch = []
    for (let i = 0; i < 500; i++) batch.push({ type: 't.r', channels: [['r:1', 'r:2', 'other'][i % 3]!], data: { i } })
    const res = await postJson(`${srv.url}/v1/publish`, batch)
    assert.equal(res.status, 202)
    res.body.events.forEach((e: { id: string }, i: number) => {
      if (i % 3 !== 2) expected.push(e.id)
    })

    const rec2 = new SseRecorder(eventsUrl(srv.url, mine), { types: ['t.r', 'tidings.reset'], lastEventId: cursor })
    await rec2.waitFor(expected.length)
    const tail = await postJson(`${srv.url}/v1/publish`, { type: 't.r', channels: ['r:2'], data: { tail: true } })
    expected.push(tail.body.id)
    await rec2.waitFor(expected.length)
    assert.deepEqual(rec2.events.map((e) => e.data.id), expected)
    assert.equal(rec2.events.filter((e) => e.type === 'tidings.reset').length, 0)
    rec2.close()
  })
})
