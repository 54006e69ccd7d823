/**
 * The WebSocket transport for `GET /v1/ws` (the browser's WebSocket, or the `ws` package under
 * Node). Channels, cursor and token go in the query; channel changes are `subscribe` /
 * `unsubscribe` messages on the open socket. The server closes with 4000 + HTTP status on refusal
 * (4401: new token; 4403: stop). A socket that hears nothing, not even the server's `hb`, for
 * {@link HEARTBEAT_TIMEOUT_FACTOR} heartbeat intervals is replaced.
 */
import { isEvent, parseJson, type Transport, type TransportFactory, type TransportListener, type TransportRequest } from './transport.js'

/** Heartbeat intervals without any message after which the socket counts as dead. */
export const HEARTBEAT_TIMEOUT_FACTOR = 2.5

/** The fields the transport reads from WebSocket events. */
export interface WsEventLike {
  readonly type?: string
  readonly data?: unknown
  readonly code?: number
  readonly reason?: string
}

/** What the client needs of a WebSocket instance. */
export interface WebSocketLike {
  readonly readyState: number
  send(data: string): void
  close(code?: number, reason?: string): void
  addEventListener(type: 'open' | 'message' | 'close' | 'error', listener: (event: WsEventLike) => void): void
}

/** A WebSocket class: the browser's `WebSocket`, or `WebSocket` of the `ws` package. */
export type WebSocketConstructor = new (url: string) => WebSocketLike

/** `readyState` of an open socket. */
const OPEN = 1

/** The URL of `GET /v1/ws` for a request. */
export function wsUrl(request: TransportRequest): string {
  const q = new URLSearchParams()
  for (const c of request.channels) q.append('channel', c)
  if (request.cursor !== null) q.set('lastEventId', request.cursor)
  if (request.token !== null) q.set('token', request.token)
  return `${request.baseUrl.replace(/^http/, 'ws')}/v1/ws?${q}`
}

/** A transport factory over the given WebSocket class. */
export function webSocketTransport(WebSocketClass: WebSocketConstructor): TransportFactory {
  return (request, listener) => new WsTransport(WebSocketClass, request, listener)
}

interface ServerMessage {
  op?: unknown
  id?: unknown
  cursor?: unknown
  event?: unknown
  heartbeatMs?: unknown
  error?: { code?: unknown; message?: unknown }
}

class WsTransport implements Transport {
  readonly name = 'websocket' as const
  readonly #ws: WebSocketLike
  readonly #listener: TransportListener
  #opened = false
  #done = false
  #idleMs = 0
  #idleTimer: ReturnType<typeof setTimeout> | undefined
  #lastError: { code: string; message: string } | null = null
  #requests = 0

  constructor(WebSocketClass: WebSocketConstructor, request: TransportRequest, listener: TransportListener) {
    this.#listener = listener
    this.#ws = new WebSocketClass(wsUrl(request))
    this.#ws.addEventListener('message', (e) => this.#onMessage(e.data))
    this.#ws.addEventListener('close', (e) => this.#onClose(e.code ?? 1006, e.reason ?? ''))
    this.#ws.addEventListener('error', () => {})
  }

  update(added: readonly string[], removed: readonly string[], cursor: string | null): boolean {
    if (this.#done || this.#ws.readyState !== OPEN) return false
    if (added.length > 0) this.#ws.send(JSON.stringify({ op: 'subscribe', channels: added, id: ++this.#requests, ...(cursor === null ? {} : { lastEventId: cursor }) }))
    if (removed.length > 0) this.#ws.send(JSON.stringify({ op: 'unsubscribe', channels: removed, id: ++this.#requests }))
    return true
  }

  close(): void {
    if (this.#done) return
    this.#done = true
    clearTimeout(this.#idleTimer)
    this.#ws.close(1000, 'client closing')
  }

  #onMessage(data: unknown): void {
    if (this.#done) return
    this.#armIdle()
    const msg = parseJson(typeof data === 'string' ? data : String(data)) as ServerMessage | null
    if (msg === null) return
    switch (msg.op) {
      case 'event':
        if (isEvent(msg.event)) this.#listener.onEvent(msg.event, typeof msg.cursor === 'string' ? msg.cursor : null)
        return
      case 'hb':
        if (typeof msg.cursor === 'string') this.#listener.onCursor(msg.cursor)
        return
      case 'subscribed':
        if (!this.#opened) {
          this.#opened = true
          if (typeof msg.heartbeatMs === 'number' && msg.heartbeatMs > 0) {
            this.#idleMs = msg.heartbeatMs * HEARTBEAT_TIMEOUT_FACTOR
            this.#armIdle()
          }
          this.#listener.onOpen()
        }
        return
      case 'error': {
        const code = typeof msg.error?.code === 'string' ? msg.error.code : 'TIDINGS_ERR_INTERNAL'
        const message = typeof msg.error?.message === 'string' ? msg.error.message : code
        this.#lastError = { code, message }
        if (this.#opened) this.#listener.onRequestError(typeof msg.id === 'string' || typeof msg.id === 'number' ? msg.id : null, code, message)
        return
      }
      default:
    }
  }

  #armIdle(): void {
    if (this.#idleMs === 0) return
    clearTimeout(this.#idleTimer)
    this.#idleTimer = setTimeout(() => {
      if (this.#done) return
      this.#done = true
      this.#ws.close(4000, 'no heartbeat')
      this.#listener.onClose({ status: 0, code: null, reason: 'no heartbeat', silent: true })
    }, this.#idleMs)
  }

  #onClose(code: number, reason: string): void {
    clearTimeout(this.#idleTimer)
    if (this.#done) return
    this.#done = true
    const status = code >= 4000 && code < 5000 ? code - 4000 : 0
    const error = this.#lastError
    this.#listener.onClose({
      status,
      code: status === 0 ? null : (error?.code ?? (reason === '' ? null : reason)),
      reason: error?.message ?? (reason === '' ? `closed (${code})` : reason),
    })
  }
}
