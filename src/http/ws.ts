/**
 * `GET /v1/ws`: the WebSocket transport. One socket carries one ordered stream, like an SSE
 * connection, but its channel set can change while it is open (`subscribe` / `unsubscribe`
 * messages). A change re-attaches the socket to the hub from its current position, so the stream
 * stays gapless and carries one cursor. Each hub entry's message is built once (`wsMessage`) and
 * the same bytes go to every socket. Errors after the upgrade close the socket with 4000 + the
 * error's HTTP status, because a browser's WebSocket never sees the status of a refused upgrade.
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type RawData, type WebSocket } from 'ws'
import { authorizeChannels, type ChannelAuthorizer, type Principal } from '../core/auth.js'
import { assertChannel } from '../core/envelope.js'
import { TidingsError, isTidingsError } from '../core/errors.js'
import { wsMessage, type Hub, type HubEntry, type HubSubscriber } from '../core/hub.js'
import type { Logger } from '../core/logger.js'
import type { TidingsMetrics } from '../core/metrics.js'
import type { RequestAuthenticator } from './auth.js'
import type { DeliveryStats } from './sse.js'

/** The path WebSocket clients connect to. */
export const WS_PATH = '/v1/ws'
/** Default largest message a client may send, in bytes. */
export const DEFAULT_WS_MAX_MESSAGE_BYTES = 64 * 1024
/** Close code the server uses when it shuts down; clients reconnect elsewhere with their cursor. */
export const WS_CLOSE_SERVER_CLOSING = 1012
/** How long a closing socket may take to answer the close frame before it is dropped. */
export const WS_CLOSE_GRACE_MS = 1_000
/** Close code when the server is at `maxConnections`; clients retry later. */
export const WS_CLOSE_TRY_AGAIN_LATER = 1013

/** The close code for an error of HTTP status `status`: 4000 + status (4401, 4403, …). */
export function wsCloseCode(status: number): number {
  return 4000 + status
}

/** A message a client sends. */
export type WsClientMessage =
  | { readonly op: 'subscribe'; readonly channels: readonly string[]; readonly lastEventId?: string | null; readonly id?: string | number }
  | { readonly op: 'unsubscribe'; readonly channels: readonly string[]; readonly id?: string | number }

/** Limits and settings the gateway shares with the SSE route. */
export interface WsGatewayOptions {
  readonly heartbeatMs: number
  readonly maxBufferBytes: number
  readonly maxBufferEvents: number
  readonly maxChannelsPerConnection: number
  readonly maxConnections: number
  /** Origins allowed besides the server's own (the CORS list). */
  readonly allowedOrigins: readonly string[] | '*'
  /** @defaultValue {@link DEFAULT_WS_MAX_MESSAGE_BYTES} */
  readonly maxMessageBytes?: number
}

/** What the gateway needs from the HTTP surface. */
export interface WsGatewayDeps {
  readonly hub: Hub
  readonly auth: RequestAuthenticator
  readonly logger: Logger
  readonly metrics: TidingsMetrics
  readonly stats: DeliveryStats
  readonly channelAuthorizers: readonly ChannelAuthorizer[]
  /** Counts the connection against its principal's limit; returns its release. Throws 429. */
  admit(principal: Principal): () => void
  /** Open SSE and WebSocket connections of the process. */
  connectionCount(): number
}

/** Accepts WebSocket upgrades on {@link WS_PATH} and runs the sockets. */
export class WebSocketGateway {
  readonly #deps: WsGatewayDeps
  readonly #options: WsGatewayOptions
  readonly #wss: WebSocketServer
  readonly #connections = new Set<WsConnection>()
  #heartbeat: NodeJS.Timeout | undefined
  #closed = false

  constructor(deps: WsGatewayDeps, options: WsGatewayOptions) {
    this.#deps = deps
    this.#options = options
    // No per-message compression: it would make every socket encode each event again.
    this.#wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: options.maxMessageBytes ?? DEFAULT_WS_MAX_MESSAGE_BYTES })
  }

  /** Open sockets. */
  get size(): number {
    return this.#connections.size
  }

