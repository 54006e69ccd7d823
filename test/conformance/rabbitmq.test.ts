import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { normalizeEvent } from '../../src/core/envelope.js'
import { isTidingsError } from '../../src/core/errors.js'
import type { LogEntry } from '../../src/core/event-log.js'
import { RabbitEventLog, type RabbitEventLogOptions } from '../../src/engines/rabbitmq/event-log.js'
import { engineAvailable } from '../helpers/engines.js'
import { AMQP_URL, closeConnections, deleteQueues, rabbitmqctlAvailable, testName, withChannel } from '../helpers/rabbitmq.js'
import { eventLogConformance } from './event-log.js'

const skip = await engineAvailable('rabbitmq')
const run = testName('conf')
let n = 0
const ev = (data: unknown) => normalizeEvent({ type: 't.x', channels: ['c'], data })

/** Reads every entry after `after`, page by page. */
async function readAll(log: RabbitEventLog, after: string | null, limit = 5): Promise<{ entries: LogEntry[]; truncated: boolean }> {
  const entries: LogEntry[] = []
  let pos = after
  let truncated = false
  for (;;) {
    const page = await log.read(pos, { limit })
    truncated ||= page.truncated
    entries.push(...page.entries)
    if (page.entries.length === 0 || page.next === null || page.next === pos) return { entries, truncated }
    pos = page.next
  }
}

