/**
 * The EventLog conformance suite (DESIGN §2): every engine's test file calls
 * `eventLogConformance(name, harness)`. It uses the port only. A capability an engine lacks is
 * declared on the log and its test skipped with the reason printed.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { normalizeEvent, type TidingsEvent } from '../../src/core/envelope.js'
import { isTidingsError } from '../../src/core/errors.js'
import type { EventLog, LogEntry, RetentionOptions } from '../../src/core/event-log.js'

/** How the suite gets logs from an engine. */
export interface EventLogHarness {
  /** A fresh, empty log of its own (own stream/table/namespace). */
  create(retention?: RetentionOptions): Promise<EventLog>
  /** The same log destroyed and created again: must come back with a new epoch. */
  recreate(log: EventLog): Promise<EventLog>
  /** Runs after the suite. */
  cleanup?(): Promise<void>
  /**
   * For engines with `appendInTransaction`: opens a transaction of the kind it accepts (a `pg`
   * client after `BEGIN` on PostgreSQL). Engines without transactions leave it out.
   */
  beginTransaction?(log: EventLog): Promise<HarnessTransaction>
}

/** A transaction the suite drives: `handle` goes to `appendInTransaction`. */
export interface HarnessTransaction {
  readonly handle: unknown
  commit(): Promise<void>
  rollback(): Promise<void>
}

function ev(type: string, channels: string[], data: unknown = null): TidingsEvent {
  return normalizeEvent({ type, channels, data }, { maxEventBytes: 1 << 20 })
}

async function readAll(log: EventLog, after: string | null, limit = 7): Promise<{ entries: LogEntry[]; truncated: boolean }> {
  const entries: LogEntry[] = []
  let pos = after
  let truncated = false
  for (;;) {
    const page = await log.read(pos, { limit })
    truncated ||= page.truncated
    entries.push(...page.entries)
    if (page.entries.length === 0 || page.next === null || page.next === pos) break
    pos = page.next
  }
  return { entries, truncated }
}

async function takeFromTail(log: EventLog, after: string | null, n: number, start?: () => Promise<void>): Promise<LogEntry[]> {
  const ac = new AbortController()
  const got: LogEntry[] = []
  const iter = log.tail(after, ac.signal)[Symbol.asyncIterator]()
  const first = iter.next()
  await start?.()
  let res = await first
  while (!res.done) {
    got.push(...res.value)
    if (got.length >= n) break
    res = await iter.next()
  }
  ac.abort()
  await iter.return?.()
  return got
}