  /**
   * Takes an `upgrade` request. Returns false, leaving the socket alone, when the path is not
   * {@link WS_PATH}; answers 403 when the page's origin is neither this server's nor allowed.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    let url: URL
    try {
      url = new URL(req.url ?? '/', 'http://localhost')
    } catch {
      return false
    }
    if (url.pathname !== WS_PATH) return false
    if (!this.#originAllowed(req)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-length: 0\r\n\r\n')
      return true
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#open(ws, req, url))
    return true
  }

  /**
   * Closes every socket with {@link WS_CLOSE_SERVER_CLOSING}; clients resume elsewhere. Sockets
   * that do not finish the closing handshake within {@link WS_CLOSE_GRACE_MS} are dropped.
   */
  close(): void {
    this.#closed = true
    clearInterval(this.#heartbeat)
    const open = [...this.#connections]
    for (const c of open) c.close(WS_CLOSE_SERVER_CLOSING, 'server closing')
    if (open.length > 0) setTimeout(() => open.forEach((c) => c.terminate()), WS_CLOSE_GRACE_MS).unref()
    this.#wss.close()
  }

  /**
   * Browsers send `Origin` on every WebSocket and no CORS check guards it, so a page of another
   * site could open a socket that carries this site's cookie: only the server's own origin and the
   * CORS list may connect. Clients outside a browser send no `Origin`.
   */
  #originAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin
    if (origin === undefined) return true
    const allowed = this.#options.allowedOrigins
    if (allowed === '*' || allowed.includes(origin)) return true
    try {
      return new URL(origin).host === req.headers.host
    } catch {
      return false
    }
  }

  #open(ws: WebSocket, req: IncomingMessage, url: URL): void {
    const conn = new WsConnection(ws, this.#deps, this.#options)
    if (this.#closed || this.#deps.connectionCount() >= this.#options.maxConnections) {
      conn.close(WS_CLOSE_TRY_AGAIN_LATER, 'server busy')
      return
    }
    this.#connections.add(conn)
    this.#deps.metrics.connections.inc({ transport: 'ws' })
    ws.once('close', () => {
      this.#connections.delete(conn)
      this.#deps.metrics.connections.dec({ transport: 'ws' })
    })
    this.#startHeartbeat()
    conn.start(req, url)
  }

  #startHeartbeat(): void {
    if (this.#heartbeat !== undefined) return
    this.#heartbeat = setInterval(() => {
      for (const c of this.#connections) c.heartbeat()
    }, this.#options.heartbeatMs)
    this.#heartbeat.unref()
  }
}

/** One attachment of a socket to the hub, for one channel set; replaced when the set changes. */
class WsSubscription implements HubSubscriber {
  readonly principal: Principal
  readonly channels: readonly string[]
  readonly #conn: WsConnection

  constructor(conn: WsConnection, principal: Principal, channels: readonly string[]) {
    this.#conn = conn
    this.principal = principal
    this.channels = channels
  }

  deliver(entry: HubEntry): void {
    this.#conn.push(this, entry)
  }

  deliverReset(entry: HubEntry): void {
    this.#conn.push(this, entry)
  }

  flush(): void {
    this.#conn.flush(this)
  }

  close(reason: string): void {
    this.#conn.close(WS_CLOSE_SERVER_CLOSING, reason)
  }
}

/** One socket: its principal, channel set, hub attachment and send queue. */
class WsConnection {
  readonly #ws: WebSocket
  readonly #deps: WsGatewayDeps
  readonly #options: WsGatewayOptions
  #principal: Principal | null = null
  #channels: string[] = []
  #sub: WsSubscription | null = null
  /** Cursor of the last event sent, or the one the client resumes from. */
  #cursor: string | null = null
  #pending: Buffer[] = []
  /** Messages handed to the socket whose write has not completed. */
  #inflight = 0
  #alive = true
  #closed = false
  #release: (() => void) | null = null
  /** Requests run one at a time, in arrival order. */
  #queue: Promise<void> = Promise.resolve()

