/**
 * The SSE transport over an `EventSource` (the browser's, or the `eventsource` package under Node).
 * It asks for unnamed frames (`?dispatch=message`) so every event type arrives at one listener,
 * resumes with `?lastEventId=`, and closes the EventSource on its first error so the client, not
 * the EventSource, decides when to reconnect. A browser's EventSource hides the status of a refused
 * connection, so when it fails before opening, one `fetch` of the same URL finds out (a 401 must
 * lead to a new token, a 403 must not be retried).
 */
import { isEvent, parseJson, type Transport, type TransportFactory, type TransportListener, type TransportRequest } from './transport.js'

/** The fields the transport reads from EventSource events (`code` and `message` are the `eventsource` package's). */
export interface SseEventLike {
  readonly type?: string
  readonly data?: unknown
  readonly lastEventId?: string
  readonly code?: number
  readonly message?: string
}

/** What the client needs of an EventSource instance. */
export interface EventSourceLike {
  readonly readyState: number
  addEventListener(type: 'open' | 'message' | 'error', listener: (event: SseEventLike) => void): void
  close(): void
}

/** An EventSource class: the browser's `EventSource`, or `EventSource` of the `eventsource` package. */
export type EventSourceConstructor = new (url: string) => EventSourceLike

/** The `fetch` the transport uses to learn why a connection was refused. */
export type FetchLike = (url: string, init: { headers: Record<string, string>; signal: AbortSignal }) => Promise<{ status: number; ok: boolean; text(): Promise<string> }>

/** `readyState` of an EventSource that gave up for good. */
const CLOSED = 2

/** The URL of `GET /v1/events` for a request. */
export function sseUrl(request: TransportRequest): string {
  const q = new URLSearchParams()
  for (const c of request.channels) q.append('channel', c)
  q.set('dispatch', 'message')
  if (request.cursor !== null) q.set('lastEventId', request.cursor)
  if (request.token !== null) q.set('token', request.token)
  return `${request.baseUrl}/v1/events?${q}`
}

/** A transport factory over the given EventSource class (and `fetch`, to read refusals). */
export function sseTransport(EventSourceClass: EventSourceConstructor, fetchFn: FetchLike | null): TransportFactory {
  return (request, listener) => new SseTransport(EventSourceClass, fetchFn, request, listener)
}

class SseTransport implements Transport {
  readonly name = 'sse' as const
  readonly #es: EventSourceLike
  readonly #listener: TransportListener
  readonly #fetch: FetchLike | null
  readonly #url: string
  #opened = false
  #done = false
  #probe: AbortController | null = null

  constructor(EventSourceClass: EventSourceConstructor, fetchFn: FetchLike | null, request: TransportRequest, listener: TransportListener) {
    this.#listener = listener
    this.#fetch = fetchFn
    this.#url = sseUrl(request)
    this.#es = new EventSourceClass(this.#url)
    this.#es.addEventListener('open', () => {
      if (this.#done) return
      this.#opened = true
      listener.onOpen()
    })
    this.#es.addEventListener('message', (e) => {
      if (this.#done) return
      const event = parseJson(e.data)
      if (!isEvent(event)) return
      listener.onEvent(event, e.lastEventId === undefined || e.lastEventId === '' ? null : e.lastEventId)
    })
    this.#es.addEventListener('error', (e) => this.#onError(e))
  }

  update(): boolean {
    return false
  }

  close(): void {
    this.#done = true
    this.#probe?.abort()
    this.#es.close()
  }

  #onError(e: SseEventLike): void {
    if (this.#done) return
    const refused = !this.#opened && this.#es.readyState === CLOSED
    this.#done = true
    this.#es.close()
    if (typeof e.code === 'number') {
      this.#listener.onClose({ status: e.code, code: null, reason: e.message ?? `HTTP ${e.code}` })
    } else if (refused && this.#fetch !== null) {
      void this.#why()
    } else {
      this.#listener.onClose({ status: 0, code: null, reason: this.#opened ? 'stream ended' : 'could not connect' })
    }
  }

  /** Repeats the refused request once to read its status and error code. */
  async #why(): Promise<void> {
    const probe = new AbortController()
    this.#probe = probe
    let status = 0
    let code: string | null = null
    let reason = 'connection refused'
    try {
      const res = await this.#fetch!(this.#url, { headers: { accept: 'text/event-stream' }, signal: probe.signal })
      if (res.ok) {
        probe.abort()
      } else {
        status = res.status
        const body = parseJson(await res.text()) as { error?: { code?: unknown; message?: unknown } } | null
        code = typeof body?.error?.code === 'string' ? body.error.code : null
        reason = typeof body?.error?.message === 'string' ? body.error.message : `HTTP ${res.status}`
      }
    } catch {
      // Unreachable: report a plain drop and let backoff handle it.
    }
    this.#listener.onClose({ status, code, reason })
  }
}
