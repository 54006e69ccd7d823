/**
 * The WebhookStore conformance suite: every store's test file calls
 * `webhookStoreConformance(name, harness)`. It uses the port only.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { newEventId, type TidingsEvent } from '../../src/core/envelope.js'
import { NEW_HEALTH, type WebhookEndpoint } from '../../src/webhooks/endpoints.js'
import { generateSecret } from '../../src/webhooks/signing.js'
import type { WebhookStore } from '../../src/webhooks/store.js'

/** How the suite gets stores from an engine. */
export interface WebhookStoreHarness {
  /** A fresh, empty store of its own. */
  create(): Promise<WebhookStore>
  cleanup?(): Promise<void>
}

function endpoint(fields: Partial<WebhookEndpoint> = {}): WebhookEndpoint {
  const now = new Date().toISOString()
  return {
    id: newEventId(),
    url: 'https://example.com/hook',
    eventTypes: ['order.*'],
    channels: null,
    tenant: null,
    headers: {},
    rateLimit: null,
    enabled: true,
    retrySchedule: null,
    secrets: [{ secret: generateSecret(), createdAt: now, expiresAt: null }],
    cursor: 'e1.0',
    health: NEW_HEALTH,
    createdAt: now,
    updatedAt: now,
    revision: 1,
    ...fields,
  }
}

function event(n: number): TidingsEvent {
  return { id: newEventId(), schemaVersion: 1, type: 'order.created', channels: ['shop'], tenant: null, key: null, occurredAt: new Date().toISOString(), data: { n }, job: null, traceparent: null }
}

