/**
 * Peer: a socket.io server as its README has it — `new Server(httpServer)` with every option at its
 * default (polling and websocket transports, pingInterval 25 s, no per-message deflate, no
 * connection-state recovery) — where each client joins one room on connect. Used by
 * bench/suites/idle.ts to weigh idle connections. IPC:
 *   → { ready, port }
 *   { cmd: 'rss', connections } → { rss, heapUsed, external, arrayBuffers, connections, gc }: waits
 *   until `connections` sockets are connected, forces GC (with --expose-gc, e.g.
 *   NODE_OPTIONS=--expose-gc) and lets the heap settle, then reads process.memoryUsage()
 *   { cmd: 'exit' } → closes and exits
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Server } from 'socket.io'

/** The room every client joins (the counterpart of the one channel every SSE client follows). */
const ROOM = 'bench'
/** Settling before a memory reading: how often the socket count is checked, and the longest wait. */
const SETTLE_POLL_MS = 50
const SETTLE_TIMEOUT_MS = 120_000
/** Pause between forced GCs, so that finalizers and freed native buffers are released. */
const GC_PAUSE_MS = 250

const httpServer = createServer()
const io = new Server(httpServer)
io.on('connection', (socket) => {
  void socket.join(ROOM)
})

httpServer.listen(0, '127.0.0.1', () => {
  process.send!({ ready: true, port: (httpServer.address() as AddressInfo).port })
})

async function memory(connections: number): Promise<object> {
  const deadline = performance.now() + SETTLE_TIMEOUT_MS
  while (io.of('/').sockets.size !== connections && performance.now() < deadline) await new Promise((r) => setTimeout(r, SETTLE_POLL_MS))
  const gc = (globalThis as { gc?: () => void }).gc
  for (let i = 0; i < 3; i++) {
    gc?.()
    await new Promise((r) => setTimeout(r, GC_PAUSE_MS))
  }
  const m = process.memoryUsage()
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, connections: io.of('/').sockets.size, gc: gc !== undefined }
}

process.on('message', async (msg: { cmd: string; connections?: number }) => {
  if (msg.cmd === 'rss') process.send!(await memory(msg.connections ?? 0))
  else if (msg.cmd === 'exit') {
    io.close()
    process.exit(0)
  }
})
