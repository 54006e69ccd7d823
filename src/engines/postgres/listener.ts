/**
 * One dedicated connection that `LISTEN`s on a channel and turns notifications into wake-ups.
 * A wake-up carries at most a hint (the job queue's payload names the lane that has work): whoever
 * wakes re-reads the tables, so a notification that is lost, a listener that dies, or a payload
 * limit cannot lose an event or a job — at worst it delays one until the reader's polling
 * backstop. After every (re)connection the listener wakes its owner too, so whatever was committed
 * while it was deaf is read at once.
 */
import type { Client } from 'pg'
import type { Logger } from '../../core/logger.js'

/** Default first reconnect delay cap of the listener; doubles per failed attempt. */
export const DEFAULT_LISTENER_MIN_BACKOFF_MS = 100
/** Default largest reconnect delay cap of the listener. */
export const DEFAULT_LISTENER_MAX_BACKOFF_MS = 5_000

/** Where the listener is. */
export type ListenerState =
  | { readonly type: 'idle' }
  | { readonly type: 'connecting'; readonly attempt: number }
  | { readonly type: 'listening'; readonly client: Client; readonly pid: number | null }
  | { readonly type: 'backoff'; readonly attempt: number; readonly timer: NodeJS.Timeout }
  | { readonly type: 'closed' }

/** Settings of a {@link NotificationListener}. */
export interface NotificationListenerOptions {
  /** Returns a new, unconnected client for the listening connection. */
  createClient(): Client
  /** The channel name, as given to `pg_notify` (quoted for `LISTEN` here). */
  channel: string
  /**
   * Called with the payload of every notification, and with null after every successful
   * (re)connection and every lost connection, when notifications may have been missed.
   */
  onWake(payload: string | null): void
  /** Where lost connections and reconnects are reported. */
  logger: Logger
  /** @defaultValue {@link DEFAULT_LISTENER_MIN_BACKOFF_MS} */
  minBackoffMs?: number
  /** @defaultValue {@link DEFAULT_LISTENER_MAX_BACKOFF_MS} */
  maxBackoffMs?: number
}

/** A self-healing `LISTEN` connection. */
export class NotificationListener {
  readonly #options: NotificationListenerOptions
  readonly #minBackoffMs: number
  readonly #maxBackoffMs: number
  #state: ListenerState = { type: 'idle' }

  constructor(options: NotificationListenerOptions) {
    this.#options = options
    this.#minBackoffMs = options.minBackoffMs ?? DEFAULT_LISTENER_MIN_BACKOFF_MS
    this.#maxBackoffMs = options.maxBackoffMs ?? DEFAULT_LISTENER_MAX_BACKOFF_MS
  }

  /** The current state (for tests and health checks). */
  get state(): ListenerState {
    return this.#state
  }

  /** Starts listening. Idempotent. */
  start(): void {
    if (this.#state.type === 'idle') void this.#connect(0)
  }

  /** Stops for good and closes the connection. */
  async close(): Promise<void> {
    const state = this.#state
    this.#state = { type: 'closed' }
    if (state.type === 'backoff') clearTimeout(state.timer)
    if (state.type === 'listening') await state.client.end().catch(() => {})
  }

  async #connect(attempt: number): Promise<void> {
    this.#state = { type: 'connecting', attempt }
    const client = this.#options.createClient()
    // A connection that dies emits 'error' (and later 'end'); without a listener Node would crash.
    client.on('error', (err) => this.#lost(client, err))
    client.on('end', () => this.#lost(client, null))
    client.on('notification', (msg) => this.#options.onWake(msg.payload ?? ''))
    try {
      await client.connect()
      await client.query(`LISTEN ${client.escapeIdentifier(this.#options.channel)}`)
      if (this.#state.type !== 'connecting') {
        await client.end().catch(() => {})
        return
      }
      const pid = (client as Client & { processID?: number | null }).processID ?? null
      this.#state = { type: 'listening', client, pid }
      if (attempt > 0) this.#options.logger.info({ channel: this.#options.channel }, 'postgres listener reconnected')
    } catch (err) {
      client.removeAllListeners('end')
      await client.end().catch(() => {})
      if (this.#state.type !== 'connecting') return
      this.#options.logger.warn({ err, attempt, channel: this.#options.channel }, 'postgres listener could not connect; retrying')
      this.#backoff(attempt + 1)
      return
    }
    // Whatever was committed while this connection was not listening is read now.
    this.#options.onWake(null)
  }

  #lost(client: Client, err: Error | null): void {
    const state = this.#state
    if (state.type !== 'listening' || state.client !== client) return
    this.#options.logger.warn({ err, channel: this.#options.channel }, 'postgres listener lost its connection; reconnecting')
    client.end().catch(() => {})
    this.#backoff(1)
    this.#options.onWake(null)
  }

  #backoff(attempt: number): void {
    // Full jitter: spread reconnects of many processes after a database restart.
    const cap = Math.min(this.#maxBackoffMs, this.#minBackoffMs * 2 ** Math.min(attempt - 1, 20))
    const timer = setTimeout(() => void this.#connect(attempt), Math.random() * cap)
    timer.unref()
    this.#state = { type: 'backoff', attempt, timer }
  }
}
