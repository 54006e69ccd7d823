/**
 * The client's flows against a real server, run once per transport (client-sse.test.ts,
 * client-websocket.test.ts): reconnect with resume, token refresh after a 401, reset across log
 * epochs, channel changes, refusal, and following a job.
 */
import assert from 'node:assert/strict'
import { it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { decodeJwt } from 'jose'
import { connectingCodes, disconnectedCodes, JobFollower, type TokenRequest, type TransportName } from '../../src/client/index.js'
import { demoReport } from '../../src/cli/demo-job.js'
import { ClientProbe, deferred } from '../helpers/client.js'
import { signToken, startTestServer, TEST_SECRET, type TestServer } from '../helpers/harness.js'

async function publishN(srv: TestServer, channel: string, n: number, from = 0): Promise<string[]> {
  const out = await srv.tidings.publish(Array.from({ length: n }, (_, i) => ({ type: 't.flow', channels: [channel], data: from + i })))
  return out.map((p) => p.id)
}

/** Registers the flows for one transport inside the caller's `describe`. */
export function clientFlows(transport: TransportName): void {
  it('reconnects after the server drops it and resumes from its cursor: no gap, no repeat', async () => {
    const srv = await startTestServer()
    try {
      const secondAttempt = deferred()
      const attempting = deferred()
      let attempts = 0
      const published: string[] = []
      const probe = new ClientProbe(transport, {
        url: srv.url,
        channels: ['c:1'],
        // Called before every attempt: the second one (the reconnect) waits until events were
        // published while the client had no connection.
        getToken: async () => {
          if (++attempts === 2) {
            attempting.resolve()
            await secondAttempt.promise
          }
          return null
        },
      })
      probe.client.connect()
      await probe.connectedTimes(1)
      published.push(...(await publishN(srv, 'c:1', 3)))
      await probe.received(3)
      const cursorBeforeDrop = probe.client.cursor
      assert.equal(cursorBeforeDrop, probe.events[2]!.cursor)

      srv.dropConnections()
      await attempting.promise
      assert.equal(probe.client.state, 'connecting')
      assert.equal(probe.connecting.at(-1)!.code, connectingCodes.transportClosed)
      published.push(...(await publishN(srv, 'c:1', 3, 3)))
      await publishN(srv, 'elsewhere', 2)
      secondAttempt.resolve()

      await probe.connectedTimes(2)
      assert.equal(probe.connected[1]!.cursor, cursorBeforeDrop, 'the reconnect resumed from the last cursor')
      published.push(...(await publishN(srv, 'c:1', 1, 6)))
      await probe.received(7)
      assert.deepEqual(probe.ids, published, 'every event once, in order')
      assert.deepEqual(
        probe.states.map((s) => s.newState),
        ['connecting', 'connected', 'connecting', 'connected'],
      )
      probe.close()
      assert.equal(probe.client.state, 'disconnected')
      assert.equal(probe.disconnected.at(-1)!.code, disconnectedCodes.disconnectCalled)
    } finally {
      await srv.close()
    }
  })

  it('refreshes an expired token after the 401 and resumes where it stopped', async () => {
    const srv = await startTestServer({ auth: { jwt: { secret: TEST_SECRET, clockToleranceSec: 0 } } })
    try {
      const claims = { sub: 'u1', tidings: { subscribe: ['c:*'] } }
      const expiring = await signToken(claims, { expiresIn: '1s' })
      const fresh = await signToken(claims, { expiresIn: '1h' })
      const reasons: TokenRequest['reason'][] = []
      const reconnecting = deferred()
      const attempting = deferred()
      const published: string[] = []
      const probe = new ClientProbe(transport, {
        url: srv.url,
        channels: ['c:2'],
        // An application that caches its token until the server refuses it.
        getToken: async ({ reason }) => {
          reasons.push(reason)
          if (reasons.length === 2) {
            attempting.resolve()
            await reconnecting.promise
          }
          return reason === 'unauthorized' ? fresh : expiring
        },
      })
      probe.client.connect()
      await probe.connectedTimes(1)
      published.push(...(await publishN(srv, 'c:2', 2)))
      await probe.received(2)

      // A token's expiry is a clock time, not an event: wait until the server will refuse it.
      await sleep(Math.max(0, decodeJwt(expiring).exp! * 1000 - Date.now() + 50))
      srv.dropConnections()
      await attempting.promise
      published.push(...(await publishN(srv, 'c:2', 2, 2)))
      reconnecting.resolve()

      await probe.connectedTimes(2)
      assert.deepEqual(reasons, ['connect', 'connect', 'unauthorized'])
      assert.ok(
        probe.errors.some((e) => e.status === 401),
        `the refusal was reported: ${JSON.stringify(probe.errors)}`,
      )
      assert.ok(probe.connecting.some((c) => c.code === connectingCodes.unauthorized))
      published.push(...(await publishN(srv, 'c:2', 1, 4)))
      await probe.received(5)
      assert.deepEqual(probe.ids, published)
      probe.close()
    } finally {
      await srv.close()
    }
  })

  it('stays disconnected with code unauthorized when getToken has no new token after a 401', async () => {
    const srv = await startTestServer({ auth: { jwt: { secret: TEST_SECRET } } })
    try {
      const probe = new ClientProbe(transport, { url: srv.url, channels: ['c:3'], getToken: ({ reason }) => (reason === 'connect' ? 'not-a-jwt' : null) })
      probe.client.connect()
      await probe.until('disconnected', () => probe.disconnected.length === 1)
      assert.equal(probe.disconnected[0]!.code, disconnectedCodes.unauthorized)
      assert.equal(probe.connected.length, 0)
    } finally {
      await srv.close()
    }
  })

  it('gets tidings.reset when its cursor is from an earlier epoch of the log, then live events', async () => {
    const first = await startTestServer()
    const port = Number(new URL(first.url).port)
    const probe = new ClientProbe(transport, { url: first.url, channels: ['c:4'] })
    let second: TestServer | undefined
    try {
      probe.client.connect()
      await probe.connectedTimes(1)
      const [old] = await publishN(first, 'c:4', 1)
      await probe.received(1)
      const oldCursor = probe.client.cursor!
      // The memory log dies with its server: the next one on the same port starts a new epoch.
      await first.close()
      second = await startTestServer({}, port)
      await probe.until('the reset', () => probe.resets.length === 1, 15_000)
      const reset = probe.resets[0]!
      assert.equal(reset.reason, 'epoch')
      assert.equal(reset.epoch, second.tidings.hub.epoch)
      assert.notEqual(reset.epoch, oldCursor.split('.')[0])
      assert.equal(probe.connected.at(-1)!.cursor, oldCursor, 'it resumed with the old cursor')
      const [fresh] = await publishN(second, 'c:4', 1)
      await probe.received(2)
      assert.deepEqual(probe.ids, [old, fresh])
      assert.equal(probe.client.cursor!.split('.')[0], second.tidings.hub.epoch, 'the cursor moved to the new epoch')
    } finally {
      probe.close()
      await second?.close()
      await first.close()
    }
  })

  it('follows more and fewer channels without losing events', async () => {
    const srv = await startTestServer()
    try {
      const probe = new ClientProbe(transport, { url: srv.url, channels: ['c:5'] })
      probe.client.connect()
      await probe.connectedTimes(1)
      const expected = await publishN(srv, 'c:5', 1)
      await probe.received(1)
      probe.client.subscribe(['c:6'])
      expected.push(...(await publishN(srv, 'c:5', 1, 1)), ...(await publishN(srv, 'c:6', 1, 2)))
      await probe.received(3)
      probe.client.unsubscribe(['c:5'])
      await publishN(srv, 'c:5', 1, 3)
      expected.push(...(await publishN(srv, 'c:6', 1, 4)))
      await probe.received(4)
      assert.deepEqual(probe.ids, expected)
      if (transport === 'websocket') {
        assert.equal(probe.connected.length, 1, 'the socket changed its channels in place')
      } else {
        assert.ok(probe.connecting.some((c) => c.code === connectingCodes.channelsChanged))
      }
      assert.deepEqual(probe.client.channels, ['c:6'])
      probe.close()
    } finally {
      await srv.close()
    }
  })

  it('stops with code forbidden when the token may not follow a channel', async () => {
    const srv = await startTestServer({ auth: { jwt: { secret: TEST_SECRET } } })
    try {
      const token = await signToken({ sub: 'u2' })
      const probe = new ClientProbe(transport, { url: srv.url, channels: ['user:someone-else'], token })
      probe.client.connect()
      await probe.until('disconnected', () => probe.disconnected.length === 1)
      assert.equal(probe.disconnected[0]!.code, disconnectedCodes.forbidden)
      assert.equal(probe.errors[0]!.status, 403)
    } finally {
      await srv.close()
    }
  })

  it('follows a job to the end: history, live events and its record', async () => {
    const srv = await startTestServer({ jobDefinitions: [demoReport] })
    try {
      await srv.tidings.startWorker()
      const id = await srv.tidings.enqueue(demoReport, { steps: 3, stepMs: 20 })
      const follower = new JobFollower(id, { url: srv.url, transport, EventSource: (await import('eventsource')).EventSource, WebSocket: (await import('ws')).WebSocket })
      const done = new Promise<void>((resolve) =>
        follower.subscribe(() => {
          const v = follower.getSnapshot()
          if (v.status === 'succeeded' && v.record?.status === 'succeeded') resolve()
        }),
      )
      void follower.start()
      await done
      const view = follower.getSnapshot()
      assert.equal(view.progress?.percent, 100)
      assert.deepEqual(
        view.logs.map((l) => l.message),
        ['building a report in 3 steps', 'report ready'],
      )
      assert.deepEqual(view.result, { steps: 3, pages: 9 })
      assert.equal(view.events.filter((e) => e.type === 'job.progress').length, 3, 'each event once, from history and live together')
      follower.stop()
    } finally {
      await srv.close()
    }
  })
}
