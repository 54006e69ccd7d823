import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { backoffDelay, connectingCodes, disconnectedCodes, TidingsClient, type TidingsEvent, type TransportFactory, type TransportListener, type TransportRequest } from '../../src/client/index.js'
import { sseMessageFrame, wsMessage, type HubEntry } from '../../src/core/hub.js'

/** A transport the test drives by hand. */
function fakeTransport(): { factory: TransportFactory; opened: { request: TransportRequest; listener: TransportListener; closed: boolean }[]; attempt(n: number): Promise<void> } {
  const opened: { request: TransportRequest; listener: TransportListener; closed: boolean }[] = []
  let waiters: { n: number; resolve: () => void }[] = []
  const attempt = (n: number): Promise<void> => (opened.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve })))
  const factory: TransportFactory = (request, listener) => {
    const conn = { request, listener, closed: false }
    opened.push(conn)
    waiters = waiters.filter((w) => (opened.length >= w.n ? (w.resolve(), false) : true))
    return {
      name: 'sse',
      update: () => false,
      close: () => {
        conn.closed = true
      },
    }
  }
  return { factory, opened, attempt }
}

function event(id: string, key: string | null = null, channels = ['c']): TidingsEvent {
  return { id, schemaVersion: 1, type: 't.x', channels, tenant: null, key, occurredAt: new Date().toISOString(), data: id, job: null, traceparent: null }
}

describe('tidings/client', () => {
  it('backs off with full jitter: uniform between 0 and min(max, base·2^attempt)', () => {
    assert.equal(backoffDelay(0, 500, 20_000, () => 0.999999), 499)
    assert.equal(backoffDelay(3, 500, 20_000, () => 0.5), 2_000)
    assert.equal(backoffDelay(10, 500, 20_000, () => 0.999999), 19_999)
    assert.equal(backoffDelay(1_000, 500, 20_000, () => 0), 0)
  })

  it('moves through its states by one path and reports each change as { oldState, newState }', async () => {
    const { factory, opened, attempt } = fakeTransport()
    const client = new TidingsClient({ channels: ['c'], transportFactory: factory, url: 'http://127.0.0.1:1', minReconnectDelayMs: 1, maxReconnectDelayMs: 1 })
    const changes: string[] = []
    const codes: number[] = []
    client.on('state', ({ oldState, newState }) => changes.push(`${oldState}>${newState}`))
    client.on('connecting', ({ code }) => codes.push(code))
    client.connect()
    client.connect()
    await attempt(1)
    await new Promise((r) => setImmediate(r))
    assert.equal(opened.length, 1, 'connect() while connecting does nothing')
    opened[0]!.listener.onOpen()
    opened[0]!.listener.onEvent(event('e1'), 'ep.1')
    opened[0]!.listener.onClose({ status: 0, code: null, reason: 'dropped' })
    assert.equal(client.state, 'connecting')
    await attempt(2)
    assert.equal(opened[1]!.request.cursor, 'ep.1', 'reconnects from its cursor')
    opened[0]!.listener.onOpen()
    assert.equal(client.state, 'connecting', 'a replaced connection is ignored')
    client.disconnect()
    assert.equal(opened[1]!.closed, true)
    assert.deepEqual(changes, ['disconnected>connecting', 'connecting>connected', 'connected>connecting', 'connecting>disconnected'])
    assert.deepEqual(codes, [connectingCodes.connectCalled, connectingCodes.transportClosed])
  })

  it('drops repeats by id and by key, and events of channels it no longer follows', async () => {
    const { factory, opened } = fakeTransport()
    const client = new TidingsClient({ channels: ['c', 'd:*'], transportFactory: factory, url: 'http://127.0.0.1:1' })
    const got: string[] = []
    client.on('event', (e) => got.push(e.id))
    client.connect()
    await new Promise((r) => setImmediate(r))
    const l = opened[0]!.listener
    l.onOpen()
    l.onEvent(event('a'), 'x.1')
    l.onEvent(event('a'), 'x.1')
    l.onEvent(event('b', 'k1'), 'x.2')
    l.onEvent(event('c', 'k1'), 'x.3')
    l.onEvent(event('d', null, ['d:7']), 'x.4')
    l.onEvent(event('e', null, ['elsewhere']), 'x.5')
    assert.deepEqual(got, ['a', 'b', 'd'])
    assert.equal(client.cursor, 'x.5', 'the cursor still moves past what it drops')
    client.disconnect()
  })

  it('surfaces tidings.reset as a reset, takes its cursor, and stops for good on 403', async () => {
    const { factory, opened } = fakeTransport()
    const client = new TidingsClient({ channels: ['c'], transportFactory: factory, url: 'http://127.0.0.1:1', since: 'old.9' })
    const resets: string[] = []
    const events: string[] = []
    client.on('reset', (r) => resets.push(`${r.reason}@${r.cursor}`))
    client.on('event', (e) => events.push(e.type))
    client.connect()
    await new Promise((r) => setImmediate(r))
    opened[0]!.listener.onOpen()
    opened[0]!.listener.onEvent({ ...event('r', null, []), type: 'tidings.reset', data: { reason: 'epoch', epoch: 'new', cursor: 'new.3' } }, 'new.3')
    assert.deepEqual(resets, ['epoch@new.3'])
    assert.deepEqual(events, [], 'a reset is not an application event')
    assert.equal(client.cursor, 'new.3')
    const disconnected: number[] = []
    client.on('disconnected', ({ code }) => disconnected.push(code))
    opened[0]!.listener.onClose({ status: 403, code: 'TIDINGS_ERR_FORBIDDEN_CHANNEL', reason: 'no' })
    assert.equal(client.state, 'disconnected')
    assert.deepEqual(disconnected, [disconnectedCodes.forbidden])
  })

  it('has no runtime dependencies and no Node built-ins, so it builds for the browser', () => {
    const dir = new URL('../../src/client/', import.meta.url)
    for (const file of readdirSync(dir)) {
      const source = readFileSync(new URL(file, dir), 'utf8')
      for (const m of source.matchAll(/^\s*(?:import|export)\s[^'"]*from\s+'([^']+)'/gm)) {
        assert.ok(m[1]!.startsWith('./'), `${file} imports ${m[1]}: the client may import only its own modules`)
      }
    }
  })
})

describe('hub entries carry each encoding once', () => {
  it('builds the SSE message frame and the WebSocket message on first use and shares them', () => {
    const entry: HubEntry = { position: '7', cursor: 'ep.7', event: event('e7') as HubEntry['event'], json: '{"id":"e7"}', sseFrame: Buffer.from(''), sseMessage: undefined, wsMessage: undefined, dupOf: null }
    const ws = wsMessage(entry)
    assert.equal(ws.toString(), '{"op":"event","cursor":"ep.7","event":{"id":"e7"}}')
    assert.equal(wsMessage(entry), ws, 'the same bytes for every socket')
    assert.equal(sseMessageFrame(entry).toString(), 'id: ep.7\ndata: {"id":"e7"}\n\n')
    assert.equal(sseMessageFrame(entry), sseMessageFrame(entry))
  })
})
