import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startServer } from '../../src/cli/server.js'
import { openApiDocument } from '../../src/http/openapi.js'
import { generateSecret } from '../../src/webhooks/signing.js'
import { signToken, startTestServer, TEST_SECRET, type TestServer } from '../helpers/harness.js'
import { eventually } from '../helpers/jobs.js'
import { Receiver } from '../helpers/webhooks.js'

async function call(method: string, url: string, token?: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : null }
}

/** A public address given as a literal, so creating the endpoint needs no DNS. */
const PUBLIC_URL = 'https://93.184.216.34/hook'

describe('webhooks over HTTP: permissions, validation and the SSRF guard with default settings', () => {
  let srv: TestServer
  const tokens: Record<'admin' | 'acme' | 'acme2' | 'globex' | 'user', string> = {} as never

  before(async () => {
    srv = await startTestServer({ auth: { jwt: { secret: TEST_SECRET } } })
    tokens.admin = await signToken({ sub: 'root', tidings: { admin: true } })
    tokens.acme = await signToken({ sub: 'a1', tenant: 'acme' })
    tokens.acme2 = await signToken({ sub: 'a2', tenant: 'acme' })
    tokens.globex = await signToken({ sub: 'g1', tenant: 'globex' })
    tokens.user = await signToken({ sub: 'u1' })
  })
  after(() => srv.close())

  it('refuses loopback, private, link-local and metadata targets, and a host name resolving to loopback, with a coded 400', async () => {
    for (const url of [
      'http://127.0.0.1/hook',
      'http://10.0.0.1/hook',
      'http://169.254.169.254/latest/meta-data/',
      'http://localhost:8080/hook',
      'http://[::1]/hook',
      'http://[::ffff:127.0.0.1]/hook',
      'http://100.64.0.1/hook',
      'http://0.0.0.0/hook',
      'http://[fd00:ec2::254]/',
      'http://192.168.1.10/hook',
    ]) {
      const r = await call('POST', `${srv.url}/v1/webhooks`, tokens.admin, { url, eventTypes: ['*'] })
      assert.equal(r.status, 400, url)
      assert.equal(r.body.error.code, 'TIDINGS_ERR_WEBHOOK_TARGET_FORBIDDEN', url)
    }
    const r = await call('POST', `${srv.url}/v1/webhooks`, tokens.admin, { url: PUBLIC_URL, eventTypes: ['*'] })
    assert.equal(r.status, 201)
    const moved = await call('PATCH', `${srv.url}/v1/webhooks/${r.body.id}`, tokens.admin, { url: 'http://127.0.0.1:9/' })
    assert.equal(moved.body.error.code, 'TIDINGS_ERR_WEBHOOK_TARGET_FORBIDDEN', 'a change of URL is checked too')
  })

  it('answers bad input with coded 400s: invalid URL, invalid pattern, non-whsec_ secret', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ url: 'not a url', eventTypes: ['*'] }, 'TIDINGS_ERR_INVALID_WEBHOOK'],
      [{ url: 'ftp://93.184.216.34/', eventTypes: ['*'] }, 'TIDINGS_ERR_INVALID_WEBHOOK'],
      [{ url: PUBLIC_URL, eventTypes: ['order.$'] }, 'TIDINGS_ERR_INVALID_WEBHOOK'],
      [{ url: PUBLIC_URL, eventTypes: ['order.*'], channels: ['bad channel'] }, 'TIDINGS_ERR_INVALID_WEBHOOK'],
      [{ url: PUBLIC_URL, eventTypes: ['order.*'], secret: 'sk_live_123' }, 'TIDINGS_ERR_INVALID_WEBHOOK_SECRET'],
      [{ url: PUBLIC_URL, eventTypes: ['order.*'], secret: 'whsec_c2hvcnQ=' }, 'TIDINGS_ERR_INVALID_WEBHOOK_SECRET'],
      [{ url: PUBLIC_URL }, 'TIDINGS_ERR_INVALID_WEBHOOK'],
      [{ url: PUBLIC_URL, eventTypes: ['*'], retrySchedule: ['5'] }, 'TIDINGS_ERR_INVALID_WEBHOOK'],
    ]
    for (const [body, code] of cases) {
      const r = await call('POST', `${srv.url}/v1/webhooks`, tokens.admin, body)
      assert.equal(r.status, 400, JSON.stringify(body))
      assert.equal(r.body.error.code, code, JSON.stringify(body))
    }
    const secret = generateSecret(24)
    const ok = await call('POST', `${srv.url}/v1/webhooks`, tokens.admin, { url: PUBLIC_URL, eventTypes: ['order.*'], secret })
    assert.equal(ok.status, 201)
    assert.equal(ok.body.secret, secret)
  })

  it('lets admins manage every endpoint and a tenant\'s principals only their tenant\'s; others get 403 or 404', async () => {
    const created = await call('POST', `${srv.url}/v1/webhooks`, tokens.acme, { url: PUBLIC_URL, eventTypes: ['order.*'], headers: { 'X-Env': 'prod' }, rateLimit: 5, retrySchedule: [1, 60] })
    assert.equal(created.status, 201)
    const id = created.body.id
    assert.equal(created.body.tenant, 'acme', 'the endpoint belongs to the caller\'s tenant')
    assert.match(created.body.secret, /^whsec_/)
    assert.equal(created.body.secrets, undefined)
    assert.deepEqual([created.body.enabled, created.body.rateLimit, created.body.retrySchedule, created.body.health.failureStreak], [true, 5, [1, 60], 0])

    assert.equal((await call('POST', `${srv.url}/v1/webhooks`, tokens.acme, { url: PUBLIC_URL, eventTypes: ['*'], tenant: 'globex' })).status, 403)
    assert.equal((await call('POST', `${srv.url}/v1/webhooks`, tokens.user, { url: PUBLIC_URL, eventTypes: ['*'] })).status, 403)
    assert.equal((await call('GET', `${srv.url}/v1/webhooks`)).status, 401)

    const got = await call('GET', `${srv.url}/v1/webhooks/${id}`, tokens.acme2)
    assert.equal(got.status, 200)
    assert.equal(got.body.secret, undefined, 'the secret is shown only at creation and rotation')
    assert.equal((await call('GET', `${srv.url}/v1/webhooks/${id}`, tokens.globex)).body.error.code, 'TIDINGS_ERR_WEBHOOK_NOT_FOUND')
    assert.equal((await call('DELETE', `${srv.url}/v1/webhooks/${id}`, tokens.globex)).status, 404)
    assert.deepEqual((await call('GET', `${srv.url}/v1/webhooks`, tokens.globex)).body, { endpoints: [] })
    assert.deepEqual((await call('GET', `${srv.url}/v1/webhooks`, tokens.acme)).body.endpoints.map((e: { id: string }) => e.id), [id])
    assert.ok((await call('GET', `${srv.url}/v1/webhooks`, tokens.admin)).body.endpoints.some((e: { id: string }) => e.id === id))

    const patched = await call('PATCH', `${srv.url}/v1/webhooks/${id}`, tokens.acme2, { eventTypes: ['invoice.*'], enabled: false })
    assert.equal(patched.status, 200)
    assert.deepEqual([patched.body.eventTypes, patched.body.enabled, patched.body.health.disabledReason], [['invoice.*'], false, 'manual'])
    assert.equal((await call('PATCH', `${srv.url}/v1/webhooks/${id}`, tokens.acme, { tenant: 'globex' })).body.error.code, 'TIDINGS_ERR_INVALID_WEBHOOK')

    const history = (token: string) => call('GET', `${srv.url}/v1/history?channel=webhook:${id}`, token)
    assert.equal((await history(tokens.acme)).status, 200, 'a manager may follow webhook:{id}')
    assert.equal((await history(tokens.globex)).status, 403)

    const rotated = await call('POST', `${srv.url}/v1/webhooks/${id}/secret/rotate`, tokens.acme, {})
    assert.equal(rotated.status, 200)
    assert.match(rotated.body.secret, /^whsec_/)
    assert.notEqual(rotated.body.secret, created.body.secret)

    assert.equal((await call('DELETE', `${srv.url}/v1/webhooks/${id}`, tokens.acme)).status, 204)
    assert.equal((await call('GET', `${srv.url}/v1/webhooks/${id}`, tokens.admin)).status, 404)
  })

  it('describes every webhook route in the OpenAPI document', () => {
    const paths = Object.keys(openApiDocument.paths)
    for (const p of ['/v1/webhooks', '/v1/webhooks/{id}', '/v1/webhooks/{id}/secret/rotate', '/v1/webhooks/{id}/deliveries', '/v1/webhooks/{id}/deliveries/{deliveryId}', '/v1/webhooks/{id}/deliveries/{deliveryId}/resend', '/v1/webhooks/{id}/recover', '/v1/webhooks/{id}/replay']) {
      assert.ok(paths.includes(p), p)
    }
  })
})