  constructor(ws: WebSocket, deps: WsGatewayDeps, options: WsGatewayOptions) {
    this.#ws = ws
    this.#deps = deps
    this.#options = options
    ws.on('pong', () => {
      this.#alive = true
    })
    ws.on('error', (err) => deps.logger.debug({ err }, 'websocket error'))
    ws.once('close', () => this.#end())
  }

  /** Authenticates, checks the channels of the query and attaches; then serves messages. */
  start(req: IncomingMessage, url: URL): void {
    this.#ws.on('message', (data, isBinary) => {
      this.#alive = true
      this.#run(() => this.#onMessage(data, isBinary))
    })
    this.#run(async () => {
      try {
        const base = await this.#deps.auth.principal(req, url)
        const channels = this.#checkChannels(url.searchParams.getAll('channel').filter((c) => c !== ''))
        const principal = await authorizeChannels(base, channels, this.#deps.channelAuthorizers)
        this.#release = this.#deps.admit(base)
        if (this.#closed) {
          this.#end()
          return
        }
        this.#principal = base
        const lastEventId = url.searchParams.get('lastEventId')
        this.#send(JSON.stringify({ op: 'subscribed', id: null, channels, heartbeatMs: this.#options.heartbeatMs }))
        await this.#attach(channels, principal, lastEventId === null || lastEventId === '' ? null : lastEventId)
      } catch (err) {
        const e = this.#reply(err, null)
        this.close(wsCloseCode(e.status), e.code)
      }
    })
  }

  /** Sends a ping (a socket that missed the previous pong is dropped) and moves the client's cursor. */
  heartbeat(): void {
    if (this.#closed) return
    if (!this.#alive) {
      this.#drop()
      return
    }
    this.#alive = false
    this.#ws.ping()
    if (this.#ws.bufferedAmount > 0) return
    const cursor = this.#sub === null ? null : this.#deps.hub.heartbeatCursor(this.#sub)
    if (cursor !== null && cursor !== this.#cursor) {
      this.#cursor = cursor
      this.#send(`{"op":"hb","cursor":${JSON.stringify(cursor)}}`)
    } else {
      this.#send('{"op":"hb"}')
    }
  }

  push(from: WsSubscription, entry: HubEntry): void {
    if (from !== this.#sub || this.#closed) return
    this.#pending.push(wsMessage(entry))
    this.#cursor = entry.event.type === 'tidings.reset' ? ((entry.event.data as { cursor: string | null }).cursor ?? null) : entry.cursor
  }

  flush(from: WsSubscription): void {
    if (from !== this.#sub || this.#closed) {
      if (from === this.#sub) this.#pending = []
      return
    }
    const messages = this.#pending
    this.#pending = []
    for (const m of messages) {
      this.#inflight++
      this.#deps.stats.events++
      this.#deps.stats.bytes += m.length
      this.#ws.send(m, { binary: false }, this.#sent)
    }
    const queued = this.#ws.bufferedAmount
    if (queued > this.#deps.stats.peakQueuedBytes) this.#deps.stats.peakQueuedBytes = queued
    if (queued > this.#options.maxBufferBytes || this.#inflight > this.#options.maxBufferEvents) this.#cut()
  }

  /** Drops the socket at once. */
  terminate(): void {
    this.#drop()
  }

  /** Closes with a code and reason (at most 123 bytes). */
  close(code: number, reason: string): void {
    if (this.#closed) return
    this.#closed = true
    this.#detach()
    this.#ws.close(code, reason.slice(0, 120))
  }

  readonly #sent = (): void => {
    this.#inflight--
  }

  #run(task: () => Promise<void>): void {
    this.#queue = this.#queue.then(task).catch((err: unknown) => {
      this.#reply(err, null)
    })
  }

  /** Answers a failed request with `{ op: 'error', id, error }`; returns the coded error. */
  #reply(err: unknown, id: string | number | null): TidingsError {
    const e = isTidingsError(err) ? err : new TidingsError('TIDINGS_ERR_INTERNAL', { cause: err })
    if (e.status >= 500) this.#deps.logger.error({ err }, 'websocket request failed')
    this.#send(JSON.stringify({ op: 'error', id, ...e.toJSON() }))
    return e
  }

  async #onMessage(data: RawData, isBinary: boolean): Promise<void> {
    if (this.#closed || this.#principal === null) return
    let id: string | number | null = null
    try {
      const msg = parseMessage(data, isBinary)
      id = msg.id ?? null
      const requested = this.#checkChannels(msg.channels)
      const channels = msg.op === 'subscribe' ? [...new Set([...this.#channels, ...requested])] : this.#channels.filter((c) => !requested.includes(c))
      if (channels.length > this.#options.maxChannelsPerConnection) {
        throw new TidingsError('TIDINGS_ERR_TOO_MANY_CHANNELS', { detail: `${channels.length} channels` })
      }
      const principal = await authorizeChannels(this.#principal, channels, this.#deps.channelAuthorizers)
      if (this.#closed) return
      const given = msg.op === 'subscribe' ? msg.lastEventId : undefined
      const cursor = given === undefined || given === null || given === '' ? this.#position() : given
      this.#detach()
      this.#send(JSON.stringify({ op: msg.op === 'subscribe' ? 'subscribed' : 'unsubscribed', id, channels }))
      await this.#attach(channels, principal, cursor)
    } catch (err) {
      this.#reply(err, id)
    }
  }

  /** Where the stream stands: everything up to here was sent (or did not concern the socket). */
  #position(): string | null {
    const live = this.#sub === null ? null : this.#deps.hub.heartbeatCursor(this.#sub)
    return live ?? this.#cursor
  }

  async #attach(channels: string[], principal: Principal, cursor: string | null): Promise<void> {
    this.#channels = channels
    this.#cursor = cursor
    if (channels.length === 0) return
    const sub = new WsSubscription(this, principal, channels)
    this.#sub = sub
    await this.#deps.hub.attach(sub, cursor)
  }

  #detach(): void {
    if (this.#sub === null) return
    this.#cursor = this.#position()
    this.#deps.hub.detach(this.#sub)
    this.#sub = null
    this.#pending = []
  }

  #checkChannels(channels: readonly string[]): string[] {
    const unique = [...new Set(channels)]
    if (unique.length > this.#options.maxChannelsPerConnection) {
      throw new TidingsError('TIDINGS_ERR_TOO_MANY_CHANNELS', { detail: `${unique.length} channels` })
    }
    for (const c of unique) assertChannel(c, true)
    return unique
  }

  #send(text: string): void {
    if (this.#closed || this.#ws.readyState !== this.#ws.OPEN) return
    this.#ws.send(text)
  }

  /** The client fell too far behind: drop the socket and its buffers at once; it resumes from its cursor. */
  #cut(): void {
    this.#deps.stats.cuts++
    this.#drop()
  }

  /** Drops the socket without a closing handshake (a slow or silent client). */
  #drop(): void {
    this.#closed = true
    this.#detach()
    this.#ws.terminate()
  }

  #end(): void {
    this.#closed = true
    this.#detach()
    this.#release?.()
    this.#release = null
  }
}

