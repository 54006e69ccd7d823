/**
 * A webhook receiver for tests: a `node:http` server on 127.0.0.1 that records every request with
 * its raw body, checks its signature with the npm `standardwebhooks` package, and answers what the
 * test's `respond` function says. Waiting is event-driven: `waitFor(n)` resolves on the n-th request.
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after } from 'node:test'
import { Webhook } from 'standardwebhooks'

/** One request the receiver got. */
export interface ReceivedHook {
  readonly path: string
  readonly headers: IncomingHttpHeaders
  readonly body: string
  /** `standardwebhooks` accepted the signature with the receiver's secret (null when it has none). */
  readonly verified: boolean | null
  /** The n-th request (1-based). */
  readonly n: number
}

/** What to answer: a status, optional headers and body. */
export interface HookAnswer {
  status: number
  headers?: Record<string, string>
  body?: string
}

/** Decides the answer to a request; return null to never answer. */
export type Responder = (hook: ReceivedHook) => HookAnswer | null

const open = new Set<Receiver>()
after(async () => {
  for (const r of open) await r.close()
})

/** A local webhook receiver. */
export class Receiver {
  readonly hooks: ReceivedHook[] = []
  respond: Responder
  #secrets: string[] = []
  #server: Server | null = null
  #port = 0
  #waiters: { n: number; resolve: () => void }[] = []
  readonly #hanging = new Set<ServerResponse>()

  constructor(respond: Responder = () => ({ status: 204 })) {
    this.respond = respond
    open.add(this)
  }

  /** The URL to register (path `/hook`). */
  get url(): string {
    return `http://127.0.0.1:${this.#port}/hook`
  }

  get port(): number {
    return this.#port
  }

  /** Secrets `standardwebhooks` verifies with (any one passing counts). */
  set secret(secret: string | string[]) {
    this.#secrets = Array.isArray(secret) ? secret : [secret]
  }

  /** Listens on `port` (0 = a free one; the same port again after {@link stop}). */
  async start(port = this.#port): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8')
        const hook: ReceivedHook = { path: req.url ?? '', headers: req.headers, body, verified: this.#verify(body, req.headers), n: this.hooks.length + 1 }
        this.hooks.push(hook)
        const answer = this.respond(hook)
        if (answer === null) this.#hanging.add(res)
        else {
          res.writeHead(answer.status, answer.headers ?? {})
          res.end(answer.body ?? '')
        }
        this.#waiters = this.#waiters.filter((w) => {
          if (this.hooks.length < w.n) return true
          w.resolve()
          return false
        })
      })
    })
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
    this.#server = server
    this.#port = (server.address() as AddressInfo).port
  }

  /** Stops listening (connections are refused until {@link start} again). */
  async stop(): Promise<void> {
    const s = this.#server
    if (s === null) return
    this.#server = null
    for (const res of this.#hanging) res.destroy()
    this.#hanging.clear()
    s.closeAllConnections()
    await new Promise<void>((resolve) => s.close(() => resolve()))
  }

  async close(): Promise<void> {
    open.delete(this)
    await this.stop()
  }

  /** Resolves once `n` requests in all have arrived; rejects after `timeoutMs`. */
  waitFor(n: number, timeoutMs = 15_000): Promise<void> {
    if (this.hooks.length >= n) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`receiver timed out with ${this.hooks.length}/${n} requests`)), timeoutMs)
      this.#waiters.push({
        n,
        resolve: () => {
          clearTimeout(timer)
          resolve()
        },
      })
    })
  }

  /** Resolves once a request with each of `ids` as its `webhook-id` has arrived; rejects after `timeoutMs`. */
  async waitForIds(ids: readonly string[], timeoutMs = 15_000): Promise<void> {
    const end = Date.now() + timeoutMs
    for (;;) {
      const seen = new Set(this.ids())
      const missing = ids.filter((id) => !seen.has(id)).length
      if (missing === 0) return
      await this.waitFor(this.hooks.length + 1, Math.max(1, end - Date.now())).catch(() => {
        throw new Error(`receiver timed out with ${missing} of ${ids.length} events missing`)
      })
    }
  }

  /** The `webhook-id` of every request, in arrival order. */
  ids(): string[] {
    return this.hooks.map((h) => String(h.headers['webhook-id']))
  }

  #verify(body: string, headers: IncomingHttpHeaders): boolean | null {
    if (this.#secrets.length === 0) return null
    const h: Record<string, string> = {}
    for (const k of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) h[k] = String(headers[k] ?? '')
    return this.#secrets.some((s) => {
      try {
        new Webhook(s).verify(body, h)
        return true
      } catch {
        return false
      }
    })
  }
}