describe('webhooks over HTTP: the attempt log, resend, recover and replay', () => {
  let srv: TestServer
  let receiver: Receiver
  let up = false

  before(async () => {
    receiver = new Receiver(() => ({ status: up ? 200 : 503, body: up ? 'thanks' : 'busy' }))
    await receiver.start()
    srv = await startTestServer({ webhooks: { ssrf: { allow: ['127.0.0.1/32'] }, retrySchedule: [], dispatcher: { syncMs: 50 } } })
    await srv.tidings.webhooks.start()
    await srv.tidings.startWorker({ concurrency: 4, heartbeatMs: 200 })
  })
  after(() => srv.close())

  it('lists deliveries with their attempts, resends one, recovers the failed ones and replays from the log', async () => {
    const since = new Date().toISOString()
    const early = (await call('POST', `${srv.url}/v1/publish`, undefined, { type: 'order.created', channels: ['shop'], data: { n: 0 } })).body
    const created = await call('POST', `${srv.url}/v1/webhooks`, undefined, { url: receiver.url, eventTypes: ['order.*'] })
    assert.equal(created.status, 201, JSON.stringify(created.body))
    const id = created.body.id
    receiver.secret = created.body.secret
    const published = (await call('POST', `${srv.url}/v1/publish`, undefined, [1, 2, 3].map((n) => ({ type: 'order.created', channels: ['shop'], data: { n } })))).body.events
    const failed = await eventually(async () => {
      const r = await call('GET', `${srv.url}/v1/webhooks/${id}/deliveries?status=failed`)
      return r.body.deliveries.length === 3 && r.body
    })
    const first = failed.deliveries.find((d: { eventId: string }) => d.eventId === published[0].id)
    assert.deepEqual(first.attemptLog.map((a: { status: number; responseBody: string; trigger: string }) => [a.status, a.responseBody, a.trigger]), [[503, 'busy', 'scheduled']])
    assert.equal(first.event, undefined, 'lists leave the event out')
    const detail = await call('GET', `${srv.url}/v1/webhooks/${id}/deliveries/${first.id}`)
    assert.equal(detail.body.event.id, published[0].id)
    const health = (await call('GET', `${srv.url}/v1/webhooks/${id}`)).body.health
    assert.deepEqual([health.failureStreak, health.lastStatus, health.lastSuccessAt], [3, 503, null])
    assert.ok(health.failingSince !== null)

    up = true
    const resent = await call('POST', `${srv.url}/v1/webhooks/${id}/deliveries/${first.id}/resend`)
    assert.equal(resent.status, 202)
    await eventually(async () => (await call('GET', `${srv.url}/v1/webhooks/${id}/deliveries/${first.id}`)).body.status === 'succeeded')
    const recovered = await call('POST', `${srv.url}/v1/webhooks/${id}/recover`, undefined, { since })
    assert.deepEqual([recovered.status, recovered.body], [202, { recovered: 2 }])
    const replayed = await call('POST', `${srv.url}/v1/webhooks/${id}/replay`, undefined, { since })
    assert.equal(replayed.status, 202)
    assert.equal(replayed.body.enqueued, 1, 'only the event from before the endpoint existed had no delivery')
    await eventually(async () => (await call('GET', `${srv.url}/v1/webhooks/${id}/deliveries?status=succeeded`)).body.deliveries.length === 4)
    const successes = receiver.hooks.filter((h) => h.n > 3)
    assert.deepEqual(new Set(successes.map((h) => h.headers['webhook-id'])), new Set([early.id, ...published.map((p: { id: string }) => p.id)]))
    assert.equal(successes.length, 4)
    assert.ok(receiver.hooks.every((h) => h.verified === true))
    const resentAgain = await call('POST', `${srv.url}/v1/webhooks/${id}/deliveries/${first.id}/resend`)
    assert.equal(resentAgain.status, 202, 'a delivered event can be sent again')
    assert.equal((await call('POST', `${srv.url}/v1/webhooks/${id}/deliveries/nope/resend`)).body.error.code, 'TIDINGS_ERR_WEBHOOK_DELIVERY_NOT_FOUND')
    assert.equal((await call('POST', `${srv.url}/v1/webhooks/${id}/recover`, undefined, {})).body.error.code, 'TIDINGS_ERR_INVALID_WEBHOOK')
    assert.equal((await call('GET', `${srv.url}/v1/webhooks/${id}/deliveries?status=nope`)).body.error.code, 'TIDINGS_ERR_INVALID_QUERY')
    const health2 = (await call('GET', `${srv.url}/v1/webhooks/${id}`)).body.health
    assert.deepEqual([health2.failureStreak, health2.failingSince], [0, null])
  })
})

