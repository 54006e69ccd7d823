/**
 * Peer: the limit probe — bench/peers/hand-hub.ts plus write batching: the frames that arrive in
 * one event-loop turn are joined into one Buffer (once, not per connection) and written to each
 * connection's socket in a single write at the end of the turn (setImmediate). To be a ceiling
 * rather than a typical program it also skips what the HTTP layer adds per write: the body is
 * unchunked (it ends with the connection) and goes to the socket directly. No auth, no cursors, no
 * buffers, no per-connection state beyond the Set: about as fast as one Node core can push these
 * bytes to these sockets, and the ceiling Tidings is measured against.
 *
 * Events enter as in hand-hub.ts: `PUBLISH <prefix>sse:<channel> <json>` per event through one
 * publisher client, back through the one subscriber. `GET /events?channel=<name>`.
 * Env: REDIS_URL (else 127.0.0.1:6379), BENCH_REDIS_PREFIX.
 */
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { Redis } from 'ioredis'
import { serveRamp } from './fanout-ipc.js'

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379'
const PREFIX = process.env.BENCH_REDIS_PREFIX ?? ''
const redisChannel = (name: string): string => `${PREFIX}sse:${name}`

const publisher = new Redis(REDIS_URL)
const subscriber = new Redis(REDIS_URL)
/** Redis channel → the sockets following it and the frames of this turn not yet written. */
const rooms = new Map<string, { readonly sockets: Set<Socket>; frames: Buffer[] }>()
let flushScheduled = false

function flush(): void {
  flushScheduled = false
  for (const room of rooms.values()) {
    if (room.frames.length === 0) continue
    const chunk = room.frames.length === 1 ? room.frames[0]! : Buffer.concat(room.frames)
    room.frames = []
    for (const socket of room.sockets) socket.write(chunk)
  }
}

subscriber.on('message', (channel: string, message: string) => {
  const room = rooms.get(channel)
  if (room === undefined) return
  const { event_id, event_type } = JSON.parse(message) as { event_id: string; event_type: string }
  room.frames.push(Buffer.from(`id: ${event_id}\nevent: ${event_type}\ndata: ${message}\n\n`))
  if (!flushScheduled) {
    flushScheduled = true
    setImmediate(flush)
  }
})

async function stream(res: ServerResponse, channel: string): Promise<void> {
  const key = redisChannel(channel)
  let room = rooms.get(key)
  if (room === undefined) {
    rooms.set(key, (room = { sockets: new Set(), frames: [] }))
    await subscriber.subscribe(key)
  }
  const joined = room
  const socket = res.socket!
  joined.sockets.add(socket)
  socket.on('close', () => joined.sockets.delete(socket))
  // No chunked framing: the body runs until the connection closes, and frames go to the socket as they are.
  res.useChunkedEncodingByDefault = false
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'close' })
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
