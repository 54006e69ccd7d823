import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { eventsUrl, postJson, SseRecorder, signToken, startTestServer, TEST_SECRET, type TestServer } from '../helpers/harness.js'

const AUDIENCE = 'tidings-test'

async function status(url: string, headers: Record<string, string> = {}): Promise<{ status: number; code?: string }> {
  const ac = new AbortController()
  const res = await fetch(url, { headers, signal: ac.signal })
  const type = res.headers.get('content-type') ?? ''
  const body = type.includes('json') ? ((await res.json()) as { error?: { code: string } }) : null
  ac.abort()
  return { status: res.status, code: body?.error?.code }
}

function unsigned(claims: Record<string, unknown>): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...claims, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 3600 })}.`
}

describe('authentication and authorisation (JWT, HS256)', () => {
  let srv: TestServer
  before(async () => {
    srv = await startTestServer({ auth: { jwt: { secret: TEST_SECRET, audience: AUDIENCE } } })
  })
  after(async () => {
    await srv.close()
  })

  it('rejects missing, forged, expired, alg:none and wrong-audience tokens with 401', async () => {
    const url = eventsUrl(srv.url, ['user:1'])
    assert.deepEqual(await status(url), { status: 401, code: 'TIDINGS_ERR_UNAUTHENTICATED' })
    const forged = await signToken({ sub: '1' }, { secret: 'another-secret-another-secret-another-1', audience: AUDIENCE })
    assert.deepEqual(await status(url, { authorization: `Bearer ${forged}` }), { status: 401, code: 'TIDINGS_ERR_INVALID_TOKEN' })
    const expired = await signToken({ sub: '1', exp: Math.floor(Date.now() / 1000) - 600 }, { audience: AUDIENCE, expiresIn: '-10m' })
    assert.deepEqual(await status(url, { authorization: `Bearer ${expired}` }), { status: 401, code: 'TIDINGS_ERR_INVALID_TOKEN' })
    assert.deepEqual(await status(url, { authorization: `Bearer ${unsigned({ sub: '1' })}` }), { status: 401, code: 'TIDINGS_ERR_INVALID_TOKEN' })
    const wrongAud = await signToken({ sub: '1' }, { audience: 'someone-else' })
    assert.deepEqual(await status(url, { authorization: `Bearer ${wrongAud}` }), { status: 401, code: 'TIDINGS_ERR_INVALID_TOKEN' })
    const hs512 = await signToken({ sub: '1' }, { audience: AUDIENCE, alg: 'HS512' })
    assert.deepEqual(await status(url, { authorization: `Bearer ${hs512}` }), { status: 401, code: 'TIDINGS_ERR_INVALID_TOKEN' }, 'algorithms are pinned')
    const pub = await postJson(`${srv.url}/v1/publish`, { type: 'a', channels: ['user:1'] }, forged)
    assert.equal(pub.status, 401)
  })

  it('accepts a good token in the header, in ?token= and in the tidings_token cookie', async () => {
    const good = await signToken({ sub: '1' }, { audience: AUDIENCE })
    const rec1 = new SseRecorder(eventsUrl(srv.url, ['user:1']), { types: ['t.a'], token: good })
    const rec2 = new SseRecorder(eventsUrl(srv.url, ['user:1'], { token: good }), { types: ['t.a'] })
    await Promise.all([rec1.opened(), rec2.opened()])
    const res = await fetch(eventsUrl(srv.url, ['user:1']), { headers: { cookie: `other=1; tidings_token=${good}` } })
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/)
    await res.body?.cancel()
    await srv.tidings.publish({ type: 't.a', channels: ['user:1'], data: 'hi' })
    await Promise.all([rec1.waitFor(1), rec2.waitFor(1)])
    rec1.close()
    rec2.close()
  })

  it('a channel outside the principal\'s rights is 403; explicit subscribe patterns widen them', async () => {
    const user = await signToken({ sub: '1', tenant: 'acme' }, { audience: AUDIENCE })
    const auth = { authorization: `Bearer ${user}` }
    assert.deepEqual(await status(eventsUrl(srv.url, ['user:2']), auth), { status: 403, code: 'TIDINGS_ERR_FORBIDDEN_CHANNEL' })
    assert.deepEqual(await status(eventsUrl(srv.url, ['user:1', 'tenant:other']), auth), { status: 403, code: 'TIDINGS_ERR_FORBIDDEN_CHANNEL' })
    assert.deepEqual(await status(eventsUrl(srv.url, ['user:*']), auth), { status: 403, code: 'TIDINGS_ERR_FORBIDDEN_CHANNEL' })
    assert.deepEqual(await status(`${srv.url}/v1/history?channel=user:2`, auth), { status: 403, code: 'TIDINGS_ERR_FORBIDDEN_CHANNEL' })
    const wide = await signToken({ sub: '1', tidings: { subscribe: ['team:acme:*'] } }, { audience: AUDIENCE })
    const rec = new SseRecorder(eventsUrl(srv.url, ['team:acme:job:*']), { types: ['t.w'], token: wide })
    await rec.opened()
    assert.deepEqual(await status(eventsUrl(srv.url, ['team:other:x']), { authorization: `Bearer ${wide}` }), { status: 403, code: 'TIDINGS_ERR_FORBIDDEN_CHANNEL' })
    rec.close()
  })

  it('a subscriber token cannot publish (403); a publisher token publishes only where allowed', async () => {
    const sub = await signToken({ sub: '1' }, { audience: AUDIENCE })
    const r1 = await postJson(`${srv.url}/v1/publish`, { type: 'a.b', channels: ['user:1'] }, sub)
    assert.equal(r1.status, 403)
    assert.equal(r1.body.error.code, 'TIDINGS_ERR_FORBIDDEN_PUBLISH')
    const publisher = await signToken({ sub: 'svc', tidings: { publish: ['orders:*'] } }, { audience: AUDIENCE })
    assert.equal((await postJson(`${srv.url}/v1/publish`, { type: 'a.b', channels: ['orders:9'] }, publisher)).status, 202)
    assert.equal((await postJson(`${srv.url}/v1/publish`, { type: 'a.b', channels: ['orders:9', 'user:1'] }, publisher)).status, 403)
  })

  it('an event of tenant A never reaches tenant B, even on a channel both follow', async () => {
    const a = await signToken({ sub: 'ua', tenant: 'A' }, { audience: AUDIENCE })
    const b = await signToken({ sub: 'ub', tenant: 'B' }, { audience: AUDIENCE })
    const recA = new SseRecorder(eventsUrl(srv.url, ['broadcast']), { types: ['t.tenant'], token: a })
    const recB = new SseRecorder(eventsUrl(srv.url, ['broadcast']), { types: ['t.tenant'], token: b })
    await Promise.all([recA.opened(), recB.opened()])
    const secret = await srv.tidings.publish({ type: 't.tenant', channels: ['broadcast'], tenant: 'A', data: 'for A only' })
    const everyone = await srv.tidings.publish({ type: 't.tenant', channels: ['broadcast'], data: 'for all' })
    await recA.waitFor(2)
    await recB.waitFor(1)
    assert.deepEqual(recA.events.map((e) => e.data.id), [secret.id, everyone.id])
    assert.deepEqual(recB.events.map((e) => e.data.id), [everyone.id])
    // History applies the same rule.
    const hist = await fetch(`${srv.url}/v1/history?channel=broadcast`, { headers: { authorization: `Bearer ${b}` } })
    const page = (await hist.json()) as { events: { event: { id: string } }[] }
    assert.ok(!page.events.some((e) => e.event.id === secret.id))
    recA.close()
    recB.close()
  })
})
