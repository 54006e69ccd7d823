/**
 * Test helpers: a Tidings instance on a real loopback socket, and an SSE recorder built on the
 * real `eventsource` npm client.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { after } from 'node:test'
import { EventSource } from 'eventsource'
import { SignJWT } from 'jose'
import { createTidings, type Tidings, type TidingsOptions } from '../../src/tidings.js'

/** A Tidings instance listening on 127.0.0.1 on a free port. */
export interface TestServer {
  readonly tidings: Tidings
  readonly server: Server
  readonly url: string
  /** Destroys every open socket (SSE streams, WebSockets, keep-alive connections), as a network cut would. */
  dropConnections(): void
  close(): Promise<void>
}

/**
 * Starts `createTidings(options)` behind `node:http` on a free loopback port (or `port`), with
 * WebSocket upgrades attached; open auth unless given.
 */
export async function startTestServer(options: TidingsOptions = {}, port = 0): Promise<TestServer> {
  const tidings = createTidings({ auth: { open: true }, ...options })
  const server = createServer(tidings.handler)
  tidings.http.attachWebSocket(server)
  const sockets = new Set<Socket>()
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  const address = server.address() as AddressInfo
  await tidings.ready()
  return {
    tidings,
    server,
    url: `http://127.0.0.1:${address.port}`,
    dropConnections() {
      for (const socket of sockets) socket.destroy()
    },
    async close() {
      await tidings.close()
      server.closeAllConnections()
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** One event as the client saw it. */
export interface Received {
  readonly type: string
  readonly lastEventId: string
  readonly data: { id: string; type: string; channels: string[]; tenant: string | null; key: string | null; data: unknown; [k: string]: unknown }
}

/** Options of {@link recordSse}. */
export interface RecordOptions {
  /** Event types to listen for (EventSource only dispatches named types it was told about). */
  types: string[]
  /** Bearer token sent as a header. */
  token?: string
  /** Sent as the Last-Event-ID header of the first request. */
  lastEventId?: string
}

const recorders = new Set<SseRecorder>()
// A failed assertion must not leave a client reconnecting forever and the test process alive.
after(() => {
  for (const r of recorders) r.close()
})

/** An `eventsource` client that records every event of the given types. */
export class SseRecorder {
  readonly events: Received[] = []
  readonly es: EventSource
  #waiters: { n: number; resolve: () => void }[] = []
  #opened: Promise<void>
  errors: { status?: number; message?: string }[] = []

  constructor(url: string, options: RecordOptions) {
    const headers: Record<string, string> = {}
    if (options.token) headers.authorization = `Bearer ${options.token}`
    let first = true
    recorders.add(this)
    this.es = new EventSource(url, {
      fetch: (input, init) => {
        const h: Record<string, string> = { ...(init.headers as Record<string, string>), ...headers }
        if (first && options.lastEventId) h['Last-Event-ID'] = options.lastEventId
        first = false
        return fetch(input, { ...init, headers: h })
      },
    })
    this.#opened = new Promise((resolve, reject) => {
      this.es.addEventListener('open', () => resolve(), { once: true })
      this.es.addEventListener('error', (e) => {
        const err = e as unknown as { code?: number; message?: string }
        this.errors.push({ status: err.code, message: err.message })
        if (this.es.readyState === EventSource.CLOSED) reject(new Error(`SSE closed: ${err.code ?? ''} ${err.message ?? ''}`))
      })
    })
    this.#opened.catch(() => {})
    for (const type of options.types) {
      this.es.addEventListener(type, (e) => {
        const m = e as MessageEvent<string>
        this.events.push({ type, lastEventId: m.lastEventId, data: JSON.parse(m.data) })
        this.#waiters = this.#waiters.filter((w) => {
          if (this.events.length < w.n) return true
          w.resolve()
          return false
        })
      })
    }
  }

  /** Resolves once the stream is open (rejects if it closes for good first). */
  opened(): Promise<void> {
    return this.#opened
  }

  /** Resolves once `n` events in total have arrived; rejects after `timeoutMs`. */
  waitFor(n: number, timeoutMs = 10_000): Promise<void> {
    if (this.events.length >= n) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out with ${this.events.length}/${n} events`)), timeoutMs)
      this.#waiters.push({ n, resolve: () => { clearTimeout(timer); resolve() } })
    })
  }

  /** The client's current Last-Event-ID (what it would resume from). */
  get lastEventId(): string | null {
    const last = this.events[this.events.length - 1]
    return last ? last.lastEventId : null
  }

  close(): void {
    this.es.close()
    recorders.delete(this)
  }
}

/** The SSE URL for channels, with optional query extras. */
export function eventsUrl(base: string, channels: string[], extra: Record<string, string> = {}): string {
  const q = new URLSearchParams()
  for (const c of channels) q.append('channel', c)
  for (const [k, v] of Object.entries(extra)) q.set(k, v)
  return `${base}/v1/events?${q}`
}

/** The HS256 secret tests sign with. */
export const TEST_SECRET = 'test-secret-test-secret-test-secret-0123'

/** Signs a test token. */
export async function signToken(claims: Record<string, unknown>, options: { secret?: string; expiresIn?: string; audience?: string; alg?: string } = {}): Promise<string> {
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: options.alg ?? 'HS256' }).setIssuedAt().setExpirationTime(options.expiresIn ?? '1h')
  if (options.audience) jwt = jwt.setAudience(options.audience)
  return jwt.sign(new TextEncoder().encode(options.secret ?? TEST_SECRET))
}

/** POSTs JSON and returns status and parsed body. */
export async function postJson(url: string, body: unknown, token?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : null }
}
