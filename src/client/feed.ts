/**
 * Framework-free stores over a client, for UI bindings (`tidings/react` uses them through
 * `useSyncExternalStore`): each keeps an immutable snapshot and tells subscribers when it changes.
 */
import { TidingsClient, type ClientErrorContext, type ClientOptions, type ClientState } from './client.js'
import type { AnyEventOf, EventMap, ResetInfo } from './types.js'

/** Default number of events an {@link EventFeed} keeps. */
export const DEFAULT_FEED_SIZE = 100

/** What an {@link EventFeed} shows. */
export interface FeedSnapshot<M extends EventMap = EventMap> {
  readonly state: ClientState
  /** The most recent events, oldest first. */
  readonly events: readonly AnyEventOf<M>[]
  /** The newest event, or null. */
  readonly latest: AnyEventOf<M> | null
  /** The last `tidings.reset`, or null. */
  readonly reset: ResetInfo | null
  /** The last error, or null (cleared on connect). */
  readonly error: ClientErrorContext | null
  readonly cursor: string | null
}

/** Options of {@link EventFeed}. */
export interface FeedOptions extends Omit<ClientOptions, 'channels'> {
  /** @defaultValue {@link DEFAULT_FEED_SIZE} */
  maxEvents?: number
}

/** A client and the latest events of its channels, as a subscribable snapshot. */
export class EventFeed<M extends EventMap = EventMap> {
  readonly client: TidingsClient<M>
  readonly #max: number
  readonly #listeners = new Set<() => void>()
  #snapshot: FeedSnapshot<M>

  constructor(channels: readonly string[], options: FeedOptions = {}) {
    this.client = new TidingsClient<M>({ ...options, channels })
    this.#max = options.maxEvents ?? DEFAULT_FEED_SIZE
    this.#snapshot = { state: 'disconnected', events: [], latest: null, reset: null, error: null, cursor: this.client.cursor }
    this.client.on('state', ({ newState }) => this.#update({ state: newState, ...(newState === 'connected' ? { error: null } : {}) }))
    this.client.on('event', (event) => {
      const events = [...this.#snapshot.events, event]
      if (events.length > this.#max) events.splice(0, events.length - this.#max)
      this.#update({ events, latest: event })
    })
    this.client.on('reset', (reset) => this.#update({ reset }))
    this.client.on('error', (error) => this.#update({ error }))
  }

  /** The current snapshot (the same object until something changes). */
  readonly getSnapshot = (): FeedSnapshot<M> => this.#snapshot

  /** Calls `listener` after each change; returns its removal. */
  readonly subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  #update(change: Partial<FeedSnapshot<M>>): void {
    this.#snapshot = { ...this.#snapshot, ...change, cursor: this.client.cursor }
    for (const fn of [...this.#listeners]) fn()
  }
}
