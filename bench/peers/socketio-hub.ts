/**
 * Peer: socket.io with @socket.io/redis-adapter, as their docs set it up — `new Server(httpServer,
 * { adapter: createAdapter(pubClient, subClient) })` on ioredis, each client joining a room (the
 * channel it asks for in its handshake query), and the server sending with
 * `io.to(room).emit(event, payload)`. The adapter fans out to this process's sockets and PUBLISHes
 * each packet to Redis for the other nodes (this process sees its own packets come back and drops
 * them, as the adapter does). Clients connect with the websocket transport only (no polling).
 *
 * Events enter in-process: each of the ramp's events is one `io.to(channel).emit('bench.tick',
 * event)` with the seed-000 envelope as payload. Env: REDIS_URL (else 127.0.0.1:6379),
 * BENCH_REDIS_PREFIX (the adapter's key, so runs never share channels).
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createAdapter } from '@socket.io/redis-adapter'
import { Redis } from 'ioredis'
import { Server } from 'socket.io'
import { serveRamp } from './fanout-ipc.js'

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379'
const pubClient = new Redis(REDIS_URL)
const subClient = pubClient.duplicate()

const httpServer = createServer()
const io = new Server(httpServer, {
  adapter: createAdapter(pubClient, subClient, { key: `${process.env.BENCH_REDIS_PREFIX ?? ''}socket.io` }),
  transports: ['websocket'],
  serveClient: false,
})
io.on('connection', (socket) => {
  const room = socket.handshake.query.room
  void socket.join(typeof room === 'string' ? room : 'broadcast')
})

httpServer.listen(0, '127.0.0.1', () => {
  serveRamp(
    (httpServer.address() as AddressInfo).port,
    (channel, events) => {
      for (const event of events) io.to(channel).emit('bench.tick', event)
    },
    async () => {
      io.disconnectSockets(true)
      await io.close()
      pubClient.disconnect()
      subClient.disconnect()
    },
  )
})
