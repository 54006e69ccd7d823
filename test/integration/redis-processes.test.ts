/**
 * Issue 4 part 5: the Redis engine across real processes. Spawned `tidings serve` and `tidings
 * worker` processes share nothing but the system Redis (a random key prefix per test, deleted
 * afterwards): an SSE client resumes on another hub after its hub is SIGKILLed; a job whose worker
 * is SIGKILLed runs again in another worker and succeeds once; a cancel sent to one process aborts
 * the job in another; cron in three processes fires once per tick (test/integration/process-suite.ts);
 * and seed 000's `PUBLISH` reaches a client once through two ingesting hubs.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { it } from 'node:test'
import { engineAvailable, engineUrl } from '../helpers/engines.js'
import { eventsUrl, signToken, SseRecorder } from '../helpers/harness.js'
import { deleteKeys, redisCli, testPrefix } from '../helpers/redis.js'
import { getJson, processSuite, serve } from './process-suite.js'

const skip = await engineAvailable('redis')
const url = engineUrl('redis')
const runPrefix = testPrefix('procs')

processSuite('Redis', {
  skip,
  env: (n) => ({
    TIDINGS_BACKEND: 'redis',
    REDIS_URL: url,
    TIDINGS_REDIS_PREFIX: `${runPrefix}:${n}`,
    TIDINGS_REDIS_INGEST: '',
  }),
  cleanup: () => deleteKeys(url, runPrefix).then(() => undefined),
  more(ctx) {
    it('seed 000: redis-cli PUBLISH sse:user:42 reaches a client on either ingesting hub exactly once', { timeout: 60_000 }, async () => {
      const env = ctx.env({ TIDINGS_REDIS_INGEST: '1' })
      const [a, b] = await Promise.all([serve('hub A', env, ['--no-worker']), serve('hub B', env, ['--no-worker'])])
      const user = await signToken({ sub: '42' })
      const types = ['provider.token.expiring', 'security.session.expiring', 'tidings.reset']
      const recs = [a, b].map((hub) => new SseRecorder(eventsUrl(hub.url, ['user:42']), { types, token: user }))
      await Promise.all(recs.map((r) => r.opened()))
      const message = (eventId: string, eventType: string): string =>
        JSON.stringify({
          event_id: eventId,
          event_type: eventType,
          user_id: '42',
          data: { connection_id: 'abcd1234', provider_slug: 'plaid', expires_at: '2026-01-21T00:00:00+00:00' },
          occurred_at: '2026-01-20T02:30:00+00:00',
        })
      const port = String(new URL(url).port || 6379)
      const first = randomUUID()
      const second = randomUUID()
      // The real redis-cli: nothing Node on the publishing side. Both hubs are subscribed (other runs may be too).
      assert.ok(Number(await redisCli(Number(port), 'PUBLISH', 'sse:user:42', message(first, 'provider.token.expiring'))) >= 2)
      await Promise.all(recs.map((r) => r.waitFor(1)))
      // Seed 000 publishing the same event again (a retry) changes nothing; the next event is the marker.
      assert.ok(Number(await redisCli(Number(port), 'PUBLISH', 'sse:user:42', message(first, 'provider.token.expiring'))) >= 2)
      assert.ok(Number(await redisCli(Number(port), 'PUBLISH', 'sse:user:42', message(second, 'security.session.expiring'))) >= 2)
      await Promise.all(recs.map((r) => r.waitFor(2)))
      for (const [i, r] of recs.entries()) {
        assert.deepEqual(r.events.map((e) => [e.type, e.data.id]), [
          ['provider.token.expiring', first],
          ['security.session.expiring', second],
        ], `client of hub ${'AB'[i]}: each event once`)
        assert.deepEqual(r.events[0]!.data.channels, ['user:42'])
        r.close()
      }
      const history = await getJson(`${b.url}/v1/history?channel=user:42&limit=1000`, user)
      assert.deepEqual((history.body.events as { event: { id: string } }[]).map((e) => e.event.id), [first, second], 'the log holds each once')
    })
  },
})
