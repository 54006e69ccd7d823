/**
 * The publisher's write batching: publish calls of one event-loop turn share one append, in call
 * order, each resolving with its own positions; a failed append fails every call it carried.
 * Pure logic over a recording log (the engines' own behaviour is in the conformance suites).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { TidingsEvent } from '../../src/core/envelope.js'
import type { EventLog } from '../../src/core/event-log.js'
import { createLogger } from '../../src/core/logger.js'
import { TidingsMetrics } from '../../src/core/metrics.js'
import { Publisher } from '../../src/core/publisher.js'
import { MemoryEventLog } from '../../src/engines/memory/event-log.js'

/** A memory log that records the size of every append and can be told to fail the next one. */
class RecordingLog extends MemoryEventLog {
  readonly appends: string[][] = []
  failNext = false

  override async append(events: readonly TidingsEvent[]): Promise<string[]> {
    this.appends.push(events.map((e) => e.type))
    if (this.failNext) {
      this.failNext = false
      throw new Error('engine down')
    }
    return super.append(events)
  }
}

const publisherOn = (log: EventLog, maxBatch?: number): Publisher => new Publisher(log, new TidingsMetrics(), createLogger('silent'), { maxBatch })
const ev = (type: string) => ({ type, channels: ['c:1'] })

describe('publisher write batching', () => {
  it('joins the calls of one turn into one append, in call order, each call getting its own positions', async () => {
    const log = new RecordingLog()
    const p = publisherOn(log)
    const [a, b, c] = await Promise.all([p.publish(ev('t.a')), p.publish([ev('t.b1'), ev('t.b2')]), p.publish(ev('t.c'))])
    assert.deepEqual(log.appends, [['t.a', 't.b1', 't.b2', 't.c']])
    assert.deepEqual([a, b, c].map((r) => r.map((x) => x.position)), [['1'], ['2', '3'], ['4']])
    const epoch = await log.epoch()
    assert.equal(b[1]!.cursor, `${epoch}.3`)
    // A later turn is a new append.
    await p.publish(ev('t.d'))
    assert.equal(log.appends.length, 2)
  })

  it('starts a new append rather than pass maxBatch events', async () => {
    const log = new RecordingLog()
    const p = publisherOn(log, 3)
    const results = await Promise.all([p.publish([ev('t.a'), ev('t.b')]), p.publish([ev('t.c'), ev('t.d')]), p.publish(ev('t.e'))])
    assert.deepEqual(log.appends, [['t.a', 't.b'], ['t.c', 't.d', 't.e']])
    assert.deepEqual(results.flat().map((x) => x.position), ['1', '2', '3', '4', '5'])
  })

  it('fails every call of a failed append (strict), resolves failOpen calls without positions, and keeps later turns working', async () => {
    const log = new RecordingLog()
    const p = publisherOn(log)
    log.failNext = true
    const [strict, open] = await Promise.allSettled([p.publish(ev('t.a')), p.publish(ev('t.b'), { mode: 'failOpen' })])
    assert.equal(strict.status, 'rejected')
    assert.equal((strict as PromiseRejectedResult).reason.code, 'TIDINGS_ERR_PUBLISH_FAILED')
    assert.equal(open.status, 'fulfilled')
    assert.equal((open as PromiseFulfilledResult<{ position: string | null }[]>).value[0]!.position, null)
    assert.deepEqual((await p.publish(ev('t.c')))[0]!.position, '1')
  })

  it('uses appendWithEpoch when the engine has it, without a separate epoch read', async () => {
    const inner = new MemoryEventLog()
    let epochReads = 0
    const log: EventLog = Object.assign(Object.create(inner) as EventLog, {
      epoch: async () => {
        epochReads++
        return inner.epoch()
      },
      appendWithEpoch: async (events: readonly TidingsEvent[]) => ({ epoch: 'fromappend', positions: await inner.append(events) }),
    })
    const [published] = await publisherOn(log).publish(ev('t.a'))
    assert.equal(published!.cursor, 'fromappend.1')
    assert.equal(epochReads, 0)
  })
})
