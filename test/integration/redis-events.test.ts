/**
 * Two hubs on one Redis log, and the faults a Redis deployment sees: a hub going away under its
 * clients, the hub's blocking connection killed, Redis restarting with and without persistence.
 */
import assert from 'node:assert/strict'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { after, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { RedisEventLog, type RedisEventLogOptions } from '../../src/engines/redis/event-log.js'
import { engineAvailable, engineUrl } from '../helpers/engines.js'
import { eventsUrl, SseRecorder, startTestServer, type TestServer } from '../helpers/harness.js'
import { deleteKeys, OwnRedisServer, redisBinariesAvailable, testPrefix } from '../helpers/redis.js'

const TYPES = ['t.r', 'tidings.reset']
/** Quick reconnects and retries, so faults heal within the test's patience. */
const FAST: Partial<RedisEventLogOptions> = { redis: { retryStrategy: () => 50 }, tailRetryMs: 20 }

/** A one-line TCP load balancer in front of the hubs: it can be pointed elsewhere, or hold new connections. */
class Balancer {
  readonly server: Server
  target: number | null
  accepted = 0
  #held: Socket[] = []

  constructor(target: number) {
    this.target = target
    this.server = createServer((socket) => {
      this.accepted++
      socket.on('error', () => socket.destroy())
      if (this.target === null) this.#held.push(socket)
      else this.#pipe(socket, this.target)
    })
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    return `http://127.0.0.1:${(this.server.address() as { port: number }).port}`
  }

  /** Sends held and future connections to `port`. */
  release(port: number): void {
    this.target = port
    for (const s of this.#held.splice(0)) this.#pipe(s, port)
  }

  #pipe(socket: Socket, port: number): void {
    const upstream = connect(port, '127.0.0.1')
    upstream.on('error', () => socket.destroy())
    socket.on('close', () => upstream.destroy())
    upstream.on('close', () => socket.destroy())
    socket.pipe(upstream).pipe(socket)
  }

  close(): Promise<void> {
    for (const s of this.#held) s.destroy()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}

function data(rec: SseRecorder): unknown[] {
  return rec.events.map((e) => (e.type === 'tidings.reset' ? 'reset' : e.data.data))
}

const skipShared = await engineAvailable('redis')

describe('Redis: two hubs on one log', { skip: skipShared ?? false }, () => {
  const url = engineUrl('redis')
  const prefix = testPrefix('events')
  const admin = new Redis(url, { lazyConnect: true })
  const logs: RedisEventLog[] = []
  const servers: TestServer[] = []
  const hub = async (name: string): Promise<TestServer> => {
    const log = new RedisEventLog({ url, prefix, clientName: `${prefix}:${name}`, ...FAST })
    logs.push(log)
    const srv = await startTestServer({ events: log, http: { retryMs: 50 } })
    servers.push(srv)
    return srv
  }
  after(async () => {
    for (const s of servers) await s.close()
    for (const l of logs) await l.close()
    await deleteKeys(url, prefix)
    admin.disconnect()
  })

  it('a client of hub A that reconnects to hub B with its Last-Event-ID gets exactly what it missed', async () => {
    const a = await hub('a')
    const b = await hub('b')
    const balancer = new Balancer(Number(new URL(a.url).port))
    const base = await balancer.listen()
    try {
      const rec = new SseRecorder(eventsUrl(base, ['job:1']), { types: TYPES })
      await rec.opened()
      const before = await a.tidings.publish(Array.from({ length: 5 }, (_, i) => ({ type: 't.r', channels: ['job:1'], data: `a${i}` })))
      await rec.waitFor(5)

      // Hub A goes away; the balancer holds the client's reconnection until B has moved on.
      balancer.target = null
      await a.close()
      const missed = []
      for (let i = 0; i < 5; i++) missed.push(await b.tidings.publish({ type: 't.r', channels: i % 2 ? ['job:1', 'other'] : ['job:1'], data: `b${i}` }))
      await b.tidings.publish({ type: 't.r', channels: ['unrelated'], data: 'not for this client' })
      balancer.release(Number(new URL(b.url).port))

      await rec.waitFor(10)
      const live = await b.tidings.publish({ type: 't.r', channels: ['job:1'], data: 'live' })
      await rec.waitFor(11)
      assert.deepEqual(
        rec.events.map((e) => e.data.id),
        [...before, ...missed, live].map((p) => p.id),
        'every event once, in log order, no reset',
      )
      assert.ok(balancer.accepted >= 2, 'the client reconnected through the balancer')
      assert.equal(rec.events[10]!.lastEventId, live.cursor)
      rec.close()
    } finally {
      await balancer.close()
    }
  })

  it("the hub's tail survives its blocking connection being killed, with no gap", async () => {
    const a = await hub('c')
    const b = await hub('d')
    await admin.connect().catch(() => {})
    const tailName = `${prefix}:c:tail`
    const findTail = async (): Promise<{ id: string; cmd: string } | null> => {
      const list = (await admin.call('CLIENT', 'LIST')) as string
      for (const line of list.split('\n')) {
        const fields = Object.fromEntries(line.split(' ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))
        if (fields.name === tailName) return { id: fields.id!, cmd: fields.cmd! }
      }
      return null
    }
    const rec = new SseRecorder(eventsUrl(a.url, ['k']), { types: TYPES })
    await rec.opened()
    const first = await b.tidings.publish({ type: 't.r', channels: ['k'], data: 0 })
    await rec.waitFor(1)

    // Bounded polling: Redis has no event for "a client is now blocked".
    let tail = await findTail()
    for (let i = 0; i < 250 && tail?.cmd !== 'xread'; i++) {
      await new Promise((r) => setTimeout(r, 20))
      tail = await findTail()
    }
    assert.equal(tail?.cmd, 'xread', 'the tail blocks in XREAD on a connection of its own')
    assert.equal(await admin.call('CLIENT', 'KILL', 'ID', tail!.id), 1)

    const during = await b.tidings.publish(Array.from({ length: 20 }, (_, i) => ({ type: 't.r', channels: ['k'], data: i + 1 })))
    await rec.waitFor(21)
    const afterwards = await b.tidings.publish({ type: 't.r', channels: ['k'], data: 'after' })
    await rec.waitFor(22)
    assert.deepEqual(rec.events.map((e) => e.data.id), [first, ...during, afterwards].map((p) => p.id))
    const again = await findTail()
    assert.ok(again !== null && again.id !== tail!.id, 'the tail reconnected on a new connection')
    rec.close()
  })
})

const skipOwn = (await engineAvailable('redis')) ?? (await redisBinariesAvailable())

describe('Redis restarts (a redis-server of our own)', { skip: skipOwn ?? false }, () => {
  it('with appendonly: no acknowledged event is lost or repeated, live or for a resuming client', async () => {
    const server = await OwnRedisServer.start({ appendonly: true })
    const log = new RedisEventLog({ url: server.url, ...FAST })
    // A tiny window: the resume below must come from Redis, not from the hub's memory.
    const srv = await startTestServer({ events: log, hub: { windowSize: 4 } })
    try {
      const rec = new SseRecorder(eventsUrl(srv.url, ['r']), { types: TYPES })
      await rec.opened()
      const before = await srv.tidings.publish(Array.from({ length: 10 }, (_, i) => ({ type: 't.r', channels: ['r'], data: i })))
      await rec.waitFor(10)
      const epoch = srv.tidings.hub.epoch

      await server.restart()
      const afterRestart = []
      for (let i = 10; i < 20; i++) afterRestart.push(await srv.tidings.publish({ type: 't.r', channels: ['r'], data: i }))
      await rec.waitFor(20)
      const all = [...before, ...afterRestart].map((p) => p.id)
      assert.deepEqual(rec.events.map((e) => e.data.id), all, 'the live client saw every event once, and no reset')
      assert.equal(srv.tidings.hub.epoch, epoch)
      assert.equal(await log.epoch(), epoch, 'the epoch survived the restart')

      const resumed = new SseRecorder(eventsUrl(srv.url, ['r']), { types: TYPES, lastEventId: before[4]!.cursor! })
      await resumed.waitFor(15)
      const marker = await srv.tidings.publish({ type: 't.r', channels: ['r'], data: 'marker' })
      await resumed.waitFor(16)
      assert.deepEqual(resumed.events.map((e) => e.data.id), [...all.slice(5), marker.id], 'the resuming client got exactly what it missed')
      rec.close()
      resumed.close()
    } finally {
      await srv.close()
      await log.close()
      await server.stop()
    }
  })

  it('without persistence: the log comes back empty with a new epoch, and clients get tidings.reset', async () => {
    const server = await OwnRedisServer.start({ appendonly: false })
    const log = new RedisEventLog({ url: server.url, blockMs: 100, ...FAST })
    const srv = await startTestServer({ events: log })
    try {
      const rec = new SseRecorder(eventsUrl(srv.url, ['r']), { types: TYPES })
      await rec.opened()
      const before = await srv.tidings.publish(Array.from({ length: 3 }, (_, i) => ({ type: 't.r', channels: ['r'], data: i })))
      await rec.waitFor(3)
      const epoch = srv.tidings.hub.epoch

      await server.restart()
      // The idle hub notices on its own (its next page finds no epoch) and resets its clients.
      await rec.waitFor(4)
      assert.equal(rec.events[3]!.type, 'tidings.reset')
      assert.equal((rec.events[3]!.data.data as { reason: string }).reason, 'epoch')
      const fresh = await srv.tidings.publish({ type: 't.r', channels: ['r'], data: 'new' })
      await rec.waitFor(5)
      assert.deepEqual(data(rec), [0, 1, 2, 'reset', 'new'])
      assert.notEqual(srv.tidings.hub.epoch, epoch)
      assert.ok(fresh.cursor!.startsWith(`${srv.tidings.hub.epoch}.`))

      const stale = new SseRecorder(eventsUrl(srv.url, ['r']), { types: TYPES, lastEventId: before[1]!.cursor! })
      await stale.waitFor(1)
      const live = await srv.tidings.publish({ type: 't.r', channels: ['r'], data: 'live' })
      await stale.waitFor(2)
      assert.equal(stale.events[0]!.type, 'tidings.reset')
      assert.equal((stale.events[0]!.data.data as { reason: string }).reason, 'epoch')
      assert.deepEqual(stale.events.slice(1).map((e) => e.data.id), [live.id])
      rec.close()
      stale.close()
    } finally {
      await srv.close()
      await log.close()
      await server.stop()
    }
  })
})
