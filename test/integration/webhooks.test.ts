import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { isTidingsError } from '../../src/core/errors.js'
import { MemoryEventLog } from '../../src/engines/memory/event-log.js'
import { MemoryJobQueue } from '../../src/engines/memory/job-queue.js'
import { EventCollector } from '../../src/testing/index.js'
import { createTidings, type Tidings, type TidingsOptions } from '../../src/tidings.js'
import { MemoryWebhookStore } from '../../src/webhooks/memory-store.js'
import type { WebhooksOptions } from '../../src/webhooks/webhooks.js'
import { eventually } from '../helpers/jobs.js'
import { Receiver } from '../helpers/webhooks.js'

const FAST = [0.02, 0.02, 0.02]
const instances = new Set<Tidings>()
after(async () => {
  for (const t of instances) await t.close()
})

/** A memory Tidings with webhooks dispatching and a worker delivering; private targets allowed (the receiver is on 127.0.0.1). */
async function start(webhooks: WebhooksOptions = {}, shared: Pick<TidingsOptions, 'events' | 'jobs'> = {}): Promise<{ tidings: Tidings; events: EventCollector }> {
  const tidings = createTidings({
    auth: { open: true },
    ...shared,
    webhooks: { ssrf: { allowPrivate: true }, retrySchedule: FAST, dispatcher: { syncMs: 50, leaseMs: 300 }, ...webhooks },
  })
  instances.add(tidings)
  await tidings.ready()
  const events = new EventCollector(tidings, ['webhook:*'])
  await events.ready()
  await tidings.webhooks.start()
  await tidings.startWorker({ concurrency: 8, heartbeatMs: 200 })
  return { tidings, events }
}

async function stop(t: Tidings): Promise<void> {
  instances.delete(t)
  await t.close()
}

const orderEvent = (n: number) => ({ type: 'order.created', channels: [`user:${n % 3}`], data: { n } })