/** Parses and checks one client message; throws `TIDINGS_ERR_INVALID_MESSAGE`. */
function parseMessage(data: RawData, isBinary: boolean): WsClientMessage {
  if (isBinary) throw new TidingsError('TIDINGS_ERR_INVALID_MESSAGE', { detail: 'send text messages' })
  let msg: unknown
  try {
    msg = JSON.parse(Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)]).toString('utf8'))
  } catch {
    throw new TidingsError('TIDINGS_ERR_INVALID_MESSAGE', { detail: 'not JSON' })
  }
  if (typeof msg !== 'object' || msg === null) throw new TidingsError('TIDINGS_ERR_INVALID_MESSAGE', { detail: 'send a JSON object' })
  const m = msg as Record<string, unknown>
  if (m.op !== 'subscribe' && m.op !== 'unsubscribe') throw new TidingsError('TIDINGS_ERR_INVALID_MESSAGE', { detail: 'op must be subscribe or unsubscribe' })
  if (!Array.isArray(m.channels) || m.channels.length === 0 || !m.channels.every((c) => typeof c === 'string')) {
    throw new TidingsError('TIDINGS_ERR_INVALID_MESSAGE', { detail: 'channels must be a non-empty array of strings' })
  }
  if (m.id !== undefined && typeof m.id !== 'string' && typeof m.id !== 'number') throw new TidingsError('TIDINGS_ERR_INVALID_MESSAGE', { detail: 'id must be a string or a number' })
  if (m.lastEventId !== undefined && m.lastEventId !== null && typeof m.lastEventId !== 'string') {
    throw new TidingsError('TIDINGS_ERR_INVALID_MESSAGE', { detail: 'lastEventId must be a cursor string' })
  }
  return m as unknown as WsClientMessage
}
