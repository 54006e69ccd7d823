import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { OPEN_PRINCIPAL } from '../../src/core/auth.js'
import type { TidingsEvent } from '../../src/core/envelope.js'
import { TidingsError } from '../../src/core/errors.js'
import type { EventLog, LogEntry, ReadOptions, ReadResult } from '../../src/core/event-log.js'
import { Hub, type HubEntry, type HubSubscriber } from '../../src/core/hub.js'
import { createLogger } from '../../src/core/logger.js'
import { TidingsMetrics } from '../../src/core/metrics.js'
import { normalizeEvent } from '../../src/core/envelope.js'
import { MemoryEventLog } from '../../src/engines/memory/event-log.js'

/** A log that can be "recreated" underneath its readers, as a deleted stream would be. */
class RecreatableLog implements EventLog {
  readonly engine = 'recreatable'
  readonly capabilities = { filteredRead: true, durable: false }
  inner = new MemoryEventLog()
  readonly origin = '0'
  #generation = 0
  async ready() {}
  epoch() {
    return this.inner.epoch()
  }
  append(events: readonly TidingsEvent[]) {
    return this.inner.append(events)
  }
  read(after: string | null, o: ReadOptions): Promise<ReadResult> {
    return this.inner.read(after, o)
  }
  head() {
    return this.inner.head()
  }
  async *tail(after: string | null, signal: AbortSignal): AsyncIterable<readonly LogEntry[]> {
    const generation = this.#generation
    const ac = new AbortController()
    signal.addEventListener('abort', () => ac.abort(), { once: true })
    this.onRecreate = () => ac.abort()
    for await (const batch of this.inner.tail(after, ac.signal)) yield batch
    if (!signal.aborted && generation !== this.#generation) throw new TidingsError('TIDINGS_ERR_EPOCH_CHANGED')
  }
  onRecreate = () => {}
  recreate() {
    this.#generation++
    this.inner = new MemoryEventLog()
    this.onRecreate()
  }
  comparePositions(a: string, b: string) {
    return this.inner.comparePositions(a, b)
  }
  isPosition(v: string) {
    return this.inner.isPosition(v)
  }
  async close() {}
}

class Collector implements HubSubscriber {
  readonly principal = OPEN_PRINCIPAL
  readonly got: HubEntry[] = []
  #wake: (() => void) | null = null
  constructor(readonly channels: string[]) {}
  deliver(e: HubEntry) {
    this.got.push(e)
  }
  deliverReset(e: HubEntry) {
    this.got.push(e)
  }
  flush() {
    this.#wake?.()
  }
  close() {}
  async until(n: number) {
    while (this.got.length < n) await new Promise<void>((r) => (this.#wake = r))
  }
}

const ev = (data: unknown): TidingsEvent => normalizeEvent({ type: 't.h', channels: ['h'], data })

describe('hub', () => {
  it('resets every live subscriber when the log is recreated, then delivers the new log from its start', { timeout: 10_000 }, async () => {
    const log = new RecreatableLog()
    const hub = new Hub(log, new TidingsMetrics(), createLogger('silent'))
    const c = new Collector(['h'])
    await hub.attach(c, null)
    await log.append([ev(1)])
    await c.until(1)
    const oldEpoch = hub.epoch
    log.recreate()
    // Written to the new log before the hub noticed the change: still delivered, after the reset.
    await log.append([ev(2)])
    await c.until(3)
    assert.equal(c.got[1]!.event.type, 'tidings.reset')
    assert.deepEqual(c.got[1]!.event.data, { reason: 'epoch', epoch: hub.epoch, cursor: `${hub.epoch}.0` })
    assert.notEqual(hub.epoch, oldEpoch)
    assert.equal(c.got[2]!.event.data, 2)
    await log.append([ev(3)])
    await c.until(4)
    assert.equal(c.got[3]!.event.data, 3)
    assert.ok(c.got[3]!.cursor.startsWith(`${hub.epoch}.`))
    await hub.close()
  })

  it('serialises each event once and hands the same bytes to every subscriber', async () => {
    const log = new MemoryEventLog()
    const hub = new Hub(log, new TidingsMetrics(), createLogger('silent'))
    const subs = Array.from({ length: 5 }, () => new Collector(['h']))
    for (const s of subs) await hub.attach(s, null)
    await log.append([ev('x')])
    for (const s of subs) await s.until(1)
    for (const s of subs) assert.equal(s.got[0]!.sseFrame, subs[0]!.got[0]!.sseFrame)
    await hub.close()
  })

  it('refuses channels outside the principal\'s rights', async () => {
    const hub = new Hub(new MemoryEventLog(), new TidingsMetrics(), createLogger('silent'))
    const sub: HubSubscriber = { ...new Collector(['secret']), principal: { sub: '1', tenant: null, admin: false, subscribe: ['user:1'], publish: [] }, channels: ['secret'], deliver() {}, deliverReset() {}, flush() {}, close() {} }
    await assert.rejects(hub.attach(sub, null), (err) => err instanceof TidingsError && err.code === 'TIDINGS_ERR_FORBIDDEN_CHANNEL')
    await hub.close()
  })
})