describe('webhook delivery', () => {
  it('delivers each matching event once, signed so that standardwebhooks verifies it, with the envelope as the body and the custom headers', async () => {
    const receiver = new Receiver()
    await receiver.start()
    const { tidings } = await start()
    const ep = await tidings.webhooks.create({ url: receiver.url, eventTypes: ['order.*'], channels: ['user:*'], headers: { 'X-Team': 'billing' } })
    receiver.secret = ep.secret
    assert.match(ep.secret, /^whsec_/)
    const published = [
      await tidings.publish({ type: 'invoice.paid', channels: ['user:1'] }),
      await tidings.publish(orderEvent(1)),
      await tidings.publish({ type: 'order.created', channels: ['team:1'] }),
      await tidings.publish({ ...orderEvent(2), type: 'order.item.added' }),
      await tidings.publish(orderEvent(3)),
    ]
    const wanted = [published[1]!, published[3]!, published[4]!]
    await receiver.waitFor(3)
    assert.deepEqual(new Set(receiver.ids()), new Set(wanted.map((p) => p.id)))
    for (const hook of receiver.hooks) {
      assert.equal(hook.verified, true, 'standardwebhooks verifies the signature')
      const sent = wanted.find((p) => p.id === hook.headers['webhook-id'])!
      assert.deepEqual(JSON.parse(hook.body), JSON.parse(JSON.stringify(sent.event)), 'the body is the envelope')
      assert.equal(hook.headers['content-type'], 'application/json')
      assert.equal(hook.headers['x-team'], 'billing')
      assert.match(String(hook.headers['webhook-timestamp']), /^\d{10}$/)
    }
    const page = await eventually(async () => {
      const p = await tidings.webhooks.deliveries(ep.id)
      return p.deliveries.length === 3 && p.deliveries.every((d) => d.status === 'succeeded') && p
    })
    for (const d of page.deliveries) {
      assert.equal(d.attempts, 1)
      assert.equal(d.attemptLog.length, 1)
      assert.equal(d.attemptLog[0]!.status, 204)
      assert.equal(d.attemptLog[0]!.trigger, 'scheduled')
    }
    assert.equal(receiver.hooks.length, 3, 'nothing delivered twice, nothing unmatched delivered')
    const health = (await tidings.webhooks.get(ep.id))!.health
    assert.equal(health.failureStreak, 0)
    assert.ok(health.lastSuccessAt !== null)
  })

  it('retries a receiver that fails 3 times, then succeeds: 4 attempts logged, the same webhook-id each time, every attempt verified', async () => {
    const receiver = new Receiver((h) => (h.n <= 3 ? { status: 500, body: `boom ${h.n}` } : { status: 200, body: 'ok' }))
    await receiver.start()
    const { tidings } = await start()
    const ep = await tidings.webhooks.create({ url: receiver.url, eventTypes: ['order.created'] })
    receiver.secret = ep.secret
    const sent = await tidings.publish(orderEvent(1))
    await receiver.waitFor(4)
    assert.deepEqual(receiver.ids(), [sent.id, sent.id, sent.id, sent.id])
    assert.ok(receiver.hooks.every((h) => h.verified === true))
    const delivery = await eventually(async () => {
      const [d] = (await tidings.webhooks.deliveries(ep.id)).deliveries
      return d?.status === 'succeeded' && d
    })
    assert.equal(delivery.attempts, 4)
    assert.deepEqual(delivery.attemptLog.map((a) => [a.attempt, a.status, a.responseBody, a.trigger]), [
      [1, 500, 'boom 1', 'scheduled'],
      [2, 500, 'boom 2', 'scheduled'],
      [3, 500, 'boom 3', 'scheduled'],
      [4, 200, 'ok', 'scheduled'],
    ])
    for (const a of delivery.attemptLog) {
      assert.equal(a.url, receiver.url)
      assert.equal(a.eventId, sent.id)
      assert.ok(a.durationMs >= 0 && !Number.isNaN(Date.parse(a.at)))
    }
    const job = await tidings.getJob(delivery.jobId!)
    assert.equal(job?.status, 'succeeded')
    assert.equal(job?.attempts, 4)
  })

  it('a receiver down while 100 events are published, then up: recover delivers all 100, once each', async () => {
    const receiver = new Receiver()
    await receiver.start()
    const port = receiver.port
    await receiver.stop()
    const { tidings, events } = await start()
    const ep = await tidings.webhooks.create({ url: `http://127.0.0.1:${port}/hook`, eventTypes: ['order.*'], retrySchedule: [] })
    receiver.secret = ep.secret
    const since = new Date()
    const published = await tidings.publish(Array.from({ length: 100 }, (_, i) => orderEvent(i)))
    await events.waitFor('webhook.exhausted', { count: 100, timeoutMs: 20_000 })
    const failed = await tidings.webhooks.deliveries(ep.id, { status: 'failed', limit: 500 })
    assert.equal(failed.deliveries.length, 100)
    assert.ok(failed.deliveries.every((d) => d.attempts === 1 && d.attemptLog[0]!.status === 0 && d.attemptLog[0]!.error !== null))

    await receiver.start(port)
    assert.deepEqual(await tidings.webhooks.recover(ep.id, { since }), { recovered: 100 })
    await receiver.waitFor(100, 20_000)
    await eventually(async () => (await tidings.webhooks.deliveries(ep.id, { status: 'succeeded', limit: 500 })).deliveries.length === 100, 20_000)
    assert.equal(receiver.hooks.length, 100, 'once each')
    assert.deepEqual(new Set(receiver.ids()), new Set(published.map((p) => p.id)))
    assert.ok(receiver.hooks.every((h) => h.verified === true))
    const one = (await tidings.webhooks.deliveries(ep.id, { limit: 1 })).deliveries[0]!
    assert.deepEqual(one.attemptLog.map((a) => [a.status === 0 ? 0 : a.status, a.trigger]), [[0, 'scheduled'], [204, 'manual']])
    assert.equal(one.runs, 2)
    assert.deepEqual(await tidings.webhooks.recover(ep.id, { since }), { recovered: 0 }, 'nothing left to recover')
  })

  it('loses nothing when the dispatcher dies mid-stream and a new instance takes over from the stored cursor', async () => {
    const receiver = new Receiver()
    await receiver.start()
    const log = new MemoryEventLog()
    const queue = new MemoryJobQueue()
    const store = new MemoryWebhookStore()
    const shared = { events: log, jobs: queue }
    const first = await start({ store }, shared)
    const ep = await first.tidings.webhooks.create({ url: receiver.url, eventTypes: ['order.*'] })
    const ids: string[] = []
    for (let i = 0; i < 40; i++) {
      ids.push((await first.tidings.publish(orderEvent(i))).id)
      if (i === 19) first.tidings.webhooks.dispatcher.simulateCrash()
    }
    const cursorAtCrash = (await store.getEndpoint(ep.id))!.cursor
    assert.ok((await store.listDeliveries(ep.id, { limit: 500 })).deliveries.length <= 20, 'the dead dispatcher enqueued nothing published after it died')
    await stop(first.tidings)
    for (let i = 40; i < 60; i++) ids.push(await publishVia(log, i))

    const second = await start({ store }, shared)
    await receiver.waitFor(60, 20_000)
    await eventually(async () => (await second.tidings.webhooks.deliveries(ep.id, { status: 'succeeded', limit: 500 })).deliveries.length === 60, 20_000)
    assert.equal(receiver.hooks.length, 60, 'each event once: what the dead dispatcher enqueued but had not stored a cursor for was absorbed')
    assert.deepEqual(new Set(receiver.ids()), new Set(ids))
    assert.notEqual((await store.getEndpoint(ep.id))!.cursor, cursorAtCrash, 'the new dispatcher stored its progress')
    assert.deepEqual(second.tidings.webhooks.dispatcher.following, [ep.id])
  })

  it('two dispatchers on one store: one follows the endpoint, each event is delivered once', async () => {
    const receiver = new Receiver()
    await receiver.start()
    const store = new MemoryWebhookStore()
    const shared = { events: new MemoryEventLog(), jobs: new MemoryJobQueue() }
    const a = await start({ store }, shared)
    const b = await start({ store }, shared)
    const ep = await a.tidings.webhooks.create({ url: receiver.url, eventTypes: ['order.*'] })
    await Promise.all([a.tidings.webhooks.dispatcher.sync(), b.tidings.webhooks.dispatcher.sync()])
    const holders = [a, b].filter((n) => n.tidings.webhooks.dispatcher.following.includes(ep.id))
    assert.equal(holders.length, 1, 'exactly one dispatcher holds the endpoint')
    const ids = (await b.tidings.publish(Array.from({ length: 50 }, (_, i) => orderEvent(i)))).map((p) => p.id)
    await receiver.waitForIds(ids)
    await eventually(async () => (await a.tidings.webhooks.deliveries(ep.id, { status: 'succeeded', limit: 500 })).deliveries.length === 50)
    assert.equal(receiver.hooks.length, 50)
  })

  it('410 Gone disables the endpoint, announces it and stops its deliveries; enabling it resumes from its cursor', async () => {
    let gone = true
    const receiver = new Receiver(() => ({ status: gone ? 410 : 200 }))
    await receiver.start()
    const { tidings, events } = await start()
    const ep = await tidings.webhooks.create({ url: receiver.url, eventTypes: ['order.*'] })
    const first = await tidings.publish(orderEvent(1))
    const disabled = await events.waitFor('webhook.endpoint.disabled')
    assert.deepEqual(disabled.channels, [`webhook:${ep.id}`])
    assert.deepEqual({ ...(disabled.data as object), failingSince: null }, { endpointId: ep.id, url: receiver.url, reason: 'gone', lastStatus: 410, failingSince: null })
    const view = (await tidings.webhooks.get(ep.id))!
    assert.equal(view.enabled, false)
    assert.equal(view.health.disabledReason, 'gone')
    assert.equal(view.health.lastStatus, 410)
    const [d] = (await tidings.webhooks.deliveries(ep.id)).deliveries
    assert.deepEqual([d!.status, d!.failureReason, d!.attempts], ['failed', 'gone', 1], 'no retry after 410')
    await assert.rejects(tidings.webhooks.resend(ep.id, d!.id), (err: unknown) => isTidingsError(err, 'TIDINGS_ERR_WEBHOOK_DISABLED'))
    await eventually(() => tidings.webhooks.dispatcher.following.length === 0)

    const whileOff = await tidings.publish(orderEvent(2))
    gone = false
    const enabled = await tidings.webhooks.update(ep.id, { enabled: true })
    assert.equal(enabled.health.disabledReason, null)
    await receiver.waitFor(2)
    assert.deepEqual(receiver.ids(), [first.id, whileOff.id])
    await tidings.webhooks.resend(ep.id, d!.id)
    await receiver.waitFor(3)
    assert.equal(receiver.ids()[2], first.id)
  })

  it('a 3xx is a failure: the redirect is not followed, the attempts are logged and webhook.exhausted is published', async () => {
    const receiver = new Receiver((h) => (h.path === '/hook' ? { status: 302, headers: { location: '/elsewhere' } } : { status: 200 }))
    await receiver.start()
    const { tidings, events } = await start()
    const ep = await tidings.webhooks.create({ url: receiver.url, eventTypes: ['order.*'], retrySchedule: [0.01] })
    const sent = await tidings.publish(orderEvent(1))
    const exhausted = await events.waitFor('webhook.exhausted')
    assert.deepEqual(exhausted.data, { endpointId: ep.id, deliveryId: (exhausted.data as { deliveryId: string }).deliveryId, eventId: sent.id, eventType: 'order.created', attempts: 2, lastStatus: 302, url: receiver.url })
    assert.ok(receiver.hooks.every((h) => h.path === '/hook'), 'the Location was never requested')
    assert.equal(receiver.hooks.length, 2)
    const [d] = (await tidings.webhooks.deliveries(ep.id)).deliveries
    assert.deepEqual(d!.attemptLog.map((a) => a.status), [302, 302])
    assert.equal(d!.status, 'failed')
    assert.equal(d!.failureReason, 'exhausted')
    const job = await tidings.getJob(d!.jobId!)
    assert.equal(job?.status, 'failed')
    assert.equal(job?.error?.code, 'TIDINGS_ERR_WEBHOOK_ATTEMPT_FAILED')
  })

  it('logs at most 20 KB of a response body, honours the timeout, and disables an endpoint failing for longer than disableAfterDays', async () => {
    const receiver = new Receiver((h) => (h.n === 1 ? { status: 200, body: 'x'.repeat(30 * 1024) } : null))
    await receiver.start()
    const { tidings, events } = await start({ timeoutMs: 200, disableAfterDays: 0.3 / 86_400 })
    const ep = await tidings.webhooks.create({ url: receiver.url, eventTypes: ['order.*'], retrySchedule: [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1] })
    await tidings.publish(orderEvent(1))
    const big = await eventually(async () => (await tidings.webhooks.deliveries(ep.id, { status: 'succeeded' })).deliveries[0])
    assert.equal(big.attemptLog[0]!.responseBody.length, 20 * 1024)
    await tidings.publish(orderEvent(2))
    const disabled = await events.waitFor('webhook.endpoint.disabled')
    assert.equal((disabled.data as { reason: string }).reason, 'failing')
    const failed = (await tidings.webhooks.deliveries(ep.id, { status: 'failed' })).deliveries[0]!
    assert.ok(failed.attemptLog.length >= 2)
    for (const a of failed.attemptLog) {
      assert.equal(a.status, 0)
      assert.match(a.error!, /timed out after 200 ms/)
    }
    assert.equal(failed.failureReason, 'endpoint disabled')
    assert.equal((await tidings.webhooks.get(ep.id))!.health.disabledReason, 'failing')
  })

  it('replays from the log what the endpoint never received, since a time or after a cursor, without resending what it had', async () => {
    const receiver = new Receiver()
    await receiver.start()
    const { tidings } = await start()
    const since = new Date()
    const before = await tidings.publish([orderEvent(1), { type: 'invoice.paid', channels: ['user:1'] }, orderEvent(2)])
    const ep = await tidings.webhooks.create({ url: receiver.url, eventTypes: ['order.*'] })
    const afterCreate = await tidings.publish(orderEvent(3))
    await receiver.waitFor(1)
    await eventually(async () => (await tidings.webhooks.deliveries(ep.id, { status: 'succeeded' })).deliveries.length === 1)
    const r = await tidings.webhooks.replay(ep.id, { since })
    assert.equal(r.enqueued, 2)
    assert.equal(r.truncated, false)
    await receiver.waitFor(3)
    assert.deepEqual(new Set(receiver.ids()), new Set([before[0]!.id, before[2]!.id, afterCreate.id]))
    const replayed = await eventually(async () => {
      const list = (await tidings.webhooks.deliveries(ep.id, { status: 'succeeded' })).deliveries
      return list.length === 3 && list
    })
    assert.deepEqual(replayed.filter((d) => d.eventId !== afterCreate.id).map((d) => d.attemptLog[0]!.trigger), ['manual', 'manual'])
    assert.equal((await tidings.webhooks.replay(ep.id, { after: before[0]!.cursor! })).enqueued, 0, 'everything was received')
    await assert.rejects(tidings.webhooks.replay(ep.id, {}), (err: unknown) => isTidingsError(err, 'TIDINGS_ERR_INVALID_WEBHOOK'))
    await assert.rejects(tidings.webhooks.replay(ep.id, { after: 'other-epoch.5' }), (err: unknown) => isTidingsError(err, 'TIDINGS_ERR_EPOCH_CHANGED'))
    assert.equal(receiver.hooks.length, 3)
  })

  it('rotating the secret signs with the new and the previous one until the grace period ends', async () => {
    const receiver = new Receiver()
    await receiver.start()
    const { tidings } = await start()
    const ep = await tidings.webhooks.create({ url: receiver.url, eventTypes: ['order.*'] })
    const rotated = await tidings.webhooks.rotateSecret(ep.id)
    assert.notEqual(rotated.secret, ep.secret)
    assert.ok(rotated.endpoint.previousSecretsExpireAt !== null)
    receiver.secret = ep.secret
    await tidings.publish(orderEvent(1))
    await receiver.waitFor(1)
    assert.equal(String(receiver.hooks[0]!.headers['webhook-signature']).split(' ').length, 2)
    assert.equal(receiver.hooks[0]!.verified, true, 'the old secret still verifies')
    const revoked = await tidings.webhooks.rotateSecret(ep.id, { graceMs: 0 })
    assert.equal(revoked.endpoint.previousSecretsExpireAt, null)
    receiver.secret = revoked.secret
    await tidings.publish(orderEvent(2))
    await receiver.waitFor(2)
    assert.equal(String(receiver.hooks[1]!.headers['webhook-signature']).split(' ').length, 1, 'the old secret stopped signing')
    assert.equal(receiver.hooks[1]!.verified, true)
  })
})

