import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { z } from 'zod'
import { eventsUrl, SseRecorder, signToken, startTestServer, TEST_SECRET, type TestServer } from '../helpers/harness.js'
import { signal } from '../helpers/jobs.js'

const JOB_TYPES = ['job.queued', 'job.started', 'job.progress', 'job.log', 'job.succeeded', 'job.failed', 'job.retrying', 'job.cancelled']

async function call(method: string, url: string, token?: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : null }
}

describe('jobs over HTTP, with the same auth as events', () => {
  let srv: TestServer
  const tokens: Record<'alice' | 'bob' | 'mallory' | 'reader' | 'admin', string> = {} as never
  const gates = new Map<string, { resolve: () => void; promise: Promise<void> }>()
  const gate = (key: string) => {
    let g = gates.get(key)
    if (!g) gates.set(key, (g = signal()))
    return g
  }

  before(async () => {
    srv = await startTestServer({ auth: { jwt: { secret: TEST_SECRET } } })
    srv.tidings.defineJob({
      name: 'test.gate',
      schema: z.object({ gate: z.string(), steps: z.int().min(1).default(1) }),
      handler: async (ctx) => {
        await ctx.progress(0, ctx.payload.steps)
        await Promise.race([gate(ctx.payload.gate).promise, new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)))])
        await ctx.progress(ctx.payload.steps, ctx.payload.steps, 'done')
        return { gate: ctx.payload.gate }
      },
    })
    srv.tidings.defineJob({ name: 'test.quick', schema: z.object({ n: z.int() }), handler: (ctx) => ctx.payload.n })
    srv.tidings.defineJob({ name: 'admin.only', schema: z.object({}), handler: () => null })
    await srv.tidings.startWorker({ concurrency: 8, heartbeatMs: 200 })
    const enqueue = ['test.*']
    tokens.alice = await signToken({ sub: 'alice', tenant: 'acme', tidings: { enqueue } })
    tokens.bob = await signToken({ sub: 'bob', tenant: 'acme', tidings: { enqueue } })
    // Same user id in another tenant: a different owner.
    tokens.mallory = await signToken({ sub: 'alice', tenant: 'evil', tidings: { enqueue } })
    tokens.reader = await signToken({ sub: 'carol' })
    tokens.admin = await signToken({ sub: 'root', tidings: { admin: true } })
  })
  after(async () => {
    for (const g of gates.values()) g.resolve()
    await srv.close()
  })

  it('enqueues for the caller, who sees the job; another user gets 404; an admin sees every job', async () => {
    const r = await call('POST', `${srv.url}/v1/jobs`, tokens.alice, { name: 'test.quick', payload: { n: 7 } })
    assert.equal(r.status, 202)
    assert.equal(r.body.created, true)
    assert.equal(typeof r.body.id, 'string')
    assert.deepEqual(r.body.job.owner, { user: 'alice', tenant: 'acme' })
    const id: string = r.body.id
    const bobs = await call('POST', `${srv.url}/v1/jobs`, tokens.bob, { name: 'test.quick', payload: { n: 8 } })
    assert.equal(bobs.status, 202)

    assert.equal((await call('GET', `${srv.url}/v1/jobs/${id}`, tokens.alice)).status, 200)
    for (const other of [tokens.bob, tokens.mallory, tokens.reader]) {
      const denied = await call('GET', `${srv.url}/v1/jobs/${id}`, other)
      assert.equal(denied.status, 404)
      assert.equal(denied.body.error.code, 'TIDINGS_ERR_JOB_NOT_FOUND')
    }
    const adminView = await call('GET', `${srv.url}/v1/jobs/${id}`, tokens.admin)
    assert.equal(adminView.status, 200)
    assert.equal(adminView.body.id, id)

    const alicesList = await call('GET', `${srv.url}/v1/jobs?name=test.quick`, tokens.alice)
    assert.deepEqual(alicesList.body.jobs.map((j: { id: string }) => j.id), [id])
    const bobsList = await call('GET', `${srv.url}/v1/jobs?name=test.quick`, tokens.bob)
    assert.deepEqual(bobsList.body.jobs.map((j: { id: string }) => j.id), [bobs.body.id])
    assert.deepEqual((await call('GET', `${srv.url}/v1/jobs`, tokens.mallory)).body.jobs, [])
    const all = await call('GET', `${srv.url}/v1/jobs?name=test.quick`, tokens.admin)
    assert.deepEqual(all.body.jobs.map((j: { id: string }) => j.id), [bobs.body.id, id])
    const filtered = await call('GET', `${srv.url}/v1/jobs?name=test.quick&user=alice&tenant=acme`, tokens.admin)
    assert.deepEqual(filtered.body.jobs.map((j: { id: string }) => j.id), [id])
    const paged = await call('GET', `${srv.url}/v1/jobs?name=test.quick&limit=1`, tokens.admin)
    assert.equal(paged.body.jobs.length, 1)
    const page2 = await call('GET', `${srv.url}/v1/jobs?name=test.quick&limit=1&cursor=${encodeURIComponent(paged.body.next)}`, tokens.admin)
    assert.deepEqual(page2.body.jobs.map((j: { id: string }) => j.id), [id])
  })

  it('lets the owner, and only the owner (or an admin), follow job:{id} and see its whole life from followFrom', async () => {
    const r = await call('POST', `${srv.url}/v1/jobs`, tokens.alice, { name: 'test.gate', payload: { gate: 'follow', steps: 2 } })
    assert.equal(r.status, 202)
    const id: string = r.body.id
    const url = eventsUrl(srv.url, [`job:${id}`])
    const rec = new SseRecorder(url, { types: JOB_TYPES, token: tokens.alice, lastEventId: r.body.followFrom })
    await rec.opened()
    await rec.waitFor(3)
    gate('follow').resolve()
    await rec.waitFor(5)
    assert.deepEqual(rec.events.map((e) => e.type), ['job.queued', 'job.started', 'job.progress', 'job.progress', 'job.succeeded'])
    assert.ok(rec.events.every((e) => e.data.tenant === 'acme' && (e.data.job as { id: string }).id === id))
    rec.close()

    for (const [who, token] of [['bob', tokens.bob], ['mallory', tokens.mallory]] as const) {
      const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } })
      assert.equal(res.status, 403, who)
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'TIDINGS_ERR_FORBIDDEN_CHANNEL')
    }
    const pattern = await fetch(eventsUrl(srv.url, ['job:*']), { headers: { authorization: `Bearer ${tokens.alice}` } })
    assert.equal(pattern.status, 403, 'owning a job never grants a pattern')
    await pattern.body?.cancel()
    const history = await call('GET', `${srv.url}/v1/history?channel=job:${id}`, tokens.alice)
    assert.equal(history.status, 200)
    assert.deepEqual(history.body.events.map((e: { event: { type: string } }) => e.event.type), ['job.queued', 'job.started', 'job.progress', 'job.progress', 'job.succeeded'])
    const adminStream = await fetch(url, { headers: { authorization: `Bearer ${tokens.admin}` } })
    assert.equal(adminStream.status, 200)
    await adminStream.body?.cancel()
  })

  it('lets the owner cancel and retry; others get 404; a finished job answers 409 to cancel', async () => {
    const r = await call('POST', `${srv.url}/v1/jobs`, tokens.alice, { name: 'test.gate', payload: { gate: 'never' } })
    const id: string = r.body.id
    const rec = new SseRecorder(eventsUrl(srv.url, [`job:${id}`]), { types: JOB_TYPES, token: tokens.alice, lastEventId: r.body.followFrom })
    await rec.waitFor(3)
    const denied = await call('POST', `${srv.url}/v1/jobs/${id}/cancel`, tokens.bob)
    assert.equal(denied.status, 404)
    const cancel = await call('POST', `${srv.url}/v1/jobs/${id}/cancel`, tokens.alice)
    assert.equal(cancel.status, 202)
    assert.equal(cancel.body.outcome, 'requested')
    await rec.waitFor(4)
    assert.equal(rec.events.at(-1)!.type, 'job.cancelled')
    assert.equal((await call('GET', `${srv.url}/v1/jobs/${id}`, tokens.alice)).body.status, 'cancelled')
    const again = await call('POST', `${srv.url}/v1/jobs/${id}/cancel`, tokens.alice)
    assert.equal(again.status, 409)
    assert.equal(again.body.error.code, 'TIDINGS_ERR_JOB_NOT_CANCELLABLE')
    assert.equal((await call('POST', `${srv.url}/v1/jobs/${id}/retry`, tokens.bob)).status, 404)
    gate('never').resolve()
    const retried = await call('POST', `${srv.url}/v1/jobs/${id}/retry`, tokens.alice)
    assert.equal(retried.status, 202)
    await rec.waitFor(9)
    assert.deepEqual(rec.events.slice(4).map((e) => e.type), ['job.queued', 'job.started', 'job.progress', 'job.progress', 'job.succeeded'])
    rec.close()
    const notRetryable = await call('POST', `${srv.url}/v1/jobs/${id}/retry`, tokens.admin)
    assert.equal(notRetryable.status, 409)
    assert.equal(notRetryable.body.error.code, 'TIDINGS_ERR_JOB_NOT_RETRYABLE')
  })

  it('answers bad input with a coded 4xx and enqueues nothing', async () => {
    const before = (await call('GET', `${srv.url}/v1/jobs?limit=500`, tokens.admin)).body.jobs.length
    const headBefore = await srv.tidings.log.head()
    const cases: [string, string, unknown, number, string][] = [
      ['unknown job', tokens.admin, { name: 'test.nope', payload: {} }, 400, 'TIDINGS_ERR_UNKNOWN_JOB'],
      ['payload failing its schema', tokens.alice, { name: 'test.quick', payload: { n: 'seven' } }, 400, 'TIDINGS_ERR_INVALID_PAYLOAD'],
      ['missing payload', tokens.alice, { name: 'test.quick' }, 400, 'TIDINGS_ERR_INVALID_PAYLOAD'],
      ['negative delay', tokens.alice, { name: 'test.quick', payload: { n: 1 }, delay: -1 }, 400, 'TIDINGS_ERR_INVALID_JOB_OPTIONS'],
      ['bad runAt', tokens.alice, { name: 'test.quick', payload: { n: 1 }, runAt: 'tomorrow' }, 400, 'TIDINGS_ERR_INVALID_JOB_OPTIONS'],
      ['priority out of range', tokens.alice, { name: 'test.quick', payload: { n: 1 }, priority: 5000 }, 400, 'TIDINGS_ERR_INVALID_JOB_OPTIONS'],
      ['unknown field', tokens.alice, { name: 'test.quick', payload: { n: 1 }, queue: 'x' }, 400, 'TIDINGS_ERR_INVALID_JOB_OPTIONS'],
      ['no name', tokens.alice, { payload: { n: 1 } }, 400, 'TIDINGS_ERR_INVALID_JOB_OPTIONS'],
      ['a job the token may not enqueue', tokens.alice, { name: 'admin.only', payload: {} }, 403, 'TIDINGS_ERR_FORBIDDEN'],
      ['a token without enqueue rights', tokens.reader, { name: 'test.quick', payload: { n: 1 } }, 403, 'TIDINGS_ERR_FORBIDDEN'],
    ]
    for (const [label, token, body, status, code] of cases) {
      const r = await call('POST', `${srv.url}/v1/jobs`, token, body)
      assert.deepEqual([r.status, r.body.error?.code], [status, code], label)
    }
    const schema = await call('POST', `${srv.url}/v1/jobs`, tokens.alice, { name: 'test.quick', payload: { n: 'seven' } })
    assert.deepEqual(schema.body.error.details[0].path, ['n'])
    const badCron = await call('POST', `${srv.url}/v1/schedules`, tokens.admin, { name: 'bad', cron: '99 * * * *', job: 'test.quick', payload: { n: 1 } })
    assert.deepEqual([badCron.status, badCron.body.error.code], [400, 'TIDINGS_ERR_INVALID_SCHEDULE'])
    const badJob = await call('POST', `${srv.url}/v1/schedules`, tokens.admin, { name: 'bad', cron: '* * * * *', job: 'test.nope' })
    assert.deepEqual([badJob.status, badJob.body.error.code], [400, 'TIDINGS_ERR_UNKNOWN_JOB'])
    const badStatus = await call('GET', `${srv.url}/v1/jobs?status=sleeping`, tokens.alice)
    assert.deepEqual([badStatus.status, badStatus.body.error.code], [400, 'TIDINGS_ERR_INVALID_QUERY'])
    assert.equal((await call('GET', `${srv.url}/v1/jobs?limit=500`, tokens.admin)).body.jobs.length, before)
    assert.equal(await srv.tidings.log.head(), headBefore, 'no event was published')
    assert.deepEqual((await call('GET', `${srv.url}/v1/schedules`, tokens.admin)).body.schedules, [])
  })

  it('scopes a dedup key to its owner', async () => {
    const a1 = await call('POST', `${srv.url}/v1/jobs`, tokens.alice, { name: 'test.quick', payload: { n: 1 }, key: 'invoice-1' })
    const a2 = await call('POST', `${srv.url}/v1/jobs`, tokens.alice, { name: 'test.quick', payload: { n: 1 }, key: 'invoice-1' })
    const b1 = await call('POST', `${srv.url}/v1/jobs`, tokens.bob, { name: 'test.quick', payload: { n: 1 }, key: 'invoice-1' })
    assert.equal(a1.status, 202)
    assert.equal(a2.status, 200)
    assert.equal(a2.body.created, false)
    assert.equal(a2.body.id, a1.body.id)
    assert.equal(b1.status, 202)
    assert.notEqual(b1.body.id, a1.body.id)
  })

  it('keeps schedules for admins: create, read, change, delete', async () => {
    for (const [method, path] of [['GET', '/v1/schedules'], ['POST', '/v1/schedules'], ['GET', '/v1/schedules/x'], ['PATCH', '/v1/schedules/x'], ['DELETE', '/v1/schedules/x']]) {
      const r = await call(method!, `${srv.url}${path}`, tokens.alice, method === 'POST' || method === 'PATCH' ? {} : undefined)
      assert.deepEqual([r.status, r.body.error.code], [403, 'TIDINGS_ERR_FORBIDDEN'], `${method} ${path}`)
    }
    const created = await call('POST', `${srv.url}/v1/schedules`, tokens.admin, { name: 'hourly', cron: '0 * * * *', job: 'test.quick', payload: { n: 3 }, timezone: 'Asia/Tokyo' })
    assert.equal(created.status, 201)
    assert.equal(created.body.enabled, true)
    assert.ok(created.body.nextRunAt)
    const exists = await call('POST', `${srv.url}/v1/schedules`, tokens.admin, { name: 'hourly', cron: '0 * * * *', job: 'test.quick', payload: { n: 3 } })
    assert.deepEqual([exists.status, exists.body.error.code], [409, 'TIDINGS_ERR_SCHEDULE_EXISTS'])
    const patched = await call('PATCH', `${srv.url}/v1/schedules/hourly`, tokens.admin, { enabled: false, payload: { n: 4 } })
    assert.equal(patched.status, 200)
    assert.equal(patched.body.enabled, false)
    assert.equal(patched.body.nextRunAt, null)
    assert.deepEqual(patched.body.payload, { n: 4 })
    assert.equal(patched.body.timezone, 'Asia/Tokyo')
    assert.deepEqual((await call('GET', `${srv.url}/v1/schedules`, tokens.admin)).body.schedules.map((s: { name: string }) => s.name), ['hourly'])
    assert.equal((await call('GET', `${srv.url}/v1/schedules/hourly`, tokens.admin)).body.cron, '0 * * * *')
    assert.equal((await call('DELETE', `${srv.url}/v1/schedules/hourly`, tokens.admin)).status, 204)
    const gone = await call('GET', `${srv.url}/v1/schedules/hourly`, tokens.admin)
    assert.deepEqual([gone.status, gone.body.error.code], [404, 'TIDINGS_ERR_SCHEDULE_NOT_FOUND'])
  })
})
