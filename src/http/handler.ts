/**
 * The HTTP surface (DESIGN §5) as a plain `node:http` handler: SSE, publish, history, health,
 * metrics, OpenAPI and the dashboard; WebSocket upgrades through `handleUpgrade`. Jobs and webhooks
 * add their routes to the same router.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { authorizeChannels, tenantAllows, type ChannelAuthorizer, type Principal } from '../core/auth.js'
import { ChannelMatcher } from '../core/channels.js'
import { assertChannel } from '../core/envelope.js'
import { TidingsError } from '../core/errors.js'
import { formatCursor, parseCursor, type EventLog } from '../core/event-log.js'
import type { Hub } from '../core/hub.js'
import type { Logger } from '../core/logger.js'
import type { TidingsMetrics } from '../core/metrics.js'
import type { Publisher } from '../core/publisher.js'
import type { RequestAuthenticator } from './auth.js'
import { registerDashboard } from './dashboard.js'
import { openApiDocument } from './openapi.js'
import { DEFAULT_MAX_BODY_BYTES, readJson, sendError, sendJson } from './respond.js'
import { Router, type RouteContext } from './router.js'
import {
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_MAX_BUFFER_BYTES,
  DEFAULT_MAX_BUFFER_EVENTS,
  DEFAULT_RETRY_MS,
  SseConnection,
  type DeliveryStats,
} from './sse.js'
import { WebSocketGateway, WS_PATH } from './ws.js'

/** Default most concurrent SSE connections per process; past it, new ones get a 200 stream that asks them to retry later. */
export const DEFAULT_MAX_CONNECTIONS = 100_000
/** Default most concurrent SSE connections per principal. */
export const DEFAULT_MAX_CONNECTIONS_PER_PRINCIPAL = 100
/** Default most channels per connection. */
export const DEFAULT_MAX_CHANNELS_PER_CONNECTION = 100
/** Default page size of `GET /v1/history`; the most a page may hold is 1000. */
export const DEFAULT_HISTORY_LIMIT = 100
const MAX_HISTORY_LIMIT = 1000

/** Cross-origin settings. */
export interface CorsOptions {
  /** Allowed origins, or `'*'`. */
  origins: readonly string[] | '*'
  /** Send `Access-Control-Allow-Credentials: true` (cookies). @defaultValue false */
  credentials?: boolean
  /** Preflight cache time in seconds. @defaultValue 600 */
  maxAgeSec?: number
}

/** HTTP settings. */
export interface HttpOptions {
  /** No CORS headers unless set. */
  cors?: CorsOptions
  /** @defaultValue {@link DEFAULT_MAX_BODY_BYTES} */
  maxBodyBytes?: number
  /** @defaultValue {@link DEFAULT_HEARTBEAT_MS} */
  heartbeatMs?: number
  /** @defaultValue {@link DEFAULT_RETRY_MS} */
  retryMs?: number
  /** @defaultValue {@link DEFAULT_MAX_BUFFER_BYTES} */
  maxBufferBytes?: number
  /** @defaultValue {@link DEFAULT_MAX_BUFFER_EVENTS} */
  maxBufferEvents?: number
  /** @defaultValue {@link DEFAULT_MAX_CONNECTIONS} */
  maxConnections?: number
  /** @defaultValue {@link DEFAULT_MAX_CONNECTIONS_PER_PRINCIPAL} */
  maxConnectionsPerPrincipal?: number
  /** @defaultValue {@link DEFAULT_MAX_CHANNELS_PER_CONNECTION} */
  maxChannelsPerConnection?: number
  /**
   * Serve the dashboard at `/`: `true` to anyone (the open `dev` server), `'admin'` only to admins
   * (their token in `?token=` or the `tidings_token` cookie; `serve` with auth). Its scripts are
   * public under `/assets/`.
   * @defaultValue false
   */
  page?: boolean | 'admin'
}

/** What the HTTP surface needs from a Tidings instance. */
export interface HttpDeps {
  readonly log: EventLog
  readonly hub: Hub
  readonly publisher: Publisher
  readonly metrics: TidingsMetrics
  readonly logger: Logger
  readonly auth: RequestAuthenticator
}

/** The HTTP surface of one Tidings instance. */
export class HttpSurface {
  readonly router = new Router()
  readonly #deps: HttpDeps
  readonly #options: Required<Omit<HttpOptions, 'cors'>> & Pick<HttpOptions, 'cors'>
  readonly #connections = new Set<SseConnection>()
  readonly #perPrincipal = new Map<string, number>()
  readonly #stats: DeliveryStats = { events: 0, bytes: 0, cuts: 0, peakQueuedBytes: 0 }
  readonly #reported: DeliveryStats = { events: 0, bytes: 0, cuts: 0, peakQueuedBytes: 0 }
  #heartbeat: NodeJS.Timeout | undefined
  #closed = false
  readonly #channelAuthorizers: ChannelAuthorizer[] = []
  #ws: WebSocketGateway | undefined

