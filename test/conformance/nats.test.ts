import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { connect } from '@nats-io/transport-node'
import { jetstream } from '@nats-io/jetstream'
import { normalizeEvent } from '../../src/core/envelope.js'
import { isTidingsError } from '../../src/core/errors.js'
import { decodeToken, encodeToken, epochFromCreated } from '../../src/engines/nats/connection.js'
import { NatsEventLog, type NatsEventLogOptions } from '../../src/engines/nats/event-log.js'
import { engineAvailable, engineUrl } from '../helpers/engines.js'
import { deleteStreams, testNames } from '../helpers/nats.js'
import { eventLogConformance } from './event-log.js'

const skip = await engineAvailable('nats')
const url = engineUrl('nats')
const names = testNames('log')
let n = 0
const ev = (data: unknown, channels = ['c']) => normalizeEvent({ type: 't.x', channels, data })

describe('nats', { skip: skip ?? false }, () => {
  const options = (retention: NatsEventLogOptions = {}): NatsEventLogOptions => {
    const i = n++
    return { url, stream: `${names.stream}_${i}`, subjectPrefix: `${names.subject}.${i}`, ...retention }
  }
  const opened: NatsEventLog[] = []
  const create = async (retention: NatsEventLogOptions = {}): Promise<NatsEventLog> => {
    const log = new NatsEventLog(options(retention))
    opened.push(log)
    await log.ready()
    return log
  }
  after(async () => {
    for (const log of opened) await log.close()
    await deleteStreams(url, [names.stream])
  })

  eventLogConformance('nats', {
    create: async (retention) => new NatsEventLog(options(retention)),
    recreate: async (log) => {
      const old = log as NatsEventLog
      const nc = await connect({ servers: url })
      try {
        await (await jetstream(nc).jetstreamManager()).streams.delete(old.stream)
      } finally {
        await nc.close()
      }
      return new NatsEventLog({ url, stream: old.stream, subjectPrefix: old.subjectPrefix })
    },
  })

  describe('NATS specifics', () => {
    it('encodes any channel as one safe subject token, reversibly and without collisions', () => {
      const channels = ['user:42', 'team:acme:job:7', 'a.b', 'a_3Ab', 'a:b', 'x/y+z=w@v', 'é', '']
      const tokens = channels.map(encodeToken)
      for (const t of tokens) assert.match(t, /^[A-Za-z0-9_-]+$/)
      assert.equal(new Set(tokens).size, channels.length)
      assert.deepEqual(tokens.map(decodeToken), channels)
      assert.equal(encodeToken('user:42'), 'user_3A42')
    })

    it('derives the epoch from the stream creation time, to the nanosecond', () => {
      const a = epochFromCreated('2026-01-20T02:30:00.123456789Z')
      assert.match(a, /^[a-z0-9]{1,40}$/)
      assert.notEqual(epochFromCreated('2026-01-20T02:30:00.123456788Z'), a)
      assert.equal(epochFromCreated('2026-01-20T02:30:00.1234567890Z'.replace('0Z', 'Z')), a)
    })

    it('stores an event on several channels once, on the subject of its first channel', async () => {
      const log = await create()
      const event = ev('multi', ['user:1', 'job:abc', 'broadcast'])
      const [pos] = await log.append([event])
      const nc = await connect({ servers: url })
      try {
        const msg = await (await jetstream(nc).jetstreamManager()).direct.getMessage(log.stream, { seq: Number(pos) })
        assert.equal(msg?.subject, `${log.subjectPrefix}.user_3A1`)
      } finally {
        await nc.close()
      }
      const res = await log.read(null, { limit: 10 })
      assert.deepEqual(res.entries.map((e) => e.event.channels), [['user:1', 'job:abc', 'broadcast']])
    })

    it('drops a repeated publish of the same event id and answers with the first position', async () => {
      const log = await create()
      const a = ev('a')
      const [first] = await log.append([a])
      const [again, b] = await log.append([a, ev('b')])
      assert.equal(again, first)
      assert.equal(log.comparePositions(b!, first!), 1)
      const res = await log.read(null, { limit: 10 })
      assert.deepEqual(res.entries.map((e) => e.event.data), ['a', 'b'])
    })

    it('loss is exact: a reader at the last removed sequence lost nothing, one before it did', async () => {
      const log = await create({ maxEvents: 3 })
      const positions = await log.append([0, 1, 2, 3, 4].map((i) => ev(i)))
      const atLastRemoved = await log.read(positions[1]!, { limit: 10 })
      assert.equal(atLastRemoved.truncated, false)
      assert.deepEqual(atLastRemoved.entries.map((e) => e.event.data), [2, 3, 4])
      const before = await log.read(positions[0]!, { limit: 10 })
      assert.equal(before.truncated, true)
      assert.deepEqual(before.entries.map((e) => e.event.data), [2, 3, 4])
    })

    it('a tail that falls behind retention throws TIDINGS_ERR_LOG_TRUNCATED instead of skipping', { timeout: 20_000 }, async () => {
      const log = await create({ maxEvents: 2, tailBatchSize: 1 })
      const positions = await log.append([ev(0), ev(1)])
      const ac = new AbortController()
      const seen: unknown[] = []
      await assert.rejects(
        (async () => {
          for await (const batch of log.tail(positions[0]!, ac.signal)) {
            seen.push(...batch.map((e) => e.event.data))
            if (seen.length === 1) await log.append([2, 3, 4, 5].map((i) => ev(i)))
          }
        })(),
        (err) => isTidingsError(err, 'TIDINGS_ERR_LOG_TRUNCATED'),
      )
      ac.abort()
      assert.equal(seen[0], 1)
      assert.ok(!seen.includes(2) || seen.indexOf(2) === 1, 'nothing skipped silently')
    })

    it('a live tail notices a recreated stream and throws TIDINGS_ERR_EPOCH_CHANGED', { timeout: 20_000 }, async () => {
      const log = await create({ checkIntervalMs: 200 })
      await log.append([ev('before')])
      const ac = new AbortController()
      const tailing = (async () => {
        for await (const _ of log.tail(null, ac.signal)) {
          // Nothing of the new stream may be delivered as if it were the old one.
          assert.fail('delivered an entry across a recreated stream')
        }
      })().then(
        () => null,
        (err: unknown) => err,
      )
      const nc = await connect({ servers: url })
      try {
        const jsm = await jetstream(nc).jetstreamManager()
        await jsm.streams.delete(log.stream)
      } finally {
        await nc.close()
      }
      const other = new NatsEventLog({ url, stream: log.stream, subjectPrefix: log.subjectPrefix })
      opened.push(other)
      await other.append([ev('new-1'), ev('new-2')])
      const err = await tailing
      assert.ok(isTidingsError(err, 'TIDINGS_ERR_EPOCH_CHANGED'), `ended with ${String(err)}`)
      ac.abort()
    })

    it('reads events that other programs publish straight to the stream (the wire contract)', async () => {
      const log = await create()
      const nc = await connect({ servers: url })
      try {
        const js = jetstream(nc)
        await js.publish(`${log.subjectPrefix}.user_3A9`, JSON.stringify({ event_id: 'ext-1', event_type: 'provider.ping', user_id: '9', data: { ok: true } }), { msgID: 'ext-1' })
        await js.publish(`${log.subjectPrefix}.x`, 'not json')
      } finally {
        await nc.close()
      }
      const res = await log.read(null, { limit: 10 })
      assert.equal(res.entries.length, 1)
      assert.equal(res.entries[0]!.event.id, 'ext-1')
      assert.deepEqual(res.entries[0]!.event.channels, ['user:9'])
      assert.equal(res.next, '2', 'the invalid message still moves the position')
      assert.equal(log.skippedEntries, 1)
    })
  })
})
