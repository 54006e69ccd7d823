import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { normalizeEvent } from '../../src/core/envelope.js'
import { isTidingsError } from '../../src/core/errors.js'
import { RedisEventLog, type RedisEventLogOptions } from '../../src/engines/redis/event-log.js'
import { engineAvailable, engineUrl } from '../helpers/engines.js'
import { deleteKeys, testPrefix } from '../helpers/redis.js'
import { eventLogConformance } from './event-log.js'

const skip = await engineAvailable('redis')
const url = engineUrl('redis')
const runPrefix = testPrefix('conformance')
let n = 0
const ev = (data: unknown) => normalizeEvent({ type: 't.x', channels: ['c'], data })

describe('redis', { skip: skip ?? false }, () => {
  const logOptions = (prefix: string, retention?: RedisEventLogOptions): RedisEventLogOptions => ({ url, prefix, ...retention })
  const opened: RedisEventLog[] = []
  const create = async (options: RedisEventLogOptions = {}): Promise<RedisEventLog> => {
    const log = new RedisEventLog(logOptions(`${runPrefix}:${n++}`, options))
    opened.push(log)
    await log.ready()
    return log
  }
  after(async () => {
    for (const log of opened) await log.close()
    await deleteKeys(url, runPrefix)
  })

  eventLogConformance('redis', {
    create: async (retention) => new RedisEventLog(logOptions(`${runPrefix}:${n++}`, retention)),
    recreate: async (log) => {
      const old = log as RedisEventLog
      const client = await old.connection()
      await client.del(old.keys.stream, old.keys.epoch, old.keys.trimmed)
      return new RedisEventLog(logOptions(old.prefix))
    },
  })

  describe('Redis specifics', () => {
    it('loss is exact: a reader at the last trimmed id lost nothing, one before it did', async () => {
      const log = await create({ maxEvents: 3 })
      const positions = await log.append([0, 1, 2, 3, 4].map(ev))
      const atLastTrimmed = await log.read(positions[1]!, { limit: 10 })
      assert.equal(atLastTrimmed.truncated, false)
      assert.deepEqual(atLastTrimmed.entries.map((e) => e.event.data), [2, 3, 4])
      const before = await log.read(positions[0]!, { limit: 10 })
      assert.equal(before.truncated, true)
      assert.deepEqual(before.entries.map((e) => e.event.data), [2, 3, 4])
    })

    it('trims by age on the Redis clock, and says so', async () => {
      const log = await create({ maxAgeMs: 1 })
      const [old] = await log.append([ev('old')])
      // Bounded polling: the entry turns 1 ms old on the server's clock, with no event to await.
      let removed = 0
      for (let i = 0; i < 200 && removed === 0; i++) removed = await log.trim()
      assert.equal(removed, 1)
      assert.equal(await log.head(), old, 'an emptied log still knows its head')
      const res = await log.read(null, { limit: 10 })
      assert.deepEqual(res, { entries: [], truncated: true, next: old })
      assert.equal((await log.read(old!, { limit: 10 })).truncated, false)
    })

    it('a tail blocked in XREAD ends as soon as it is aborted, and close() ends the others', { timeout: 20_000 }, async () => {
      const log = await create({ blockMs: 600_000 })
      const ac = new AbortController()
      const first = (async () => {
        const got: unknown[] = []
        for await (const batch of log.tail(null, ac.signal)) {
          got.push(...batch.map((e) => e.event.data))
          if (got.length === 1) ac.abort()
        }
        return got
      })()
      await log.append([ev('one')])
      assert.deepEqual(await first, ['one'])
      const second = (async () => {
        for await (const _ of log.tail(null, new AbortController().signal)) assert.fail('nothing was appended')
      })()
      await log.append([])
      await log.close()
      await second
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
            // While this reader holds its first batch, retention overtakes it.
            if (seen.length === 1) await log.append([2, 3, 4, 5].map(ev))
          }
        })(),
        (err) => isTidingsError(err, 'TIDINGS_ERR_LOG_TRUNCATED'),
      )
      ac.abort()
      assert.deepEqual(seen, [1])
    })
  })
})
