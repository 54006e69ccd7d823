/**
 * Seed 000 keeps working unchanged: its services `PUBLISH` snake_case JSON to `sse:user:{id}` and
 * `sse:broadcast`. Here the publisher is the real `redis-cli` (nothing Node on that side), two
 * hubs each run the ingester, and clients get each event once. The durable wire contract (XADD
 * and the deduplicating EVAL from docs/engines/redis.md) is exercised the same way.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { RedisEventLog } from '../../src/engines/redis/event-log.js'
import { PubSubIngester, type IngestedMessage, type RejectedMessage } from '../../src/engines/redis/ingest.js'
import { engineAvailable } from '../helpers/engines.js'
import { eventsUrl, SseRecorder, startTestServer, type TestServer } from '../helpers/harness.js'
import { OwnRedisServer, redisBinariesAvailable, redisCli } from '../helpers/redis.js'

const TYPES = ['provider.token.expiring', 'security.session.expiring', 'wire.test', 'tidings.reset']

function seed(eventId: string, userId: string, eventType = 'provider.token.expiring'): string {
  return JSON.stringify({
    event_id: eventId,
    event_type: eventType,
    user_id: userId,
    data: { connection_id: 'abcd1234', provider_slug: 'plaid', expires_at: '2026-01-21T00:00:00+00:00' },
    occurred_at: '2026-01-20T02:30:00+00:00',
  })
}

/** The deduplicating append of the wire contract, character for character as documented. */
const WIRE_EVAL =
  "if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) then return redis.call('XADD', KEYS[1], '*', 'event', ARGV[1]) end return false"

type Outcome = { kind: 'ingested' | 'duplicate'; hub: string; m: IngestedMessage } | { kind: 'malformed' | 'failed'; hub: string; m: RejectedMessage }

/** Everything the ingesters reported, in order, with a way to wait for more. */
class Outcomes {
  readonly all: Outcome[] = []
  #waiters: { n: number; resolve: () => void }[] = []

  watch(hub: string, ingester: PubSubIngester): void {
    const push = (o: Outcome): void => {
      this.all.push(o)
      this.#waiters = this.#waiters.filter((w) => (this.all.length >= w.n ? (w.resolve(), false) : true))
    }
    ingester.on('ingested', (m) => push({ kind: 'ingested', hub, m }))
    ingester.on('duplicate', (m) => push({ kind: 'duplicate', hub, m }))
    ingester.on('malformed', (m) => push({ kind: 'malformed', hub, m }))
    ingester.on('failed', (m) => push({ kind: 'failed', hub, m }))
  }