  constructor(deps: HttpDeps, options: HttpOptions = {}) {
    this.#deps = deps
    this.#options = {
      maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
      heartbeatMs: DEFAULT_HEARTBEAT_MS,
      retryMs: DEFAULT_RETRY_MS,
      maxBufferBytes: DEFAULT_MAX_BUFFER_BYTES,
      maxBufferEvents: DEFAULT_MAX_BUFFER_EVENTS,
      maxConnections: DEFAULT_MAX_CONNECTIONS,
      maxConnectionsPerPrincipal: DEFAULT_MAX_CONNECTIONS_PER_PRINCIPAL,
      maxChannelsPerConnection: DEFAULT_MAX_CHANNELS_PER_CONNECTION,
      page: false,
      ...options,
    }
    for (const k of ['maxBodyBytes', 'heartbeatMs', 'retryMs', 'maxBufferBytes', 'maxBufferEvents', 'maxConnections', 'maxConnectionsPerPrincipal', 'maxChannelsPerConnection'] as const) {
      const v = this.#options[k]
      if (!Number.isInteger(v) || v < 1) throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: `http.${k} must be a positive integer` })
    }
    this.#registerMetricsCollector()
    this.router
      .add('GET', '/v1/events', (ctx) => this.#events(ctx))
      .add('POST', '/v1/publish', (ctx) => this.#publish(ctx))
      .add('GET', '/v1/history', (ctx) => this.#history(ctx))
      .add('GET', '/v1/openapi.json', ({ res }) => sendJson(res, 200, openApiDocument))
      .add('GET', '/healthz', ({ res }) => sendJson(res, 200, { ok: true }))
      .add('GET', '/readyz', (ctx) => this.#ready(ctx))
      .add('GET', '/metrics', (ctx) => this.#metrics(ctx))
      .add('GET', WS_PATH, () => {
        throw new TidingsError('TIDINGS_ERR_UPGRADE_REQUIRED')
      })
    if (this.#options.page) registerDashboard(this.router, { adminOnly: this.#options.page === 'admin' })
  }

  /** The `(req, res)` handler to mount in `node:http`, Express or anything that passes Node's objects. */
  readonly handler = (req: IncomingMessage, res: ServerResponse): void => {
    void this.#handle(req, res)
  }

  /**
   * Adds a source of subscribe rights for `GET /v1/events` and `GET /v1/history`, asked about each
   * exact channel the caller's token does not cover (jobs let an owner follow `job:{id}`).
   */
  addChannelAuthorizer(authorize: ChannelAuthorizer): void {
    this.#channelAuthorizers.push(authorize)
  }

  /**
   * Takes a `node:http` `upgrade` for `GET /v1/ws` (the `(req, res)` handler cannot). Returns false,
   * leaving the socket alone, for any other path.
   */
  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): boolean => this.#gateway().handleUpgrade(req, socket, head)

  /** Serves `GET /v1/ws` on `server`; other upgrades get 404 unless another listener takes them. */
  attachWebSocket(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (this.handleUpgrade(req, socket, head) || server.listenerCount('upgrade') > 1) return
      socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n')
    })
  }

  /** Number of open SSE and WebSocket connections. */
  get connectionCount(): number {
    return this.#connections.size + (this.#ws?.size ?? 0)
  }

  /** The largest backlog any connection has queued, in bytes (bounded by `maxBufferBytes` plus one batch). */
  get peakQueuedBytes(): number {
    return this.#stats.peakQueuedBytes
  }

  /** Ends every stream and socket (clients reconnect elsewhere with their cursors) and stops the heartbeat. */
  close(): void {
    this.#closed = true
    clearInterval(this.#heartbeat)
    for (const c of this.#connections) c.close('server closing')
    this.#ws?.close()
  }

  #gateway(): WebSocketGateway {
    this.#ws ??= new WebSocketGateway(
      {
        hub: this.#deps.hub,
        auth: this.#deps.auth,
        logger: this.#deps.logger,
        metrics: this.#deps.metrics,
        stats: this.#stats,
        channelAuthorizers: this.#channelAuthorizers,
        admit: (principal) => this.#admit(principal),
        connectionCount: () => this.connectionCount,
      },
      { ...this.#options, allowedOrigins: this.#options.cors?.origins ?? [] },
    )
    if (this.#closed) this.#ws.close()
    return this.#ws
  }

  /** Counts a connection against its principal's limit (SSE and WebSocket together); returns its release. */
  #admit(principal: Principal): () => void {
    const key = principal.sub ?? (principal.admin ? null : 'anonymous')
    if (key === null || this.#deps.auth.open) return () => {}
    const n = this.#perPrincipal.get(key) ?? 0
    if (n >= this.#options.maxConnectionsPerPrincipal) throw new TidingsError('TIDINGS_ERR_TOO_MANY_CONNECTIONS')
    this.#perPrincipal.set(key, n + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      const left = (this.#perPrincipal.get(key) ?? 1) - 1
      if (left <= 0) this.#perPrincipal.delete(key)
      else this.#perPrincipal.set(key, left)
    }
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL
    try {
      url = new URL(req.url ?? '/', 'http://localhost')
    } catch {
      sendJson(res, 400, new TidingsError('TIDINGS_ERR_INVALID_QUERY', { detail: 'unparseable URL' }).toJSON())
      return
    }
    try {
      if (this.#cors(req, res)) return
      const m = this.router.match(req.method ?? 'GET', url.pathname)
      if (m.kind === 'not-found') throw new TidingsError('TIDINGS_ERR_NOT_FOUND', { detail: `no route for ${req.method} ${url.pathname}` })
      if (m.kind === 'method-not-allowed') {
        res.setHeader('allow', [...new Set(m.allow)].join(', '))
        throw new TidingsError('TIDINGS_ERR_METHOD_NOT_ALLOWED')
      }
      let principal: ReturnType<RouteContext['principal']> | undefined
      const ctx: RouteContext = {
        req,
        res,
        url,
        params: m.params,
        principal: () => (principal ??= this.#deps.auth.principal(req, url)),
      }
      await m.handler(ctx)
    } catch (err) {
      sendError(res, err, this.#deps.logger)
    }
  }

  /** Adds CORS headers; answers preflights. True when the request was fully answered. */
  #cors(req: IncomingMessage, res: ServerResponse): boolean {
    const cors = this.#options.cors
    const origin = req.headers.origin
    if (!cors || origin === undefined) return false
    const allowed = cors.origins === '*' || cors.origins.includes(origin)
    if (!allowed) return false
    res.setHeader('access-control-allow-origin', cors.origins === '*' && !cors.credentials ? '*' : origin)
    res.setHeader('vary', 'Origin')
    if (cors.credentials) res.setHeader('access-control-allow-credentials', 'true')
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method']) {
      res.writeHead(204, {
        'access-control-allow-methods': 'GET, POST, PATCH, DELETE, OPTIONS',
        'access-control-allow-headers': 'authorization, content-type, last-event-id',
        'access-control-max-age': String(cors.maxAgeSec ?? 600),
      })
      res.end()
      return true
    }
    return false
  }

  /** Channels of `?channel=…` (repeatable), each validated; patterns allowed. */
  #channels(url: URL): string[] {
    const channels = [...new Set(url.searchParams.getAll('channel').filter((c) => c !== ''))]
    if (channels.length === 0) throw new TidingsError('TIDINGS_ERR_NO_CHANNELS')
    if (channels.length > this.#options.maxChannelsPerConnection) {
      throw new TidingsError('TIDINGS_ERR_TOO_MANY_CHANNELS', { detail: `${channels.length} channels` })
    }
    for (const c of channels) assertChannel(c, true)
    return channels
  }

  async #events(ctx: RouteContext): Promise<void> {
    const { req, res, url } = ctx
    const channels = this.#channels(url)
    const principal = await authorizeChannels(await ctx.principal(), channels, this.#channelAuthorizers)
    const header = req.headers['last-event-id']
    const cursor = (typeof header === 'string' && header !== '' ? header : null) ?? url.searchParams.get('lastEventId') ?? null
    const limits = this.#options
    if (this.#closed || this.#connections.size >= limits.maxConnections) {
      // A non-200 answer makes a browser's EventSource give up for good; ask it to come back later.
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' })
      res.end(`retry: ${Math.max(limits.retryMs, 5_000)}\n\n`)
      return
    }
    const admitted = this.#admit(principal)
    const conn = new SseConnection(res, principal, channels, limits, this.#stats, url.searchParams.get('dispatch') === 'message')
    this.#connections.add(conn)
    this.#deps.metrics.connections.inc({ transport: 'sse' })
    this.#startHeartbeat()
    let released = false
    const release = (): void => {
      if (released) return
      released = true
      this.#connections.delete(conn)
      this.#deps.hub.detach(conn)
      this.#deps.metrics.connections.dec({ transport: 'sse' })
      admitted()
    }
    res.on('close', release)
    req.socket.setNoDelay(true)
    conn.open()
    try {
      await this.#deps.hub.attach(conn, cursor)
    } catch (err) {
      this.#deps.logger.warn({ err }, 'subscriber could not attach')
      release()
      conn.close('attach failed')
      return
    }
    // The client may have gone while the hub was replaying; make sure it is not left in the index.
    if (conn.closed) this.#deps.hub.detach(conn)
  }

  #startHeartbeat(): void {
    if (this.#heartbeat !== undefined) return
    this.#heartbeat = setInterval(() => {
      for (const c of this.#connections) c.heartbeat(this.#deps.hub.heartbeatCursor(c))
    }, this.#options.heartbeatMs)
    this.#heartbeat.unref()
  }

  async #publish(ctx: RouteContext): Promise<void> {
    const principal = await ctx.principal()
    const body = await readJson(ctx.req, this.#options.maxBodyBytes)
    const batch = Array.isArray(body)
    if (batch && body.length === 0) throw new TidingsError('TIDINGS_ERR_INVALID_EVENT', { detail: 'empty batch' })
    const published = await this.#deps.publisher.publish(body as never, { principal, mode: 'strict' })
    const out = published.map((p) => ({ id: p.id, cursor: p.cursor }))
    sendJson(ctx.res, 202, batch ? { events: out } : out[0])
  }

  async #history(ctx: RouteContext): Promise<void> {
    const { url } = ctx
    const channels = this.#channels(url)
    const principal = await authorizeChannels(await ctx.principal(), channels, this.#channelAuthorizers)
    const limitParam = url.searchParams.get('limit')
    const limit = limitParam === null ? DEFAULT_HISTORY_LIMIT : Number(limitParam)
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_HISTORY_LIMIT) {
      throw new TidingsError('TIDINGS_ERR_INVALID_QUERY', { detail: `limit must be an integer from 1 to ${MAX_HISTORY_LIMIT}` })
    }
    const log = this.#deps.log
    const epoch = await log.epoch()
    const afterParam = url.searchParams.get('after')
    let after: string | null = null
    if (afterParam !== null && afterParam !== '') {
      const c = parseCursor(afterParam)
      if (c.epoch !== epoch) throw new TidingsError('TIDINGS_ERR_EPOCH_CHANGED')
      if (!log.isPosition(c.position)) throw new TidingsError('TIDINGS_ERR_INVALID_CURSOR')
      after = c.position
    }
    const matcher = ChannelMatcher.of(channels)
    const filter = { exact: channels.filter((c) => !c.includes('*')), patterns: channels.filter((c) => c.includes('*')) }
    const events: { cursor: string; event: unknown }[] = []
    let next = after
    let truncated = false
    // Pages until `limit` visible events or the end: tenant filtering may hide some of a page.
    while (events.length < limit) {
      const res = await log.read(next, { limit: limit - events.length, channels: filter })
      truncated ||= res.truncated
      for (const e of res.entries) {
        if (matcher.matchesAny(e.event.channels) && tenantAllows(principal, e.event.tenant)) {
          events.push({ cursor: formatCursor(epoch, e.position), event: e.event })
        }
      }
      if (res.next === null || res.next === next) break
      next = res.next
      if (res.entries.length === 0) break
    }
    sendJson(ctx.res, 200, { epoch, events, next: next === null ? null : formatCursor(epoch, next), truncated })
  }

  async #ready({ res }: RouteContext): Promise<void> {
    try {
      await Promise.race([
        this.#deps.hub.start().then(() => this.#deps.log.head()),
        new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 2_000).unref()),
      ])
      sendJson(res, 200, { ok: true, engine: this.#deps.log.engine, epoch: this.#deps.hub.epoch, connections: this.connectionCount })
    } catch (err) {
      sendJson(res, 503, { ok: false, engine: this.#deps.log.engine, error: (err as Error).message })
    }
  }

  async #metrics({ res }: RouteContext): Promise<void> {
    const text = await this.#deps.metrics.render()
    res.writeHead(200, { 'content-type': this.#deps.metrics.registry.contentType })
    res.end(text)
  }

  /** Folds the hot-path counters (plain numbers) into Prometheus counters when scraped. */
  #registerMetricsCollector(): void {
    const m = this.#deps.metrics
    const fold = (): void => {
      m.eventsDelivered.inc(this.#stats.events - this.#reported.events)
      m.bytesDelivered.inc(this.#stats.bytes - this.#reported.bytes)
      m.slowConsumerCuts.inc(this.#stats.cuts - this.#reported.cuts)
      Object.assign(this.#reported, this.#stats)
    }
    m.addCollector(fold)
  }
}
