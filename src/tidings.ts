/**
 * `createTidings`: one instance of the library — a log, the hub over it, the publisher and the HTTP
 * surface — to use in-process or mount in an existing server.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { OPEN_PRINCIPAL } from './core/auth.js'
import { assertChannel, type EventInput } from './core/envelope.js'
import { TidingsError } from './core/errors.js'
import type { EventLog } from './core/event-log.js'
import { Hub, type HubOptions } from './core/hub.js'
import { createLogger, type Logger } from './core/logger.js'
import { TidingsMetrics } from './core/metrics.js'
import { Publisher, type PublishOptions, type Published } from './core/publisher.js'
import { Subscription, type SubscribeOptions } from './core/subscription.js'
import { MemoryEventLog } from './engines/memory/event-log.js'
import { RequestAuthenticator, type AuthOptions } from './http/auth.js'
import { HttpSurface, type HttpOptions } from './http/handler.js'

/** Options of {@link createTidings}. */
export interface TidingsOptions {
  /** The event log. @defaultValue a new {@link MemoryEventLog} */
  events?: EventLog
  /** How HTTP callers are authenticated. Required for the HTTP handler: `jwt`, `authenticate`, or `open: true`. */
  auth?: AuthOptions
  /** Hub tuning. */
  hub?: HubOptions
  /** HTTP settings. */
  http?: HttpOptions
  /** Largest serialised event in bytes. @defaultValue 65536 */
  maxEventBytes?: number
  /** Most events per publish call. @defaultValue 1000 */
  maxBatch?: number
  /** A pino-compatible logger. @defaultValue pino at `TIDINGS_LOG_LEVEL` */
  logger?: Logger
  /** Collect Node's default process metrics too. @defaultValue false */
  defaultMetrics?: boolean
}

/** A Tidings instance. */
export interface Tidings {
  readonly log: EventLog
  readonly hub: Hub
  readonly metrics: TidingsMetrics
  readonly logger: Logger
  readonly publisher: Publisher
  /** The HTTP surface; jobs and webhooks add routes to `http.router`. */
  readonly http: HttpSurface
  /** `(req, res)` handler for `node:http`, Express and friends. */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void
  /**
   * Publishes one event (resolves to one {@link Published}) or a batch (resolves to an array), once
   * the log holds them. `mode: 'failOpen'` logs and counts a log failure instead of rejecting.
   */
  publish(event: EventInput, options?: PublishOptions): Promise<Published>
  publish(events: readonly EventInput[], options?: PublishOptions): Promise<Published[]>
  /** Follows channels in-process: `for await (const { cursor, event } of tidings.subscribe([...]))`. */
  subscribe(channels: readonly string[], options?: SubscribeOptions): Subscription
  /** Starts the hub's tail (the first subscriber does it too). */
  ready(): Promise<void>
  /** Runs `fn` on close, before the log closes (jobs and webhooks stop here). Latest first. */
  onClose(fn: () => Promise<void> | void): void
  /** Ends streams and stops the hub; closes the log if this instance created it. */
  close(): Promise<void>
}

/** Creates a Tidings instance. */
export function createTidings(options: TidingsOptions = {}): Tidings {
  const ownsLog = options.events === undefined
  const log = options.events ?? new MemoryEventLog()
  const logger = options.logger ?? createLogger()
  const metrics = new TidingsMetrics({ defaultMetrics: options.defaultMetrics })
  const hub = new Hub(log, metrics, logger, options.hub)
  const publisher = new Publisher(log, metrics, logger, { maxEventBytes: options.maxEventBytes, maxBatch: options.maxBatch })
  let http: HttpSurface | undefined
  const getHttp = (): HttpSurface => {
    http ??= new HttpSurface({ log, hub, publisher, metrics, logger, auth: new RequestAuthenticator(options.auth) }, options.http)
    return http
  }
  const closers: (() => Promise<void> | void)[] = []
  let closed = false

  const tidings: Tidings = {
    log,
    hub,
    metrics,
    logger,
    publisher,
    get http() {
      return getHttp()
    },
    get handler() {
      return getHttp().handler
    },
    publish: (async (input: EventInput | readonly EventInput[], opts?: PublishOptions) => {
      if (closed) throw new TidingsError('TIDINGS_ERR_CLOSED')
      const out = await publisher.publish(input, opts)
      return Array.isArray(input) ? out : out[0]
    }) as Tidings['publish'],
    subscribe(channels, opts = {}) {
      if (closed) throw new TidingsError('TIDINGS_ERR_CLOSED')
      for (const c of channels) assertChannel(c, true)
      const sub = new Subscription(hub, channels, opts.principal ?? OPEN_PRINCIPAL, opts)
      hub.attach(sub, opts.from ?? null).catch((err: unknown) => sub.fail(err instanceof Error ? err : new Error(String(err))))
      return sub
    },
    ready: () => hub.start(),
    onClose(fn) {
      closers.push(fn)
    },
    async close() {
      if (closed) return
      closed = true
      for (const fn of closers.reverse()) await fn()
      http?.close()
      await hub.close()
      // A log passed in may be shared with other instances: its owner closes it.
      if (ownsLog) await log.close()
    },
  }
  return tidings
}
