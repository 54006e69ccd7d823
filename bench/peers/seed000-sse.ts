/**
 * Peer: seed 000's pattern (/work/shared/seeds/000_*.txt, "Cross-Service SSE Publishing"). Jobs
 * PUBLISH the snake_case event JSON to a Redis pub/sub channel (`sse:broadcast` there) with one
 * `json.dumps` per publish; the API's `GET /events` opens a Redis subscriber for each connection
 * (its RedisSSESubscriber) and, for each message, parses the JSON and writes it as an SSE frame to
 * that one response — so Redis sends every event once per connection and the server parses and
 * serialises it once per connection.
 *
 * Here both sides live in one process: the ramp's publishes go out through one publisher client
 * (`PUBLISH <prefix>sse:<channel> <json>` per event, as the seed's SSEPublisher does) and come back
 * through the per-connection subscribers. `GET /events?channel=<name>`.
 * Env: REDIS_URL (else 127.0.0.1:6379), BENCH_REDIS_PREFIX (prepended to channel names).
 */
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Redis } from 'ioredis'
import { serveRamp, type SeedEvent } from './fanout-ipc.js'

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379'
const PREFIX = process.env.BENCH_REDIS_PREFIX ?? ''
const redisChannel = (name: string): string => `${PREFIX}sse:${name}`

const publisher = new Redis(REDIS_URL)
const subscribers = new Set<Redis>()

/** The seed's RedisSSESubscriber, one per connection. */
async function stream(res: ServerResponse, channel: string): Promise<void> {
  const subscriber = new Redis(REDIS_URL)
  subscribers.add(subscriber)
  res.on('close', () => {
    subscribers.delete(subscriber)
    subscriber.disconnect()
  })
  subscriber.on('message', (_channel: string, message: string) => {
    const event = JSON.parse(message) as SeedEvent
    res.write(`id: ${event.event_id}\nevent: ${event.event_type}\ndata: ${JSON.stringify(event)}\n\n`)
  })
  await subscriber.subscribe(redisChannel(channel))
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
      for (const s of subscribers) s.disconnect()
      publisher.disconnect()
    },
  )
})