describe('the server process runs the dispatcher and a worker', () => {
  it('tidings dev delivers to an endpoint created over HTTP, on the schedule TIDINGS_WEBHOOK_RETRY_SCHEDULE sets', async () => {
    const receiver = new Receiver((h) => ({ status: h.n === 1 ? 500 : 200 }))
    await receiver.start()
    const env: NodeJS.ProcessEnv = { ...process.env, TIDINGS_PORT: '0', TIDINGS_DEMO: '0', TIDINGS_WEBHOOK_ALLOW_PRIVATE: '1', TIDINGS_WEBHOOK_RETRY_SCHEDULE: '0.01' }
    delete env.TIDINGS_JWT_SECRET
    const srv = await startServer({ mode: 'dev', env, warn: () => {} })
    try {
      const ep = await call('POST', `${srv.url}/v1/webhooks`, undefined, { url: receiver.url, eventTypes: ['smoke.*'] })
      assert.equal(ep.status, 201)
      receiver.secret = ep.body.secret
      const sent = await call('POST', `${srv.url}/v1/publish`, undefined, { type: 'smoke.test', channels: ['s'] })
      await receiver.waitFor(2)
      assert.deepEqual(receiver.ids(), [sent.body.id, sent.body.id])
      assert.ok(receiver.hooks.every((h) => h.verified === true))
      const d = await eventually(async () => {
        const r = await call('GET', `${srv.url}/v1/webhooks/${ep.body.id}/deliveries?status=succeeded`)
        return r.body.deliveries[0]
      })
      assert.deepEqual(d.attemptLog.map((a: { status: number }) => a.status), [500, 200])
      const job = await call('GET', `${srv.url}/v1/jobs/${d.jobId}`)
      assert.equal(job.body.maxAttempts, 2, 'one retry, as the environment says')
    } finally {
      await srv.close()
    }
  })
})
