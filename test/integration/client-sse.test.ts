import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { EventSource } from 'eventsource'
import { disconnectedCodes, connectingCodes, type EventSourceLike, type SseEventLike } from '../../src/client/index.js'
import { ClientProbe } from '../helpers/client.js'
import { signToken, startTestServer, TEST_SECRET } from '../helpers/harness.js'
import { clientFlows } from './client-flows.js'

/** The `eventsource` package without the status it adds to errors: what a browser's EventSource shows. */
class BrowserLikeEventSource implements EventSourceLike {
  readonly #es: EventSource

  constructor(url: string) {
    this.#es = new EventSource(url)
  }

  get readyState(): number {
    return this.#es.readyState
  }

  addEventListener(type: 'open' | 'message' | 'error', listener: (event: SseEventLike) => void): void {
    this.#es.addEventListener(type, (e: Event) => listener(type === 'error' ? { type: 'error' } : (e as MessageEvent)))
  }

  close(): void {
    this.#es.close()
  }
}

describe('tidings/client over SSE (the eventsource package)', () => {
  clientFlows('sse')

  it('finds out why a browser-like EventSource was refused (it hides the status) and refreshes the token on 401', async () => {
    const srv = await startTestServer({ auth: { jwt: { secret: TEST_SECRET } } })
    try {
      const fresh = await signToken({ sub: 'u3', tidings: { subscribe: ['c:*'] } })
      const probe = new ClientProbe('sse', {
        url: srv.url,
        channels: ['c:7'],
        EventSource: BrowserLikeEventSource,
        getToken: ({ reason }) => (reason === 'unauthorized' ? fresh : 'stale-token'),
      })
      probe.client.connect()
      await probe.connectedTimes(1)
      assert.equal(probe.errors[0]!.status, 401, 'the fetch probe read the status')
      assert.equal(probe.errors[0]!.serverCode, 'TIDINGS_ERR_INVALID_TOKEN')
      assert.ok(probe.connecting.some((c) => c.code === connectingCodes.unauthorized))
      const [id] = (await srv.tidings.publish([{ type: 't.flow', channels: ['c:7'], data: 1 }])).map((p) => p.id)
      await probe.received(1)
      assert.deepEqual(probe.ids, [id])
      probe.close()

      const forbidden = new ClientProbe('sse', { url: srv.url, channels: ['c:7'], token: await signToken({ sub: 'u3' }), EventSource: BrowserLikeEventSource })
      forbidden.client.connect()
      await forbidden.until('disconnected', () => forbidden.disconnected.length === 1)
      assert.equal(forbidden.disconnected[0]!.code, disconnectedCodes.forbidden)
    } finally {
      await srv.close()
    }
  })
})
