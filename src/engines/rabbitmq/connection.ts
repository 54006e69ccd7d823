/**
 * One AMQP connection, opened on first use and again on the first use after it was lost. Channels
 * do not survive their connection, so each component asks for a fresh channel after a loss and
 * resumes from what it already knows (a stream offset, a lane); nothing here replays operations.
 *
 * amqplib is an optional peer dependency, imported when a link first connects.
 */
import type { Channel, ChannelModel, ConfirmChannel } from 'amqplib'
import { TidingsError } from '../../core/errors.js'
import type { Logger } from '../../core/logger.js'

/** Where the engine connects when neither `url` nor `AMQP_URL` says otherwise (RabbitMQ's default user). */
export const DEFAULT_AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672'
/** Default time a connection attempt may take before it fails. */
export const DEFAULT_AMQP_CONNECT_TIMEOUT_MS = 5_000
/** Default AMQP heartbeat, in seconds: a dead broker or network is noticed within about two of these. */
export const DEFAULT_AMQP_HEARTBEAT_S = 10

type Amqplib = typeof import('amqplib')

let amqplib: Promise<Amqplib> | undefined

/** Imports amqplib once; throws `TIDINGS_ERR_INVALID_CONFIG` with the install command when it is missing. */
export function loadAmqplib(): Promise<Amqplib> {
  amqplib ??= import('amqplib').catch((err: unknown) => {
    amqplib = undefined
    throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: 'the RabbitMQ engine needs the amqplib package: npm install amqplib', cause: err })
  })
  return amqplib
}

/** The URL the engine uses: the option, else `AMQP_URL`, else {@link DEFAULT_AMQP_URL}. */
export function amqpUrl(url: string | undefined): string {
  return url || process.env.AMQP_URL || DEFAULT_AMQP_URL
}

/** Options of {@link AmqpLink}. */
export interface AmqpLinkOptions {
  readonly url: string
  /** Shown as the connection's name in the management UI and `rabbitmqctl list_connections`. */
  readonly name: string
  readonly logger: Logger
  /** @defaultValue {@link DEFAULT_AMQP_CONNECT_TIMEOUT_MS} */
  readonly connectTimeoutMs?: number
  /** @defaultValue {@link DEFAULT_AMQP_HEARTBEAT_S} */
  readonly heartbeatSeconds?: number
}

/** A lazily (re)opened AMQP connection shared by one engine object's channels. */
export class AmqpLink {
  readonly #options: AmqpLinkOptions
  #conn: Promise<ChannelModel> | undefined
  #closed = false
  /** True between a loss (or failed attempt) and the next successful connection: one warning per outage. */
  #down = false
  readonly #lost = new Set<() => void>()

  constructor(options: AmqpLinkOptions) {
    this.#options = options
  }

  /** The current connection, opening one if there is none. Rejects while the broker is unreachable. */
  connection(): Promise<ChannelModel> {
    if (this.#closed) return Promise.reject(new TidingsError('TIDINGS_ERR_CLOSED'))
    const current = this.#conn ?? this.#open()
    this.#conn = current
    return current
  }

  /** A new channel on the current connection, with an error listener (amqplib throws on unhandled ones). */
  async channel(): Promise<Channel> {
    const ch = await (await this.connection()).createChannel()
    ch.on('error', () => {
      // The operation that caused it rejects with the same error; the channel is closed after it.
    })
    return ch
  }

  /** A new channel in confirm mode. */
  async confirmChannel(): Promise<ConfirmChannel> {
    const ch = await (await this.connection()).createConfirmChannel()
    ch.on('error', () => {
      // As in channel(): the failed operation reports it.
    })
    return ch
  }

  /** Calls `listener` each time an open connection is lost. Returns the unsubscribe function. */
  onLost(listener: () => void): () => void {
    this.#lost.add(listener)
    return () => this.#lost.delete(listener)
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.#closed
  }

  /** Closes the connection (and with it every channel). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const conn = this.#conn
    this.#conn = undefined
    if (conn === undefined) return
    try {
      await (await conn).close()
    } catch {
      // Never opened, or already gone: nothing to close.
    }
  }

  async #open(): Promise<ChannelModel> {
    const { connect } = await loadAmqplib()
    const { url, name, logger } = this.#options
    let conn: ChannelModel
    try {
      conn = await connect(withHeartbeat(url, this.#options.heartbeatSeconds ?? DEFAULT_AMQP_HEARTBEAT_S), {
        timeout: this.#options.connectTimeoutMs ?? DEFAULT_AMQP_CONNECT_TIMEOUT_MS,
        // Acks, consumes and cancels are tiny frames: with Nagle on, each waits out a delayed ACK (~40 ms).
        noDelay: true,
        clientProperties: { connection_name: name },
      })
    } catch (err) {
      this.#conn = undefined
      if (!this.#down) logger.warn({ err, connection: name }, 'rabbitmq unreachable; retrying on next use')
      this.#down = true
      throw err
    }
    if (this.#closed) {
      await conn.close().catch(() => undefined)
      throw new TidingsError('TIDINGS_ERR_CLOSED')
    }
    if (this.#down) logger.info({ connection: name }, 'rabbitmq connection back')
    this.#down = false
    const self = this.#conn
    conn.on('error', (err: unknown) => {
      if (!this.#closed) logger.warn({ err, connection: name }, 'rabbitmq connection error')
    })
    conn.on('close', () => {
      if (this.#conn === self) this.#conn = undefined
      if (this.#closed) return
      if (!this.#down) logger.warn({ connection: name }, 'rabbitmq connection lost; reconnecting')
      this.#down = true
      for (const listener of [...this.#lost]) listener()
    })
    return conn
  }
}

/** Adds `heartbeat=` to the URL unless it already sets one. */
function withHeartbeat(url: string, seconds: number): string {
  try {
    const u = new URL(url)
    if (!u.searchParams.has('heartbeat')) u.searchParams.set('heartbeat', String(seconds))
    return u.toString()
  } catch {
    return url
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function abortableDelay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    if (signal?.aborted) done()
    else signal?.addEventListener('abort', done, { once: true })
  })
}

/** True for an AMQP channel error with this reply code (404 NOT_FOUND, 406 PRECONDITION_FAILED, …). */
export function isAmqpError(err: unknown, code: number): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code
}
