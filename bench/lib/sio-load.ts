/**
 * Bench load generator for socket.io peers: N socket.io-client connections (websocket transport
 * only, no polling upgrade, no reconnection), each joining a room through its handshake query.
 * Counts `bench.tick` events on all of them and measures publish→receive latency (the event's
 * `data.t`) on a sample. Same IPC protocol as sse-load.ts, so bench/lib/ramp.ts drives either:
 *   { cmd: 'connect', port, n, channel, sources? } → { connected }
 *   { cmd: 'reset' } → {}; { cmd: 'report' } → { frames, latenciesMs, cpu }
 * socket.io-client lives in bench/peers (its own package) and is loaded through
 * bench/peers/sio-client.ts.
 */

/** The slice of socket.io-client's Socket this load generator uses. */
interface SioSocket {
  on(event: 'connect', listener: () => void): void
  on(event: 'connect_error', listener: (err: Error) => void): void
  on(event: 'bench.tick', listener: (event: { data?: { t?: string } }) => void): void
  disconnect(): void
}
type SioConnect = (url: string, options: object) => SioSocket

/** Connections whose events are read for latency, spread evenly over all of them. */
const SAMPLE = 20
const PEER_CLIENT_MODULE = new URL('../peers/sio-client.ts', import.meta.url).href
const { io } = (await import(PEER_CLIENT_MODULE)) as { io: SioConnect }

let frames = 0
let latencies: number[] = []
let cpuMark = process.cpuUsage()
let timeMark = performance.now()
const sockets: SioSocket[] = []

function open(port: number, room: string, sampled: boolean, localAddress?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = io(`http://127.0.0.1:${port}`, {
      transports: ['websocket'],
      query: { room },
      forceNew: true,
      reconnection: false,
      // Passed through to the `ws` client: bind the source address when asked.
      ...(localAddress === undefined ? {} : { localAddress }),
    })
    sockets.push(socket)
    socket.on('connect', () => resolve())
    socket.on('connect_error', reject)
    if (sampled) {
      socket.on('bench.tick', (event) => {
        const t = event.data?.t
        if (t !== undefined) latencies.push(Number(process.hrtime.bigint() - BigInt(t)) / 1e6)
        frames++
      })
    } else {
      socket.on('bench.tick', () => {
        frames++
      })
    }
  })
}

process.on('message', async (msg: { cmd: string; port: number; n: number; channel: string; sources?: string[] }) => {
  if (msg.cmd === 'connect') {
    const sources = msg.sources ?? [undefined]
    for (let i = 0; i < msg.n; i += 100) {
      await Promise.all(
        Array.from({ length: Math.min(100, msg.n - i) }, (_, j) => open(msg.port, msg.channel, (i + j) % Math.max(1, Math.floor(msg.n / SAMPLE)) === 0, sources[(i + j) % sources.length])),
      )
    }
    process.send!({ connected: sockets.length })
  } else if (msg.cmd === 'reset') {
    frames = 0
    latencies = []
    cpuMark = process.cpuUsage()
    timeMark = performance.now()
    process.send!({})
  } else if (msg.cmd === 'report') {
    const used = process.cpuUsage(cpuMark)
    process.send!({ frames, latenciesMs: latencies, cpu: (used.user + used.system) / 1000 / (performance.now() - timeMark) })
  } else if (msg.cmd === 'exit') {
    for (const s of sockets) s.disconnect()
    process.exit(0)
  }
})
process.on('disconnect', () => process.exit(0))
process.send!({ ready: true })
