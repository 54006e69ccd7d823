/**
 * Server-side subscriptions: a hub subscriber read as an async iterator, for services that follow
 * channels in-process (the same delivery rules as SSE: resume, reset, tenant, dedup).
 */
import type { Principal } from './auth.js'
import type { TidingsEvent } from './envelope.js'
import { TidingsError } from './errors.js'
import type { Hub, HubEntry, HubSubscriber } from './hub.js'

/** Default most undelivered events a server-side subscription buffers before it is cut. */
export const DEFAULT_SUBSCRIPTION_BUFFER = 10_000

/** One event as a subscriber receives it. */
export interface Delivery {
  /** Resume point: pass it as `from` to continue after this event. */
  readonly cursor: string
  readonly event: TidingsEvent
}

/** Options of a server-side subscription. */
export interface SubscribeOptions {
  /** Resume after this cursor; omitted = live from now. */
  from?: string | null
  /** Whose rights apply. @defaultValue an admin principal */
  principal?: Principal
  /** @defaultValue {@link DEFAULT_SUBSCRIPTION_BUFFER} */
  maxBuffered?: number
  /** Ends the subscription. */
  signal?: AbortSignal
}

/** A live subscription; iterate it with `for await`. Breaking out of the loop detaches it. */
export class Subscription implements HubSubscriber, AsyncIterableIterator<Delivery> {
  readonly principal: Principal
  readonly channels: readonly string[]
  readonly #hub: Hub
  readonly #max: number
  #queue: Delivery[] = []
  #head = 0
  #waiter: (() => void) | null = null
  #error: Error | null = null
  #done = false
  #lastCursor: string | null

  constructor(hub: Hub, channels: readonly string[], principal: Principal, options: SubscribeOptions) {
    this.#hub = hub
    this.channels = channels
    this.principal = principal
    this.#max = options.maxBuffered ?? DEFAULT_SUBSCRIPTION_BUFFER
    this.#lastCursor = options.from ?? null
    options.signal?.addEventListener('abort', () => void this.return(), { once: true })
  }

  /** The cursor of the last event handed out. */
  get cursor(): string | null {
    return this.#lastCursor
  }

  deliver(entry: HubEntry): void {
    if (this.#done) return
    if (this.#queue.length - this.#head >= this.#max) {
      this.fail(new TidingsError('TIDINGS_ERR_SLOW_CONSUMER', { detail: `resume from cursor ${this.#lastCursor ?? '(none)'}` }))
      return
    }
    this.#queue.push({ cursor: entry.cursor, event: entry.event })
  }

  deliverReset(entry: HubEntry): void {
    if (!this.#done) this.#queue.push({ cursor: entry.cursor, event: entry.event })
  }

  flush(): void {
    const w = this.#waiter
    this.#waiter = null
    w?.()
  }

  /** The hub is closing: the iteration ends after what is already buffered. */
  close(_reason: string): void {
    this.#done = true
    this.flush()
  }

  /** Ends the iteration with `err` (thrown after what is already buffered). */
  fail(err: Error): void {
    this.#error = err
    this.#done = true
    this.#hub.detach(this)
    this.flush()
  }

  async next(): Promise<IteratorResult<Delivery>> {
    while (true) {
      if (this.#head < this.#queue.length) {
        const d = this.#queue[this.#head++]!
        if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
          this.#queue = this.#queue.slice(this.#head)
          this.#head = 0
        }
        this.#lastCursor = d.cursor
        return { value: d, done: false }
      }
      if (this.#error) throw this.#error
      if (this.#done) return { value: undefined, done: true }
      await new Promise<void>((resolve) => (this.#waiter = resolve))
    }
  }

  async return(): Promise<IteratorResult<Delivery>> {
    this.#done = true
    this.#queue = []
    this.#head = 0
    this.#hub.detach(this)
    this.flush()
    return { value: undefined, done: true }
  }

  [Symbol.asyncIterator](): this {
    return this
  }
}