describe('webhook SSRF guard at delivery', () => {
  it('connects to the address it checked, and checks again at every attempt (DNS rebinding is refused)', async () => {
    const receiver = new Receiver()
    await receiver.start()
    let answers = 0
    const { tidings } = await start({
      ssrf: {
        allow: ['receiver.test'],
        resolve: async (host) => {
          if (host === 'receiver.test') return [{ address: '127.0.0.1', family: 4 }]
          answers++
          return [{ address: answers === 1 ? '93.184.216.34' : '127.0.0.1', family: 4 }]
        },
      },
    })
    const pinned = await tidings.webhooks.create({ url: `http://receiver.test:${receiver.port}/hook`, eventTypes: ['a.*'] })
    await tidings.publish({ type: 'a.b', channels: ['x'] })
    await receiver.waitFor(1)
    assert.equal(receiver.hooks[0]!.headers.host, `receiver.test:${receiver.port}`, 'the Host is the URL\'s; the socket went to the resolved address')
    await tidings.webhooks.delete(pinned.id)

    const rebinding = await tidings.webhooks.create({ url: `http://rebind.test:${receiver.port}/hook`, eventTypes: ['c.*'], retrySchedule: [] })
    await tidings.publish({ type: 'c.d', channels: ['x'] })
    const [d] = await eventually(async () => {
      const list = (await tidings.webhooks.deliveries(rebinding.id, { status: 'failed' })).deliveries
      return list.length === 1 && list
    })
    assert.equal(d!.attemptLog[0]!.status, 0)
    assert.match(d!.attemptLog[0]!.error!, /TIDINGS|loopback/)
    assert.match(d!.attemptLog[0]!.error!, /loopback address \(rebind\.test resolves to 127\.0\.0\.1\)/)
    assert.equal(receiver.hooks.length, 1, 'the rebound address was never contacted')
  })
})

async function publishVia(log: MemoryEventLog, n: number): Promise<string> {
  const t = createTidings({ events: log })
  const p = await t.publish(orderEvent(n))
  await t.close()
  return p.id
}
