import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import Fastify from 'fastify'
import { tidingsFastify } from '../../src/http/fastify.js'
import { createTidings } from '../../src/tidings.js'
import { eventsUrl, SseRecorder } from '../helpers/harness.js'

describe('Fastify plugin', () => {
  it('serves the same routes inside a Fastify app, next to the app\'s own JSON routes', async () => {
    const tidings = createTidings({ auth: { open: true } })
    const app = Fastify()
    app.post('/app/echo', async (req) => ({ echoed: req.body }))
    await app.register(tidingsFastify, { tidings })
    const address = await app.listen({ port: 0, host: '127.0.0.1' })
    try {
      const rec = new SseRecorder(eventsUrl(address, ['fastify']), { types: ['t.f'] })
      await rec.opened()
      const res = await fetch(`${address}/v1/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 't.f', channels: ['fastify'], data: 1 }) })
      assert.equal(res.status, 202)
      const { id } = (await res.json()) as { id: string }
      await rec.waitFor(1)
      assert.equal(rec.events[0]!.data.id, id)
      rec.close()
      const bad = await fetch(`${address}/v1/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{oops' })
      assert.equal(bad.status, 400)
      assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'TIDINGS_ERR_INVALID_JSON')
      // The plugin's pass-through body parser stays inside its own scope.
      const echo = await fetch(`${address}/app/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' })
      assert.deepEqual(await echo.json(), { echoed: { a: 1 } })
      assert.equal((await fetch(`${address}/healthz`)).status, 200)
    } finally {
      await tidings.close()
      await app.close()
    }
  })
})