  /** Resolves once `more` outcomes beyond `from` arrived, returning them. */
  async next(from: number, more: number, timeoutMs = 10_000): Promise<Outcome[]> {
    const n = from + more
    if (this.all.length < n) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out with ${this.all.length - from}/${more} ingest outcomes`)), timeoutMs)
        this.#waiters.push({ n, resolve: () => (clearTimeout(timer), resolve()) })
      })
    }
    return this.all.slice(from, n)
  }
}

const skip = (await engineAvailable('redis')) ?? (await redisBinariesAvailable())

describe('Redis: seed 000 publishers and the wire contract', { skip: skip ?? false }, () => {
  let server: OwnRedisServer
  const logs: RedisEventLog[] = []
  const hubs: TestServer[] = []
  const ingesters: PubSubIngester[] = []
  const outcomes = new Outcomes()
  const cli = (...args: string[]): Promise<string> => redisCli(server.port, ...args)

  before(async () => {
    server = await OwnRedisServer.start({ appendonly: false })
    for (const name of ['a', 'b']) {
      // The default prefix: the commands below are exactly the documented ones.
      const log = new RedisEventLog({ url: server.url, clientName: `hub-${name}`, blockMs: 100, redis: { retryStrategy: () => 50 } })
      logs.push(log)
      hubs.push(await startTestServer({ events: log }))
      const ingester = new PubSubIngester(log)
      outcomes.watch(name, ingester)
      await ingester.start()
      ingesters.push(ingester)
    }
  })
  after(async () => {
    for (const i of ingesters) await i.close()
    for (const h of hubs) await h.close()
    for (const l of logs) await l.close()
    await server?.stop()
  })

  it('PUBLISH sse:user:{id} reaches the user once, however many hubs ingest it or times it is published', async () => {
    const rec = new SseRecorder(eventsUrl(hubs[0]!.url, ['user:42']), { types: TYPES })
    await rec.opened()
    const id = '01958f12-3456-7890-abcd-ef0123456789'
    const start = outcomes.all.length
    assert.equal(await cli('PUBLISH', 'sse:user:42', seed(id, '42')), '2', 'both ingesters are subscribed')
    await rec.waitFor(1)
    const first = await outcomes.next(start, 2)
    assert.deepEqual(first.map((o) => o.kind).sort(), ['duplicate', 'ingested'], 'one hub appended it, the other found it there')

    assert.equal(await cli('PUBLISH', 'sse:user:42', seed(id, '42')), '2')
    const again = await outcomes.next(start + 2, 2)
    assert.deepEqual(again.map((o) => o.kind), ['duplicate', 'duplicate'])

    // The channel name wins over user_id.
    const markerId = '01958f12-3456-7890-abcd-ef0123456790'
    await cli('PUBLISH', 'sse:user:42', seed(markerId, 'someone-else', 'security.session.expiring'))
    await rec.waitFor(2)
    assert.deepEqual(rec.events.map((e) => e.data.id), [id, markerId], 'each event once, in publish order')
    const got = rec.events[0]!.data
    assert.equal(got.type, 'provider.token.expiring')
    assert.deepEqual(got.channels, ['user:42'])
    assert.equal(got.occurredAt, '2026-01-20T02:30:00.000Z')
    assert.deepEqual(got.data, { connection_id: 'abcd1234', provider_slug: 'plaid', expires_at: '2026-01-21T00:00:00+00:00' })
    assert.deepEqual(rec.events[1]!.data.channels, ['user:42'])

    const { entries } = await logs[1]!.read(null, { limit: 1000 })
    assert.equal(entries.filter((e) => e.event.id === id).length, 1, 'the log holds it once')
    rec.close()
  })

  it('PUBLISH sse:broadcast lands on channel broadcast', async () => {
    const rec = new SseRecorder(eventsUrl(hubs[1]!.url, ['broadcast']), { types: TYPES })
    await rec.opened()
    const id = '01958f12-3456-7890-abcd-ef01234567aa'
    assert.equal(await cli('PUBLISH', 'sse:broadcast', seed(id, '00000000-0000-0000-0000-000000000000')), '2')
    await rec.waitFor(1)
    assert.equal(rec.events[0]!.data.id, id)
    assert.deepEqual(rec.events[0]!.data.channels, ['broadcast'])
    rec.close()
  })

  it('malformed messages are counted and logged, and crash nothing', async () => {
    const rec = new SseRecorder(eventsUrl(hubs[0]!.url, ['user:7']), { types: TYPES })
    await rec.opened()
    const start = outcomes.all.length
    const before = ingesters.map((i) => i.counts.malformed)
    const bad: [string, string][] = [
      ['sse:user:7', 'not json at all'],
      ['sse:user:7', JSON.stringify({ event_type: 'provider.token.expiring', user_id: '7' })],
      ['sse:user:7', JSON.stringify({ event_id: 'x1', event_type: 'has spaces', user_id: '7' })],
      ['sse:user:7', '[1,2,3]'],
      ['sse:somewhere:else', seed('01958f12-3456-7890-abcd-ef01234567bb', '7')],
    ]
    for (const [channel, message] of bad) await cli('PUBLISH', channel, message)
    const reported = await outcomes.next(start, bad.length * 2)
    assert.ok(reported.every((o) => o.kind === 'malformed'), 'every bad message is reported as malformed by each hub')
    assert.deepEqual(ingesters.map((i, k) => i.counts.malformed - before[k]!), [bad.length, bad.length])

    const ok = '01958f12-3456-7890-abcd-ef01234567cc'
    await cli('PUBLISH', 'sse:user:7', seed(ok, '7'))
    await rec.waitFor(1)
    assert.deepEqual(rec.events.map((e) => e.data.id), [ok], 'the ingesters still work, and nothing bad was appended')
    rec.close()
  })

  it('the wire contract: XADD and the deduplicating EVAL from redis-cli are delivered, invalid entries skipped', async () => {
    const rec = new SseRecorder(eventsUrl(hubs[1]!.url, ['user:42']), { types: TYPES })
    const recA = new SseRecorder(eventsUrl(hubs[0]!.url, ['user:42']), { types: TYPES })
    await Promise.all([rec.opened(), recA.opened()])
    const skippedBefore = logs.map((l) => l.skippedEntries)

    const plain = { id: 'wire-1', type: 'wire.test', channels: ['user:42'], data: { via: 'XADD' } }
    await cli('XADD', 'tidings:events', '*', 'event', JSON.stringify(plain))
    await cli('XADD', 'tidings:events', '*', 'event', JSON.stringify({ type: 'wire.test', channels: ['user:42'] }))
    await cli('XADD', 'tidings:events', '*', 'payload', JSON.stringify({ ...plain, id: 'wrong-field' }))
    await cli('XADD', 'tidings:events', '*', 'event', '{not json')

    const doc = readFileSync(new URL('../../docs/engines/redis.md', import.meta.url), 'utf8')
    assert.ok(doc.includes(`EVAL "${WIRE_EVAL}" 2 tidings:events tidings:ingested:`), 'this is the command docs/engines/redis.md documents')
    const once = { id: 'wire-2', type: 'wire.test', channels: ['user:42'], occurredAt: '2026-01-20T02:30:00Z', data: { via: 'EVAL' } }
    const evalArgs = ['EVAL', WIRE_EVAL, '2', 'tidings:events', 'tidings:ingested:wire-2', JSON.stringify(once), '3600']
    assert.match(await cli(...evalArgs), /^\d+-\d+$/, 'the first EVAL appends and returns the stream id')
    assert.equal(await cli(...evalArgs), '', 'the second EVAL of the same id appends nothing')

    const snakeId = '01958f12-3456-7890-abcd-ef01234567dd'
    await cli('XADD', 'tidings:events', '*', 'event', seed(snakeId, '42'))
    await Promise.all([rec.waitFor(3), recA.waitFor(3)])
    assert.deepEqual(rec.events.map((e) => e.data.id), ['wire-1', 'wire-2', snakeId])
    assert.deepEqual(recA.events.map((e) => e.data.id), ['wire-1', 'wire-2', snakeId])
    assert.deepEqual(rec.events[0]!.data.data, { via: 'XADD' })
    assert.equal(rec.events[1]!.data.occurredAt, '2026-01-20T02:30:00.000Z')
    assert.match(String(rec.events[0]!.data.occurredAt), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'a missing occurredAt becomes the entry time')
    assert.deepEqual(rec.events[2]!.data.channels, ['user:42'])
    // Both hubs' tails read past the three invalid entries, skipping each with a warning.
    assert.deepEqual(logs.map((l, k) => l.skippedEntries - skippedBefore[k]!), [3, 3])
    rec.close()
    recA.close()
  })

  it('the ingesters subscribe again after a Redis restart', async () => {
    const rec = new SseRecorder(eventsUrl(hubs[0]!.url, ['user:9']), { types: TYPES })
    await rec.opened()
    await server.restart()
    // Without persistence the log restarts empty: the hub tells its client so first.
    await rec.waitFor(1)
    assert.equal(rec.events[0]!.type, 'tidings.reset')
    // Bounded polling: Redis has no event for "a pattern subscription is back".
    const subscribed = async (): Promise<number> => (await cli('CLIENT', 'LIST')).split('\n').filter((l) => / psub=1 /.test(l)).length
    let n = await subscribed()
    for (let i = 0; i < 250 && n < 2; i++) {
      await new Promise((r) => setTimeout(r, 20))
      n = await subscribed()
    }
    assert.equal(n, 2, 'both ingesters are subscribed again')
    const id = '01958f12-3456-7890-abcd-ef01234567ee'
    assert.equal(await cli('PUBLISH', 'sse:user:9', seed(id, '9')), '2')
    await rec.waitFor(2)
    assert.deepEqual(rec.events.slice(1).map((e) => e.data.id), [id])
    rec.close()
  })
})
