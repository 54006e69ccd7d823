import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, it } from 'node:test'
import { SignJWT, exportJWK, exportSPKI, generateKeyPair } from 'jose'
import { eventsUrl, SseRecorder, startTestServer } from '../helpers/harness.js'

describe('HTTP surface: CORS, operations, history, key-based auth', () => {
  it('answers CORS pre-flights for configured origins only', async () => {
    const srv = await startTestServer({ http: { cors: { origins: ['https://app.example'] } } })
    try {
      const pre = await fetch(`${srv.url}/v1/publish`, {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
      })
      assert.equal(pre.status, 204)
      assert.equal(pre.headers.get('access-control-allow-origin'), 'https://app.example')
      assert.match(pre.headers.get('access-control-allow-headers') ?? '', /last-event-id/)
      const other = await fetch(`${srv.url}/healthz`, { headers: { origin: 'https://evil.example' } })
      assert.equal(other.headers.get('access-control-allow-origin'), null)
      const ok = await fetch(`${srv.url}/healthz`, { headers: { origin: 'https://app.example' } })
      assert.equal(ok.headers.get('access-control-allow-origin'), 'https://app.example')
    } finally {
      await srv.close()
    }
  })

  it('serves readyz, metrics that move, the OpenAPI document, and 405 with Allow', async () => {
    const srv = await startTestServer()
    try {
      const ready = (await (await fetch(`${srv.url}/readyz`)).json()) as { ok: boolean; engine: string }
      assert.deepEqual([ready.ok, ready.engine], [true, 'memory'])
      const rec = new SseRecorder(eventsUrl(srv.url, ['m']), { types: ['t.m'] })
      await rec.opened()
      await srv.tidings.publish([{ type: 't.m', channels: ['m'] }, { type: 't.m', channels: ['m'] }])
      await rec.waitFor(2)
      const text = await (await fetch(`${srv.url}/metrics`)).text()
      assert.match(text, /tidings_connections\{transport="sse"\} 1/)
      assert.match(text, /tidings_events_appended_total 2/)
      assert.match(text, /tidings_events_delivered_total 2/)
      rec.close()
      const doc = (await (await fetch(`${srv.url}/v1/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown> }
      assert.equal(doc.openapi, '3.1.0')
      assert.ok('/v1/publish' in doc.paths)
      const wrong = await fetch(`${srv.url}/v1/publish`)
      assert.equal(wrong.status, 405)
      assert.match(wrong.headers.get('allow') ?? '', /POST/)
    } finally {
      await srv.close()
    }
  })

  it('pages through history with next cursors', async () => {
    const srv = await startTestServer()
    try {
      const sent = await srv.tidings.publish(Array.from({ length: 25 }, (_, i) => ({ type: 't.h', channels: [i % 2 ? 'h:odd' : 'h:even'], data: i })))
      const even = sent.filter((_, i) => i % 2 === 0).map((p) => p.id)
      const got: string[] = []
      let after = ''
      for (let page = 0; page < 10; page++) {
        const res = (await (await fetch(`${srv.url}/v1/history?channel=h:even&limit=5${after ? `&after=${after}` : ''}`)).json()) as { events: { event: { id: string } }[]; next: string | null }
        got.push(...res.events.map((e) => e.event.id))
        if (res.events.length === 0) break
        after = res.next!
      }
      assert.deepEqual(got, even)
      const stale = await fetch(`${srv.url}/v1/history?channel=h:even&after=otherepoch.3`)
      assert.equal(stale.status, 410)
    } finally {
      await srv.close()
    }
  })

  it('verifies ES256 tokens against a PEM public key and against a JWKS URL', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256')
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }
    const jwks = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ keys: [jwk] }))
    })
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r))
    const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`
    const token = await new SignJWT({ sub: '7' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setExpirationTime('5m').sign(privateKey)
    const viaPem = await startTestServer({ auth: { jwt: { publicKey: await exportSPKI(publicKey), algorithms: ['ES256'] } } })
    const viaJwks = await startTestServer({ auth: { jwt: { jwksUrl, algorithms: ['ES256'] } } })
    try {
      for (const srv of [viaPem, viaJwks]) {
        const ok = await fetch(eventsUrl(srv.url, ['user:7']), { headers: { authorization: `Bearer ${token}` } })
        assert.equal(ok.status, 200)
        await ok.body?.cancel()
        assert.equal((await fetch(eventsUrl(srv.url, ['user:7']), { headers: { authorization: 'Bearer x.y.z' } })).status, 401)
      }
    } finally {
      await viaPem.close()
      await viaJwks.close()
      jwks.close()
    }
  })
})