/** Registers the suite. */
export function eventLogConformance(name: string, harness: EventLogHarness): void {
  describe(`EventLog conformance: ${name}`, () => {
    const opened: EventLog[] = []
    const create = async (r?: RetentionOptions): Promise<EventLog> => {
      const log = await harness.create(r)
      await log.ready()
      opened.push(log)
      return log
    }
    after(async () => {
      for (const log of opened) await log.close().catch(() => {})
      await harness.cleanup?.()
    })

    it('batch append returns positions in one total order; read returns them in that order', async () => {
      const log = await create()
      assert.equal(await log.head(), null)
      const events = Array.from({ length: 25 }, (_, i) => ev('t.a', [`c:${i % 3}`], { i }))
      const positions = await log.append(events)
      assert.equal(positions.length, 25)
      for (let i = 1; i < positions.length; i++) assert.ok(log.comparePositions(positions[i - 1]!, positions[i]!) < 0)
      for (const p of positions) assert.ok(log.isPosition(p), `position ${p} must pass isPosition`)
      assert.equal(await log.head(), positions[24])
      const { entries } = await readAll(log, null)
      assert.deepEqual(entries.map((e) => e.event.id), events.map((e) => e.id))
      assert.deepEqual(entries.map((e) => e.position), positions)
      assert.deepEqual(entries[3]!.event, events[3])
    })

    it('resumes from any position exactly once', async () => {
      const log = await create()
      const events = Array.from({ length: 30 }, (_, i) => ev('t.b', ['c'], { i }))
      const positions = await log.append(events)
      for (let i = 0; i < positions.length; i++) {
        const { entries } = await readAll(log, positions[i]!, 4)
        assert.deepEqual(entries.map((e) => e.event.id), events.slice(i + 1).map((e) => e.id), `after position #${i}`)
      }
    })

    it('concurrent appenders: every event once, each appender in its own order', async () => {
      const log = await create()
      const appenders = 8
      const per = 40
      const sent: string[][] = []
      await Promise.all(
        Array.from({ length: appenders }, async (_, a) => {
          sent[a] = []
          for (let i = 0; i < per; i += 4) {
            const batch = Array.from({ length: 4 }, (_, j) => ev('t.c', [`a:${a}`], { a, i: i + j }))
            sent[a]!.push(...batch.map((e) => e.id))
            await log.append(batch)
          }
        }),
      )
      const { entries } = await readAll(log, null, 50)
      const ids = entries.map((e) => e.event.id)
      assert.equal(ids.length, appenders * per)
      assert.equal(new Set(ids).size, ids.length)
      for (let i = 1; i < entries.length; i++) assert.ok(log.comparePositions(entries[i - 1]!.position, entries[i]!.position) < 0)
      for (let a = 0; a < appenders; a++) {
        assert.deepEqual(ids.filter((id) => sent[a]!.includes(id)), sent[a])
      }
    })

    it('tail delivers later events live, in order, from a position or from the head', async () => {
      const log = await create()
      const early = await log.append([ev('t.d', ['c'], 1), ev('t.d', ['c'], 2)])
      const fromHead = await takeFromTail(log, null, 3, async () => {
        await log.append([ev('t.d', ['c'], 3)])
        await log.append([ev('t.d', ['c'], 4), ev('t.d', ['c'], 5)])
      })
      assert.deepEqual(fromHead.map((e) => e.event.data), [3, 4, 5])
      const fromMiddle = await takeFromTail(log, early[0]!, 5, async () => {
        await log.append([ev('t.d', ['c'], 6)])
      })
      assert.deepEqual(fromMiddle.map((e) => e.event.data), [2, 3, 4, 5, 6])
    })

    it('retention is reported as loss, never skipped silently', async () => {
      const log = await create({ maxEvents: 10 })
      const positions = await log.append(Array.from({ length: 5 }, (_, i) => ev('t.e', ['c'], i)))
      for (let i = 0; i < 6; i++) await log.append(Array.from({ length: 10 }, (_, j) => ev('t.e', ['c'], 100 + i * 10 + j)))
      const res = await log.read(positions[0]!, { limit: 100 })
      assert.equal(res.truncated, true)
      assert.ok(res.entries.length <= 10 + 10, 'retention must bound what is kept')
      const ac = new AbortController()
      await assert.rejects(
        (async () => {
          for await (const _ of log.tail(positions[0]!, ac.signal)) {
            // A tail must not start past the gap without saying so.
            ac.abort()
            throw new Error('tail yielded entries across a retention gap')
          }
        })(),
        (err) => isTidingsError(err, 'TIDINGS_ERR_LOG_TRUNCATED'),
      )
      const fresh = await log.read((await log.head())!, { limit: 10 })
      assert.equal(fresh.truncated, false)
    })

    it('has a stable epoch, and a recreated log has a new one', async () => {
      const log = await create()
      const epoch = await log.epoch()
      assert.match(epoch, /^[A-Za-z0-9_-]{1,40}$/)
      await log.append([ev('t.f', ['c'])])
      assert.equal(await log.epoch(), epoch)
      const again = await harness.recreate(log)
      opened.push(again)
      await again.ready()
      assert.notEqual(await again.epoch(), epoch)
    })

    it('stores events of 64 KB and more intact', async () => {
      const log = await create()
      const big = ev('t.g', ['c'], { blob: 'x'.repeat(100 * 1024), nested: { unicode: 'é✓\n' } })
      const [pos] = await log.append([big])
      const { entries } = await readAll(log, null)
      assert.equal(entries.length, 1)
      assert.equal(entries[0]!.position, pos)
      assert.deepEqual(entries[0]!.event, big)
    })

    it('filtered reads return only matching channels and advance past the rest', async (t) => {
      const log = await create()
      if (!log.capabilities.filteredRead) {
        t.skip(`${name} does not filter reads by channel (capabilities.filteredRead = false); the hub filters instead`)
        return
      }
      const events = Array.from({ length: 40 }, (_, i) => ev('t.h', [i % 10 === 0 ? 'rare:1' : `noise:${i}`], i))
      await log.append(events)
      const res = await log.read(null, { limit: 100, channels: { exact: ['rare:1'], patterns: [] } })
      assert.deepEqual(res.entries.map((e) => e.event.data), [0, 10, 20, 30])
      const pat = await log.read(null, { limit: 100, channels: { exact: [], patterns: ['rare:*'] } })
      assert.equal(pat.entries.length, 4)
      const page = await log.read(null, { limit: 2, channels: { exact: ['rare:1'], patterns: [] } })
      assert.deepEqual(page.entries.map((e) => e.event.data), [0, 10])
      const rest = await log.read(page.next, { limit: 100, channels: { exact: ['rare:1'], patterns: [] } })
      assert.deepEqual(rest.entries.map((e) => e.event.data), [20, 30])
      // Several channels come back merged in log order, an event on two of them once.
      await log.append([ev('t.h', ['m:b'], 100), ev('t.h', ['m:a'], 101), ev('t.h', ['m:a', 'm:b'], 102), ev('t.h', ['noise:x'], 103), ev('t.h', ['m:b'], 104)])
      const merged = await log.read(rest.next, { limit: 100, channels: { exact: ['m:a', 'm:b', 'm:none'], patterns: [] } })
      assert.deepEqual(merged.entries.map((e) => e.event.data), [100, 101, 102, 104])
      const firstTwo = await log.read(rest.next, { limit: 2, channels: { exact: ['m:a', 'm:b'], patterns: [] } })
      const after = await log.read(firstTwo.next, { limit: 100, channels: { exact: ['m:b', 'm:a'], patterns: [] } })
      assert.deepEqual([...firstTwo.entries, ...after.entries].map((e) => e.event.data), [100, 101, 102, 104])
    })

    // DESIGN §2: commits that land out of the order their transactions began must all reach a
    // reader that has already moved past the later one; a rolled-back event must never appear.
    it('transactions committed out of order are all delivered; a rolled-back one never is', { timeout: 30_000 }, async (t) => {
      const log = await create()
      if (log.appendInTransaction === undefined || harness.beginTransaction === undefined) {
        t.skip(`${name} has no appendInTransaction: each append is atomic in the engine, so commit order is position order`)
        return
      }
      const [a, b, c, d, e] = ['a', 'b', 'c', 'd', 'e'].map((x) => ev('t.tx', ['tx'], x)) as [TidingsEvent, TidingsEvent, TidingsEvent, TidingsEvent, TidingsEvent]
      const ac = new AbortController()
      const iter = log.tail(null, ac.signal)[Symbol.asyncIterator]()
      const got: LogEntry[] = []
      const until = async (event: TidingsEvent): Promise<void> => {
        while (!got.some((x) => x.event.id === event.id)) {
          const res = await iter.next()
          assert.ok(!res.done, 'the tail ended early')
          got.push(...res.value)
        }
      }
      try {
        const first = await harness.beginTransaction(log)
        await log.appendInTransaction(first.handle, [a])
        const second = await harness.beginTransaction(log)
        await log.appendInTransaction(second.handle, [b])
        const doomed = await harness.beginTransaction(log)
        await log.appendInTransaction(doomed.handle, [c])
        await second.commit()
        await until(b)
        await log.append([d])
        await until(d)
        // The reader is past b and d now; the transaction that began first commits only now.
        await first.commit()
        await doomed.rollback()
        await log.append([e])
        await until(e)
        await until(a)
      } finally {
        ac.abort()
        await iter.return?.()
      }
      const ids = got.map((x) => x.event.data)
      assert.deepEqual([...ids].sort(), ['a', 'b', 'd', 'e'], 'each committed event once; the rolled-back one never')
      assert.ok(ids.indexOf('b') < ids.indexOf('d'), 'b committed before d was appended')
      for (let i = 1; i < got.length; i++) assert.ok(log.comparePositions(got[i - 1]!.position, got[i]!.position) < 0)
      const { entries } = await readAll(log, null)
      assert.deepEqual(entries.map((x) => x.event.data).sort(), ['a', 'b', 'd', 'e'])
      assert.deepEqual(entries.find((x) => x.event.id === a.id)!.event, a)
    })

    it('rejects foreign positions', async () => {
      const log = await create()
      assert.equal(log.isPosition('not a position!'), false)
      assert.equal(log.isPosition(''), false)
    })
  })
}
