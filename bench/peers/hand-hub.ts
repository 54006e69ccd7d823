/**
 * Peer: a competent hand-rolled SSE hub, the way a careful Node developer writes one on Redis
 * pub/sub: one Redis subscriber per process (not per connection), a `Set` of open responses per
 * channel, and each message framed once — `id:`/`event:` from one JSON.parse, the published JSON
 * as `data:` — then the same Buffer written to every response in the set, one write per event.
 *
 * Events enter as in seed 000: the ramp's publishes go out through one publisher client
 * (`PUBLISH <prefix>sse:<channel> <json>` per event) and come back through the one subscriber.
 * `GET /events?channel=<name>`. Env: REDIS_URL (else 127.0.0.1:6379), BENCH_REDIS_PREFIX.
 */
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Redis } from 'ioredis'
import { serveRamp } from './fanout-ipc.js'

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379'
const PREFIX = process.env.BENCH_REDIS_PREFIX ?? ''
const redisChannel = (name: string): string => `${PREFIX}sse:${name}`

const publisher = new Redis(REDIS_URL)
const subscriber = new Redis(REDIS_URL)
/** Redis channel → the responses following it. */
const rooms = new Map<string, Set<ServerResponse>>()

subscriber.on('message', (channel: string, message: string) => {
  const room = rooms.get(channel)
  if (room === undefined) return
  const { event_id, event_type } = JSON.parse(message) as { event_id: string; event_type: string }
  const frame = Buffer.from(`id: ${event_id}\nevent: ${event_type}\ndata: ${message}\n\n`)
  for (const res of room) res.write(frame)
})

async function stream(res: ServerResponse, channel: string): Promise<void> {
  const key = redisChannel(channel)
  let room = rooms.get(key)
  if (room === undefined) {
    rooms.set(key, (room = new Set()))
    await subscriber.subscribe(key)
  }
  const joined = room
  joined.add(res)
  res.on('close', () => joined.delete(res))
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
  res.write(': connected\n\n')
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://peer')
  if (req.method !== 'GET' || url.pathname !== '/events') {
    res.writeHead(404).end()
    return
  }
  stream(res, url.searchParams.get('channel') ?? 'broadcast').catch(() => res.destroy())
})

server.listen(0, '127.0.0.1', () => {
  serveRamp(
    (server.address() as AddressInfo).port,
    (channel, events) => {
      // One tick's PUBLISHes go out as one pipeline, as Tidings' hub process publishes one tick as one batch.
      const pipeline = publisher.pipeline()
      for (const event of events) pipeline.publish(redisChannel(channel), JSON.stringify(event))
      void pipeline.exec()
    },
    async () => {
      subscriber.disconnect()
      publisher.disconnect()
    },
  )
})
