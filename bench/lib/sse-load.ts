/**
 * Bench load generator: N raw SSE connections over loopback sockets. Counts event frames on all of
 * them and measures publish→receive latency on a sample (parsing every frame everywhere would make
 * the load generator the bottleneck). Driven over IPC:
 *   { cmd: 'connect', port, n, channel, sources?, path? } → { connected }
 *   { cmd: 'reset' } → {}; { cmd: 'report' } → { frames, latenciesMs, cpu }
 * `path` is the request target (default `/v1/events?channel=<channel>`, Tidings' endpoint), so a
 * peer's own SSE endpoint can be loaded too; a frame is counted by its `event: bench.tick` line.
 */
import { connect, type Socket } from 'node:net'

/** Connections whose frames are parsed for latency, spread evenly over all of them. */
const SAMPLE = 20
const MARK = Buffer.from('event: bench.tick')
let frames = 0
let latencies: number[] = []
let cpuMark = process.cpuUsage()
let timeMark = performance.now()
const sockets: Socket[] = []

function countMarks(buf: Buffer): number {
  let n = 0
  let i = buf.indexOf(MARK)
  while (i !== -1) {
    n++
    i = buf.indexOf(MARK, i + MARK.length)
  }
  return n
}

function open(port: number, path: string, sampled: boolean, localAddress?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', localAddress })
    sockets.push(s)
    /** The previous chunk's last MARK.length - 1 bytes: a marker may straddle two chunks. */
    let carry: Buffer | null = null
    let text = ''
    let headers = false
    s.on('connect', () => s.write(`GET ${path} HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n`))
    s.on('error', reject)
    s.on('data', (chunk: Buffer) => {
      if (!headers) {
        headers = true
        resolve()
      }
      // Count markers in the chunk itself (no copy), then the few bytes around the boundary with
      // the previous one, which hold a marker only if it straddles them.
      frames += countMarks(chunk)
      if (carry !== null) frames += countMarks(Buffer.concat([carry, chunk.subarray(0, MARK.length - 1)]))
      const tail = chunk.length >= MARK.length - 1 ? chunk.subarray(chunk.length - (MARK.length - 1)) : Buffer.concat([carry ?? Buffer.alloc(0), chunk]).subarray(-(MARK.length - 1))
      carry = Buffer.from(tail)
      if (sampled) {
        const now = process.hrtime.bigint()
        text += chunk.toString('latin1')
        const end = text.lastIndexOf('\n\n')
        if (end === -1) return
        for (const m of text.slice(0, end).matchAll(/"t":"(\d+)"/g)) latencies.push(Number(now - BigInt(m[1]!)) / 1e6)
        text = text.slice(end + 2)
      }
    })
  })
}

process.on('message', async (msg: { cmd: string; port: number; n: number; channel: string; sources?: string[]; path?: string }) => {
  if (msg.cmd === 'connect') {
    const sources = msg.sources ?? [undefined]
    const path = msg.path ?? `/v1/events?channel=${msg.channel}`
    for (let i = 0; i < msg.n; i += 100) {
      await Promise.all(
        Array.from({ length: Math.min(100, msg.n - i) }, (_, j) => open(msg.port, path, (i + j) % Math.max(1, Math.floor(msg.n / SAMPLE)) === 0, sources[(i + j) % sources.length])),
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
    for (const s of sockets) s.destroy()
    process.exit(0)
  }
})
process.on('disconnect', () => process.exit(0))
process.send!({ ready: true })
