import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { normalizeEvent, type TidingsEvent } from '../../src/core/envelope.js'
import { MemoryEventLog } from '../../src/engines/memory/event-log.js'
import { eventLogConformance } from './event-log.js'

eventLogConformance('memory', {
  create: async (retention) => new MemoryEventLog(retention),
  // A memory log lives as long as its process: "recreating" it is a new instance.
  recreate: async () => new MemoryEventLog(),
})

describe('memory log: filtered reads through the channel index', () => {
  const ev = (channels: string[], data: number): TidingsEvent => normalizeEvent({ type: 't.idx', channels, data })
  const exact = (...channels: string[]) => ({ exact: channels, patterns: [] })

  it('agrees with a scan after retention trims the oldest entries, and says when a cursor fell behind', async () => {
    const log = new MemoryEventLog({ maxEvents: 50 })
    const events = Array.from({ length: 200 }, (_, i) => ev(i % 7 === 0 ? ['a', `n:${i}`] : [`n:${i}`], i))
    for (let i = 0; i < events.length; i += 10) await log.append(events.slice(i, i + 10))
    const indexed = await log.read('0', { limit: 1000, channels: exact('a') })
    const scanned = await log.read('0', { limit: 1000, channels: { exact: [], patterns: ['a'] } })
    assert.equal(indexed.truncated, true)
    assert.deepEqual(indexed.entries.map((e) => e.event.data), scanned.entries.map((e) => e.event.data))
    assert.deepEqual(indexed.entries.map((e) => e.event.data), [154, 161, 168, 175, 182, 189, 196])
    assert.equal(indexed.next, '200')
    // A trimmed channel reads empty, and an unknown one too.
    assert.deepEqual((await log.read('0', { limit: 10, channels: exact('n:3') })).entries, [])
    assert.deepEqual((await log.read('190', { limit: 10, channels: exact('nobody') })), { entries: [], truncated: false, next: '200' })
  })
})
