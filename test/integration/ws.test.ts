import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { describe, it } from 'node:test'
import { WebSocket, type ClientOptions } from 'ws'
import { signToken, startTestServer, TEST_SECRET, eventsUrl, SseRecorder } from '../helpers/harness.js'

interface Message {
  op: string
  id?: unknown
  cursor?: string | null
  channels?: string[]
  heartbeatMs?: number
  event?: { id: string; type: string; data: unknown; tenant: string | null }
  error?: { code: string; message: string }
}

/** A raw `ws` client recording every message, with waits on what arrives. */
class Socket {
  readonly ws: WebSocket
  readonly messages: Message[] = []
  readonly closed: Promise<{ code: number; reason: string }>
  readonly pings: number[] = []
  #waiters: { check: () => boolean; resolve: () => void }[] = []

  constructor(url: string, options: ClientOptions = {}) {
    this.ws = new WebSocket(url, options)
    this.ws.on('message', (data) => {
      this.messages.push(JSON.parse(data.toString()) as Message)
      this.#wake()
    })
    this.ws.on('ping', () => {
      this.pings.push(Date.now())
      this.#wake()
    })
    this.ws.on('error', () => {})
    this.closed = new Promise((resolve) => this.ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })))
  }

  get events(): Message[] {
    return this.messages.filter((m) => m.op === 'event')
  }

  until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
    if (check()) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}: ${JSON.stringify(this.messages)}`)), timeoutMs)
      this.#waiters.push({ check, resolve: () => (clearTimeout(timer), resolve()) })
    })
  }

  send(msg: unknown): void {
    this.ws.send(JSON.stringify(msg))
  }

  #wake(): void {
    this.#waiters = this.#waiters.filter((w) => (w.check() ? (w.resolve(), false) : true))
  }
}

function wsUrl(base: string, query: string): string {
  return `${base.replace('http', 'ws')}/v1/ws?${query}`
}

describe('GET /v1/ws', () => {
  it('streams the envelope with cursors, resumes from lastEventId, and changes channels with subscribe/unsubscribe', async () => {
    const srv = await startTestServer()
    try {
      const [a, b] = await srv.tidings.publish([
        { type: 't.w', channels: ['w:1'], data: 'a' },
        { type: 't.w', channels: ['w:1'], data: 'b' },
      ])
      const s = new Socket(wsUrl(srv.url, `channel=w:1&lastEventId=${encodeURIComponent(a!.cursor!)}`))
      await s.until('the replay', () => s.events.length === 1)
      assert.deepEqual(s.messages[0], { op: 'subscribed', id: null, channels: ['w:1'], heartbeatMs: 15_000 })
      assert.equal(s.events[0]!.cursor, b!.cursor)
      assert.equal(s.events[0]!.event!.id, b!.id)
      assert.equal(s.events[0]!.event!.data, 'b')

      s.send({ op: 'subscribe', channels: ['w:2'], id: 7 })
      await s.until('the ack', () => s.messages.some((m) => m.op === 'subscribed' && m.id === 7))
      assert.deepEqual(s.messages.find((m) => m.id === 7)!.channels, ['w:1', 'w:2'])
      const [c] = await srv.tidings.publish([{ type: 't.w', channels: ['w:2'], data: 'c' }])
      await s.until('the event on the new channel', () => s.events.length === 2)
      assert.equal(s.events[1]!.event!.id, c!.id)

      s.send({ op: 'unsubscribe', channels: ['w:1'], id: 'u' })
      await s.until('the ack', () => s.messages.some((m) => m.op === 'unsubscribed' && m.id === 'u'))
      await srv.tidings.publish([{ type: 't.w', channels: ['w:1'], data: 'not for me' }])
      const [d] = await srv.tidings.publish([{ type: 't.w', channels: ['w:2'], data: 'd' }])
      await s.until('the event after unsubscribe', () => s.events.length === 3)
      assert.equal(s.events[2]!.event!.id, d!.id, 'nothing of w:1 after unsubscribing')

      s.send('not json')
      s.send({ op: 'subscribe', channels: ['bad channel!'], id: 9 })
      await s.until('two errors', () => s.messages.filter((m) => m.op === 'error').length === 2)
      const errors = s.messages.filter((m) => m.op === 'error')
      assert.equal(errors[0]!.error!.code, 'TIDINGS_ERR_INVALID_MESSAGE')
      assert.equal(errors[1]!.error!.code, 'TIDINGS_ERR_INVALID_CHANNEL')
      assert.equal(errors[1]!.id, 9)
      assert.equal(s.ws.readyState, WebSocket.OPEN, 'a bad request does not close the socket')
      s.ws.close()
    } finally {
      await srv.close()
    }
  })

  it('checks the token and the channels like SSE: 4401 without a token, 4403 outside its rights, tenants filtered on every event', async () => {
    const srv = await startTestServer({ auth: { jwt: { secret: TEST_SECRET } } })
    try {
      const anonymous = new Socket(wsUrl(srv.url, 'channel=broadcast'))
      const a = await anonymous.closed
      assert.deepEqual(a, { code: 4401, reason: 'TIDINGS_ERR_UNAUTHENTICATED' })
      assert.equal(anonymous.messages[0]!.error!.code, 'TIDINGS_ERR_UNAUTHENTICATED')

      const token = await signToken({ sub: 'u1', tenant: 'acme', tidings: { subscribe: ['team:*'] } })
      const outside = new Socket(wsUrl(srv.url, `channel=user:u2&token=${token}`))
      assert.equal((await outside.closed).code, 4403)

      const s = new Socket(wsUrl(srv.url, `channel=team:1&token=${token}`))
      await s.until('subscribed', () => s.messages.length === 1)
      s.send({ op: 'subscribe', channels: ['user:u2'], id: 1 })
      await s.until('the refusal', () => s.messages.some((m) => m.op === 'error'))
      assert.equal(s.messages.find((m) => m.op === 'error')!.error!.code, 'TIDINGS_ERR_FORBIDDEN_CHANNEL')
      const out = await srv.tidings.publish([
        { type: 't.t', channels: ['team:1'], tenant: 'other', data: 'hidden' },
        { type: 't.t', channels: ['team:1'], tenant: 'acme', data: 'mine' },
      ])
      await s.until('the event', () => s.events.length === 1)
      assert.equal(s.events[0]!.event!.id, out[1]!.id, 'another tenant\'s event never arrives')
      s.ws.close()
    } finally {
      await srv.close()
    }
  })

  it('counts sockets and SSE streams against the same per-principal limit', async () => {
    const srv = await startTestServer({ auth: { jwt: { secret: TEST_SECRET } }, http: { maxConnectionsPerPrincipal: 1 } })
    try {
      const token = await signToken({ sub: 'u1' })
      const sse = new SseRecorder(eventsUrl(srv.url, ['broadcast'], { token }), { types: ['x'] })
      await sse.opened()
      const s = new Socket(wsUrl(srv.url, `channel=broadcast&token=${token}`))
      assert.equal((await s.closed).code, 4429)
      sse.close()
    } finally {
      await srv.close()
    }
  })

  it('pings; a client that stops answering is dropped; the server also sends hb messages', async () => {
    const srv = await startTestServer({ http: { heartbeatMs: 30 } })
    try {
      const healthy = new Socket(wsUrl(srv.url, 'channel=hb'))
      const silent = new Socket(wsUrl(srv.url, 'channel=hb'), { autoPong: false })
      await healthy.until('pings and hb messages', () => healthy.pings.length >= 3 && healthy.messages.filter((m) => m.op === 'hb').length >= 3)
      const closed = await silent.closed
      assert.equal(closed.code, 1006, 'dropped without a closing handshake')
      assert.ok(silent.pings.length >= 1)
      assert.equal(healthy.ws.readyState, WebSocket.OPEN)
      healthy.ws.close()
    } finally {
      await srv.close()
    }
  })

  it('cuts a client that stops reading once its buffer passes the bound', async () => {
    const maxBufferBytes = 256 * 1024
    const srv = await startTestServer({ http: { maxBufferBytes } })
    try {
      const { port } = new URL(srv.url)
      const socket = connect(Number(port), '127.0.0.1')
      await new Promise((r) => socket.once('connect', r))
      socket.write('GET /v1/ws?channel=slow HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
      await new Promise<void>((resolve) => {
        let head = ''
        const onData = (d: Buffer): void => {
          head += d.toString('latin1')
          if (head.includes('"op":"subscribed"')) {
            socket.off('data', onData)
            resolve()
          }
        }
        socket.on('data', onData)
      })
      socket.pause()
      const payload = 'p'.repeat(1000)
      for (let round = 0; round < 200 && srv.tidings.http.connectionCount > 0; round++) {
        await srv.tidings.publish(Array.from({ length: 500 }, (_, i) => ({ type: 't.slow', channels: ['slow'], data: { round, i, payload } })))
        await new Promise((r) => setImmediate(r))
      }
      assert.equal(srv.tidings.http.connectionCount, 0, 'the slow socket was cut')
      assert.match(await srv.tidings.metrics.render(), /tidings_slow_consumer_cuts_total 1/)
      socket.destroy()
    } finally {
      await srv.close()
    }
  })

  it('answers 426 without an upgrade, and refuses pages of other origins', async () => {
    const srv = await startTestServer()
    try {
      const res = await fetch(`${srv.url}/v1/ws?channel=x`)
      assert.equal(res.status, 426)
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'TIDINGS_ERR_UPGRADE_REQUIRED')
      assert.equal((await fetch(`${srv.url}/`)).status, 404, 'no dashboard unless http.page is set')
      const foreign = new WebSocket(wsUrl(srv.url, 'channel=x'), { origin: 'https://evil.example' })
      const status = await new Promise<number>((resolve) => foreign.on('unexpected-response', (_req, r) => resolve(r.statusCode ?? 0)))
      assert.equal(status, 403)
      const same = new Socket(wsUrl(srv.url, 'channel=x'), { origin: srv.url })
      await same.until('subscribed', () => same.messages.length === 1)
      same.ws.close()
    } finally {
      await srv.close()
    }
  })
})