/** Runs the suite against one store engine. */
export function webhookStoreConformance(name: string, harness: WebhookStoreHarness): void {
  describe(`WebhookStore conformance: ${name}`, () => {
    const stores: WebhookStore[] = []
    const fresh = async (): Promise<WebhookStore> => {
      const s = await harness.create()
      await s.ready()
      stores.push(s)
      return s
    }
    after(async () => {
      for (const s of stores) await s.close()
      await harness.cleanup?.()
    })

    it('stores, lists, changes and deletes endpoints, bumping the revision on each change', async () => {
      const store = await fresh()
      const a = endpoint({ tenant: 'acme' })
      const b = endpoint({ enabled: false })
      await store.insertEndpoint(a)
      await store.insertEndpoint(b)
      assert.deepEqual(await store.getEndpoint(a.id), a)
      assert.equal(await store.getEndpoint('nope'), null)
      assert.deepEqual((await store.listEndpoints({ tenant: 'acme' })).map((e) => e.id), [a.id])
      assert.deepEqual((await store.listEndpoints({ enabled: true })).map((e) => e.id), [a.id])
      assert.equal((await store.listEndpoints()).length, 2)
      const at = new Date()
      const changed = await store.updateEndpoint(a.id, { eventTypes: ['x.*'], channels: ['c'], health: { lastStatus: 200 } }, at)
      assert.deepEqual([changed?.eventTypes, changed?.channels, changed?.health.lastStatus, changed?.health.failureStreak, changed?.revision, changed?.updatedAt, changed?.url], [['x.*'], ['c'], 200, 0, 2, at.toISOString(), a.url])
      assert.equal(await store.updateEndpoint('nope', { enabled: false }, at), null)
      assert.equal(await store.deleteEndpoint(a.id), true)
      assert.equal(await store.deleteEndpoint(a.id), false)
      assert.equal(await store.getEndpoint(a.id), null)
    })

    it('disables an endpoint once, whoever asks twice', async () => {
      const store = await fresh()
      const a = endpoint()
      await store.insertEndpoint(a)
      const [first, second] = await Promise.all([store.disableEndpoint(a.id, 'gone', new Date()), store.disableEndpoint(a.id, 'failing', new Date())])
      assert.equal([first, second].filter((r) => r !== null).length, 1)
      const e = await store.getEndpoint(a.id)
      assert.equal(e?.enabled, false)
      assert.equal(e?.health.disabledReason, (first ?? second)!.health.disabledReason)
    })

    it('folds attempt outcomes into the health: a streak and failingSince until a success clears them', async () => {
      const store = await fresh()
      const a = endpoint()
      await store.insertEndpoint(a)
      const t1 = new Date('2026-01-01T00:00:00Z')
      await store.recordOutcome(a.id, { ok: false, status: 500, at: t1 })
      const h2 = await store.recordOutcome(a.id, { ok: false, status: 0, at: new Date('2026-01-01T00:01:00Z') })
      assert.deepEqual([h2?.failureStreak, h2?.failingSince, h2?.lastStatus, h2?.lastFailureAt], [2, t1.toISOString(), 0, '2026-01-01T00:01:00.000Z'])
      const h3 = await store.recordOutcome(a.id, { ok: true, status: 204, at: new Date('2026-01-01T00:02:00Z') })
      assert.deepEqual([h3?.failureStreak, h3?.failingSince, h3?.lastSuccessAt], [0, null, '2026-01-01T00:02:00.000Z'])
      assert.equal(await store.recordOutcome('nope', { ok: true, status: 200, at: t1 }), null)
    })

    it('lets one holder at a time claim an endpoint, and stores cursors only for the holder', async () => {
      const store = await fresh()
      const a = endpoint()
      await store.insertEndpoint(a)
      const now = new Date()
      assert.equal(await store.claimEndpoint(a.id, 'd1', 10_000, now), true)
      assert.equal(await store.claimEndpoint(a.id, 'd2', 10_000, now), false)
      assert.equal(await store.claimEndpoint(a.id, 'd1', 10_000, now), true, 'renewal')
      assert.equal(await store.saveCursor(a.id, 'd2', 'e1.9', now), false)
      assert.equal(await store.saveCursor(a.id, 'd1', 'e1.5', now), true)
      assert.equal((await store.getEndpoint(a.id))?.cursor, 'e1.5')
      assert.equal(await store.claimEndpoint(a.id, 'd2', 10_000, new Date(now.getTime() + 10_001)), true, 'an expired claim can be taken')
      assert.equal(await store.saveCursor(a.id, 'd1', 'e1.7', now), false, 'the old holder can no longer store')
      await store.releaseEndpoint(a.id, 'd1')
      assert.equal(await store.claimEndpoint(a.id, 'd1', 10_000, now), false, 'releasing a claim one does not hold changes nothing')
      await store.releaseEndpoint(a.id, 'd2')
      assert.equal(await store.claimEndpoint(a.id, 'd1', 10_000, now), true)
      assert.equal(await store.claimEndpoint('nope', 'd1', 10_000, now), false)
    })

    it('keeps one delivery per (endpoint, event), and numbers attempts in the same step as it updates the delivery', async () => {
      const store = await fresh()
      const a = endpoint()
      await store.insertEndpoint(a)
      const ev = event(1)
      const [x, y] = await Promise.all([
        store.createDelivery({ id: newEventId(), endpointId: a.id, event: ev, trigger: 'scheduled', at: new Date() }),
        store.createDelivery({ id: newEventId(), endpointId: a.id, event: ev, trigger: 'manual', at: new Date() }),
      ])
      assert.equal([x.created, y.created].filter(Boolean).length, 1)
      assert.equal(x.delivery.id, y.delivery.id)
      const d = x.delivery
      assert.deepEqual([d.status, d.attempts, d.runs, d.jobId, d.eventId, d.eventType], ['pending', 0, 1, null, ev.id, 'order.created'])
      assert.deepEqual((await store.getDelivery(d.id))?.event, ev)
      assert.equal((await store.findDelivery(a.id, ev.id))?.id, d.id)
      assert.equal(await store.findDelivery(a.id, 'other'), null)
      const base = { deliveryId: d.id, endpointId: a.id, eventId: ev.id, url: a.url, durationMs: 3, responseBody: 'no', error: null, trigger: 'scheduled' as const }
      const r1 = await store.recordAttempt({ ...base, id: newEventId(), at: new Date().toISOString(), status: 500 }, { lastStatus: 500, nextAttemptAt: new Date().toISOString() })
      const r2 = await store.recordAttempt({ ...base, id: newEventId(), at: new Date().toISOString(), status: 200 }, { status: 'succeeded', lastStatus: 200, nextAttemptAt: null })
      assert.deepEqual([r1?.attempt.attempt, r2?.attempt.attempt, r2?.delivery.attempts, r2?.delivery.status, r2?.delivery.nextAttemptAt], [1, 2, 2, 'succeeded', null])
      assert.deepEqual((await store.listAttempts(d.id)).map((t) => t.status), [500, 200])
      const rerun = await store.updateDelivery(d.id, { status: 'pending', addRuns: 1, nextTrigger: 'manual', jobId: 'j2' }, new Date())
      assert.deepEqual([rerun?.runs, rerun?.status, rerun?.nextTrigger, rerun?.jobId, rerun?.attempts], [2, 'pending', 'manual', 'j2', 2])
      assert.equal(await store.recordAttempt({ ...base, deliveryId: 'nope', id: newEventId(), at: new Date().toISOString(), status: 200 }, {}), null)
    })

    it('lists deliveries newest first, by status and since a time, a page at a time; deleting the endpoint removes them', async () => {
      const store = await fresh()
      const a = endpoint()
      await store.insertEndpoint(a)
      const ids: string[] = []
      for (let i = 0; i < 7; i++) {
        const { delivery } = await store.createDelivery({ id: newEventId(), endpointId: a.id, event: event(i), trigger: 'scheduled', at: new Date(Date.UTC(2026, 0, 1, 0, i)) })
        ids.push(delivery.id)
        if (i % 2 === 0) await store.updateDelivery(delivery.id, { status: 'failed' }, new Date())
      }
      const p1 = await store.listDeliveries(a.id, { limit: 3 })
      assert.deepEqual(p1.deliveries.map((d) => d.id), [ids[6], ids[5], ids[4]])
      const p2 = await store.listDeliveries(a.id, { limit: 3, cursor: p1.next })
      assert.deepEqual(p2.deliveries.map((d) => d.id), [ids[3], ids[2], ids[1]])
      const p3 = await store.listDeliveries(a.id, { limit: 3, cursor: p2.next })
      assert.deepEqual([p3.deliveries.map((d) => d.id), p3.next], [[ids[0]], null])
      assert.deepEqual((await store.listDeliveries(a.id, { limit: 10, status: 'failed' })).deliveries.map((d) => d.id), [ids[6], ids[4], ids[2], ids[0]])
      assert.deepEqual((await store.listDeliveries(a.id, { limit: 10, since: new Date(Date.UTC(2026, 0, 1, 0, 5)) })).deliveries.map((d) => d.id), [ids[6], ids[5]])
      await store.deleteEndpoint(a.id)
      assert.equal(await store.getDelivery(ids[0]!), null)
      assert.deepEqual((await store.listDeliveries(a.id, { limit: 10 })).deliveries, [])
    })

    it('hands out copies: changing a returned record changes nothing stored', async () => {
      const store = await fresh()
      const a = endpoint()
      await store.insertEndpoint(a)
      const got = (await store.getEndpoint(a.id)) as unknown as { eventTypes: string[] }
      got.eventTypes.push('mutated')
      assert.deepEqual((await store.getEndpoint(a.id))?.eventTypes, ['order.*'])
    })
  })
}
