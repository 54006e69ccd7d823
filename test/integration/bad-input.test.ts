import assert from 'node:assert/strict'
import { request } from 'node:http'
import { after, before, describe, it } from 'node:test'
import { eventsUrl, postJson, SseRecorder, startTestServer, type TestServer } from '../helpers/harness.js'

async function publishRaw(url: string, body: string, contentType = 'application/json'): Promise<{ status: number; code: string | undefined }> {
  const res = await fetch(`${url}/v1/publish`, { method: 'POST', headers: { 'content-type': contentType }, body })
  const json = (await res.json()) as { error?: { code: string } }
  return { status: res.status, code: json.error?.code }
}

describe('bad input gets a clear coded error and loses nothing', () => {
  let srv: TestServer
  before(async () => {
    srv = await startTestServer({ http: { maxBodyBytes: 256 * 1024 } })
  })
  after(async () => {
    await srv.close()
  })

  it('answers malformed, oversized and invalid events with 400/413/415 and a code', async () => {
    const cases: [string, string, number, string][] = [
      ['malformed JSON', '{"type": "a", "channels": [', 400, 'TIDINGS_ERR_INVALID_JSON'],
      ['not an object', '"hello"', 400, 'TIDINGS_ERR_INVALID_EVENT'],
      ['missing channels', '{"type":"a.b"}', 400, 'TIDINGS_ERR_INVALID_EVENT'],
      ['oversized event', JSON.stringify({ type: 'a.b', channels: ['c'], data: 'x'.repeat(70 * 1024) }), 413, 'TIDINGS_ERR_EVENT_TOO_LARGE'],
      ['oversized body', JSON.stringify({ type: 'a.b', channels: ['c'], data: 'x'.repeat(300 * 1024) }), 413, 'TIDINGS_ERR_BODY_TOO_LARGE'],
      ['invalid channel name', JSON.stringify({ type: 'a.b', channels: ['no spaces allowed'] }), 400, 'TIDINGS_ERR_INVALID_CHANNEL'],
      ['CR/LF in a channel', JSON.stringify({ type: 'a.b', channels: ['c\r\nevent: x'] }), 400, 'TIDINGS_ERR_INVALID_CHANNEL'],
      ['NUL in a channel', JSON.stringify({ type: 'a.b', channels: ['c\u0000'] }), 400, 'TIDINGS_ERR_INVALID_CHANNEL'],
      ['LF in a type', JSON.stringify({ type: 'a\nevent: forged', channels: ['c'] }), 400, 'TIDINGS_ERR_INVALID_EVENT'],
      ['CR in a type', JSON.stringify({ type: 'a\rb', channels: ['c'] }), 400, 'TIDINGS_ERR_INVALID_EVENT'],
      ['NUL in a type', JSON.stringify({ type: 'a\u0000', channels: ['c'] }), 400, 'TIDINGS_ERR_INVALID_EVENT'],
      ['one bad event in a batch', JSON.stringify([{ type: 'a.b', channels: ['c'] }, { type: 'a.b', channels: [] }]), 400, 'TIDINGS_ERR_INVALID_EVENT'],
      ['empty batch', '[]', 400, 'TIDINGS_ERR_INVALID_EVENT'],
    ]
    const headBefore = await srv.tidings.log.head()
    for (const [label, body, status, code] of cases) {
      assert.deepEqual(await publishRaw(srv.url, body), { status, code }, label)
    }
    assert.deepEqual(await publishRaw(srv.url, '{}', 'text/plain'), { status: 415, code: 'TIDINGS_ERR_UNSUPPORTED_MEDIA_TYPE' })
    assert.equal(await srv.tidings.log.head(), headBefore, 'nothing was appended, not even the good half of a bad batch')
  })

  it('rejects invalid subscriptions with coded 400s', async () => {
    const get = async (url: string) => {
      const res = await fetch(url)
      return { status: res.status, code: ((await res.json()) as { error: { code: string } }).error.code }
    }
    assert.deepEqual(await get(`${srv.url}/v1/events`), { status: 400, code: 'TIDINGS_ERR_NO_CHANNELS' })
    assert.deepEqual(await get(eventsUrl(srv.url, ['bad channel'])), { status: 400, code: 'TIDINGS_ERR_INVALID_CHANNEL' })
    assert.deepEqual(await get(eventsUrl(srv.url, ['ok\nevent: x'])), { status: 400, code: 'TIDINGS_ERR_INVALID_CHANNEL' })
    assert.deepEqual(await get(`${srv.url}/v1/history?channel=a&limit=0`), { status: 400, code: 'TIDINGS_ERR_INVALID_QUERY' })
    assert.deepEqual(await get(`${srv.url}/v1/history?channel=a&after=${'x'.repeat(200)}`), { status: 400, code: 'TIDINGS_ERR_INVALID_CURSOR' })
    assert.deepEqual(await get(`${srv.url}/v1/nope`), { status: 404, code: 'TIDINGS_ERR_NOT_FOUND' })
  })

  it('data containing SSE syntax cannot forge a frame', async () => {
    const rec = new SseRecorder(eventsUrl(srv.url, ['forge']), { types: ['t.safe', 'x', 'message'] })
    await rec.opened()
    const evil = '\n\nevent: x\ndata: {"forged":true}\nid: 999\n\n'
    const out = await postJson(`${srv.url}/v1/publish`, { type: 't.safe', channels: ['forge'], data: { evil }, key: 'k\nevent: x' })
    assert.equal(out.status, 202)
    const marker = await postJson(`${srv.url}/v1/publish`, { type: 't.safe', channels: ['forge'], data: 'after' })
    await rec.waitFor(2)
    assert.deepEqual(rec.events.map((e) => [e.type, e.data.id]), [['t.safe', out.body.id], ['t.safe', marker.body.id]])
    assert.equal((rec.events[0]!.data.data as { evil: string }).evil, evil)
    assert.equal(rec.events[0]!.lastEventId, out.body.cursor)
    rec.close()
  })

  it('stays healthy after a burst of garbage, including a request cut mid-body', async () => {
    await Promise.all(Array.from({ length: 50 }, (_, i) => publishRaw(srv.url, i % 2 ? '{{{' : '[1,2,3]')))
    await new Promise<void>((resolve) => {
      const { port } = new URL(srv.url)
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/publish', headers: { 'content-type': 'application/json', 'content-length': '1000' } })
      req.on('error', () => resolve())
      req.write('{"type": "a.b", "chan')
      setTimeout(() => {
        req.destroy()
        resolve()
      }, 50)
    })
    const health = await fetch(`${srv.url}/healthz`)
    assert.equal(health.status, 200)
    const ok = await postJson(`${srv.url}/v1/publish`, { type: 'a.b', channels: ['c'] })
    assert.equal(ok.status, 202)
  })
})