describe('rabbitmq', { skip: skip ?? false }, () => {
  const opened: RabbitEventLog[] = []
  const open = (options: RabbitEventLogOptions = {}): RabbitEventLog => {
    const log = new RabbitEventLog({ url: AMQP_URL, stream: `${run}.${n++}`, ...options })
    opened.push(log)
    return log
  }
  after(async () => {
    for (const log of opened) await log.close()
    await deleteQueues([], run)
  })

  eventLogConformance('rabbitmq', {
    create: async (retention) => open(retention),
    recreate: async (log) => {
      const { stream } = log as RabbitEventLog
      await withChannel((ch) => ch.deleteQueue(stream))
      return open({ stream })
    },
  })

  describe('RabbitMQ specifics', () => {
    it('retention on disk is reported exactly from the first retained offset; segment boundaries are not loss', { timeout: 30_000 }, async () => {
      // Tiny segments: every few records start a new one (with an internal record that takes an
      // offset), and the byte limit removes whole old segments.
      const log = open({ segmentBytes: 1_000, maxBytes: 4_000 })
      await log.ready()
      const positions: string[] = []
      for (let i = 0; i < 40; i++) positions.push(...(await log.append([ev(i)])))
      const all = await readAll(log, positions[0]!)
      assert.equal(all.truncated, true, 'the first events are gone')
      const kept = all.entries.map((e) => e.event.data as number)
      assert.ok(kept.length > 0 && kept.length < 39, `retention removed some, kept some (${kept.length})`)
      assert.deepEqual(kept, Array.from({ length: kept.length }, (_, i) => 40 - kept.length + i), 'what is kept is a contiguous suffix')
      const gaps = all.entries.filter((e, i) => i > 0 && Number(e.position) !== Number(all.entries[i - 1]!.position) + 1)
      assert.ok(gaps.length > 0, 'positions skip the internal record at each segment start')
      const firstKept = all.entries[0]!.position
      const fromKept = await readAll(log, firstKept, 3)
      assert.equal(fromKept.truncated, false, 'reading across segment boundaries is not loss')
      assert.deepEqual(fromKept.entries.map((e) => e.event.data), kept.slice(1))
      const ac = new AbortController()
      const crossing: unknown[] = []
      for await (const batch of log.tail(firstKept, ac.signal)) {
        crossing.push(...batch.map((e) => e.event.data))
        if (crossing.length === kept.length - 1) break
      }
      assert.deepEqual(crossing, kept.slice(1), 'a tail crosses segment boundaries without a loss error')
      await assert.rejects(
        (async () => {
          for await (const _ of log.tail(positions[0]!, new AbortController().signal)) assert.fail('a tail behind retention must not yield')
        })(),
        (err) => isTidingsError(err, 'TIDINGS_ERR_LOG_TRUNCATED'),
      )
    })

    it('two instances on one stream agree on the epoch and see each other\'s events in one order', async () => {
      const a = open()
      await a.ready()
      const b = open({ stream: a.stream })
      const [p1] = await a.append([ev('a1')])
      await b.ready()
      assert.equal(await b.epoch(), await a.epoch())
      const [p2] = await b.append([ev('b1')])
      assert.ok(b.comparePositions(p1!, p2!) < 0)
      assert.deepEqual((await readAll(b, p1!)).entries.map((e) => e.event.data), ['b1'])
      const fromA = await takeTail(a, p1!, 1)
      assert.deepEqual(fromA.map((e) => [e.position, e.event.data]), [[p2, 'b1']])
    })

    it('deleting the stream ends a tail with TIDINGS_ERR_EPOCH_CHANGED; the stream declared again has a new epoch', { timeout: 20_000 }, async () => {
      const log = open()
      await log.ready()
      const before = await log.epoch()
      const ac = new AbortController()
      const tail = (async () => {
        for await (const _ of log.tail(null, ac.signal)) {
          // Nothing is appended.
        }
      })()
      const ended = tail.then(() => null, (err: unknown) => err)
      await withChannel((ch) => ch.deleteQueue(log.stream))
      assert.ok(isTidingsError(await ended, 'TIDINGS_ERR_EPOCH_CHANGED'))
      const after = await log.epoch()
      assert.notEqual(after, before)
      const [p] = await log.append([ev('new')])
      assert.deepEqual((await readAll(log, log.origin)).entries.map((e) => [e.position, e.event.data]), [[p, 'new']])
    })

    it('reads events another service published straight into the stream (wire contract), skipping invalid records', async () => {
      const log = open()
      await log.ready()
      const head = await log.head()
      await withChannel(async (_ch, conn) => {
        const ch = await conn.createConfirmChannel()
        const body = (v: unknown) => Buffer.from(JSON.stringify(v))
        ch.sendToQueue(log.stream, body({ id: 'ext-1', type: 'ext.thing', channels: ['c'], data: 1, occurredAt: '2026-01-01T00:00:00.000Z' }))
        ch.sendToQueue(log.stream, Buffer.from('not json'))
        ch.sendToQueue(log.stream, body({ event_id: 'ext-2', event_type: 'ext.other', user_id: '42', data: 2 }), { timestamp: 1_767_225_600 })
        ch.sendToQueue(log.stream, body({ type: 'ext.no-id', channels: ['c'] }), { timestamp: 1_767_225_600 })
        await ch.waitForConfirms()
      })
      const [mine] = await log.append([ev('mine')])
      const { entries } = await readAll(log, head)
      assert.deepEqual(entries.map((e) => e.event.id).slice(0, 2), ['ext-1', 'ext-2'])
      assert.deepEqual(entries[1]!.event.channels, ['user:42'])
      assert.equal(entries[1]!.event.occurredAt, '2026-01-01T00:00:00.000Z', 'occurredAt from the AMQP timestamp, the same for every reader')
      assert.equal(entries[2]!.position, mine)
      assert.equal(log.skippedRecords, 2)
    })

    it('a tail and appends survive a lost connection: the tail resumes after the last offset it yielded', { timeout: 30_000 }, async (t) => {
      const ctl = await rabbitmqctlAvailable()
      if (ctl !== null) {
        t.skip(ctl)
        return
      }
      const name = `${run}-cut-${n}`
      const log = open({ connectionName: name })
      await log.ready()
      const ac = new AbortController()
      const got: unknown[] = []
      let resolveFirst: () => void = () => undefined
      const first = new Promise<void>((resolve) => (resolveFirst = resolve))
      const tail = (async () => {
        for await (const batch of log.tail(null, ac.signal)) {
          got.push(...batch.map((e) => e.event.data))
          if (got.length === 1) resolveFirst()
          if (got.length >= 3) ac.abort()
        }
      })()
      await log.append([ev(1)])
      await first
      assert.equal(await closeConnections(name), 1)
      // The next append reconnects; the tail and the follower reattach by themselves.
      await log.append([ev(2)])
      await log.append([ev(3)])
      await tail
      assert.deepEqual(got, [1, 2, 3])
    })
  })
})

async function takeTail(log: RabbitEventLog, after: string | null, count: number): Promise<LogEntry[]> {
  const ac = new AbortController()
  const got: LogEntry[] = []
  for await (const batch of log.tail(after, ac.signal)) {
    got.push(...batch)
    if (got.length >= count) break
  }
  return got
}
