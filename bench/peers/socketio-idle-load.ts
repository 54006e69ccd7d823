/**
 * Bench load generator for idle connections: N socket.io-client connections with the websocket
 * transport only (no HTTP long-polling first), each its own Manager (`forceNew`), spread over the
 * given local source addresses. They connect and then stay idle (answering the server's pings).
 * Lives in bench/peers because it imports socket.io-client from there. IPC:
 *   → { ready }
 *   { cmd: 'connect', port, n, sources? } → { connected }
 *   { cmd: 'exit' } → disconnects everything and exits
 */
import { io, type Socket } from 'socket.io-client'

/** Connections opened at once. */
const BATCH = 100
/** Longest wait for one connection. */
const CONNECT_TIMEOUT_MS = 30_000

const sockets: Socket[] = []

function open(port: number, localAddress: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = io(`http://127.0.0.1:${port}`, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: CONNECT_TIMEOUT_MS, localAddress })
    sockets.push(s)
    s.once('connect', () => resolve())
    s.once('connect_error', reject)
  })
}

process.on('message', async (msg: { cmd: string; port: number; n: number; sources?: string[] }) => {
  if (msg.cmd === 'connect') {
    const sources = msg.sources ?? [undefined]
    for (let i = 0; i < msg.n; i += BATCH) {
      await Promise.all(Array.from({ length: Math.min(BATCH, msg.n - i) }, (_, j) => open(msg.port, sources[(i + j) % sources.length])))
    }
    process.send!({ connected: sockets.filter((s) => s.connected).length })
  } else if (msg.cmd === 'exit') {
    for (const s of sockets) s.disconnect()
    process.exit(0)
  }
})
process.send!({ ready: true })
