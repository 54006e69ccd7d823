/**
 * The Tidings client: follows channels over SSE or WebSocket as an explicit state machine
 * (`disconnected` → `connecting` → `connected`), after centrifuge-js. Every state change goes
 * through `#setState`, which emits `{ oldState, newState }`; every way out of a connection goes
 * through `#disconnect(code, reason, reconnect)`. On reconnect it resumes from its cursor with
 * full-jitter backoff, asks `getToken` before each attempt (with `reason: 'unauthorized'` after a
 * 401), surfaces `tidings.reset` as a `reset` event, and drops repeats by event `id` and `key`.
 */
import { backoffDelay, DEFAULT_MAX_RECONNECT_DELAY_MS, DEFAULT_MIN_RECONNECT_DELAY_MS } from './backoff.js'
import { connectingCodes, disconnectedCodes, errorCodes, type ConnectingCode, type DisconnectedCode, type ErrorCode } from './codes.js'
import { RecentSet } from './dedup.js'
import { sseTransport, type EventSourceConstructor, type FetchLike } from './sse.js'
import type { Transport, TransportClose, TransportFactory, TransportName } from './transport.js'
import type { AnyEventOf, EventMap, EventOf, ResetInfo, ResetReason, TidingsEvent } from './types.js'
import { webSocketTransport, type WebSocketConstructor } from './websocket.js'

/** Default number of recent event ids (and, separately, keys) remembered to drop repeats. */
export const DEFAULT_DEDUP_SIZE = 1_000

/** Where the client is. */
export type ClientState = 'disconnected' | 'connecting' | 'connected'

/** Payload of the `state` event. */
export interface StateChange {
  readonly oldState: ClientState
  readonly newState: ClientState
}

/** Payload of the `connecting` event. */
export interface ConnectingContext {
  readonly code: ConnectingCode
  readonly reason: string
}

/** Payload of the `connected` event. */
export interface ConnectedContext {
  readonly transport: TransportName
  /** The cursor the connection resumed from (null: live from the moment it opened). */
  readonly cursor: string | null
}

/** Payload of the `disconnected` event. */
export interface DisconnectedContext {
  readonly code: DisconnectedCode
  readonly reason: string
}

/** Payload of the `error` event. */
export interface ClientErrorContext {
  readonly code: ErrorCode
  /** The server's error code when it gave one (`TIDINGS_ERR_FORBIDDEN_CHANNEL`). */
  readonly serverCode: string | null
  /** HTTP status of a refused connection, 0 otherwise. */
  readonly status: number
  readonly message: string
  readonly cause?: unknown
}

/** The client's events and their payloads. */
export interface ClientEvents<M extends EventMap = EventMap> {
  state: StateChange
  connecting: ConnectingContext
  connected: ConnectedContext
  disconnected: DisconnectedContext
  /** Every event after dedup; `client.cursor` is its cursor while listeners run. */
  event: AnyEventOf<M>
  reset: ResetInfo
  error: ClientErrorContext
}

/** What `getToken` is told. */
export interface TokenRequest {
  /** `'unauthorized'` after the server refused the last token: return a fresh one, not a cached one. */
  readonly reason: 'connect' | 'unauthorized'
}

/** Options of {@link TidingsClient}. */
export interface ClientOptions {
  /**
   * The server's base URL (`https://api.example.com`). In a browser it may be relative or empty
   * (the page's origin).
   * @defaultValue `''`
   */
  url?: string
  /** Channels to follow (names or `*` patterns). */
  channels: readonly string[]
  /** @defaultValue `'sse'` */
  transport?: TransportName
  /** Resume after this cursor on the first connection. @defaultValue null (live from now) */
  since?: string | null
  /** A fixed token. @defaultValue none */
  token?: string | null
  /**
   * Called before each connection attempt; return the token to send (null for none). After a 401 it
   * is called with `reason: 'unauthorized'`; returning null then leaves the client disconnected.
   */
  getToken?: (request: TokenRequest) => Promise<string | null> | string | null
  /** The EventSource class. @defaultValue `globalThis.EventSource` */
  EventSource?: EventSourceConstructor
  /** The WebSocket class. @defaultValue `globalThis.WebSocket` */
  WebSocket?: WebSocketConstructor
  /** `fetch`, used to learn why the browser's EventSource was refused. @defaultValue `globalThis.fetch` */
  fetch?: FetchLike
  /** Bound of the first reconnect delay; it doubles per failed attempt. @defaultValue {@link DEFAULT_MIN_RECONNECT_DELAY_MS} */
  minReconnectDelayMs?: number
  /** @defaultValue {@link DEFAULT_MAX_RECONNECT_DELAY_MS} */
  maxReconnectDelayMs?: number
  /** @defaultValue {@link DEFAULT_DEDUP_SIZE} */
  dedupSize?: number
  /** A transport of your own (tests, other runtimes); overrides `transport`. */
  transportFactory?: TransportFactory
}

type Listener<T> = (payload: T) => void

/** Follows channels on a Tidings server. Call `connect()`; or use {@link subscribe}. */
export class TidingsClient<M extends EventMap = EventMap> {
  readonly #options: ClientOptions
  readonly #baseUrl: string
  readonly #factory: TransportFactory
  readonly #listeners = new Map<keyof ClientEvents<M>, Set<Listener<never>>>()
  readonly #ids: RecentSet
  readonly #keys: RecentSet
  #state: ClientState = 'disconnected'
  #channels: string[]
  /** The followed channels as one expression: events still in flight for removed channels are dropped. */
  #matcher: RegExp
  #cursor: string | null
  #transport: Transport | null = null
  /** Bumped whenever a connection is abandoned, so late callbacks of an old one are ignored. */
  #generation = 0
  #attempts = 0
  #refusedTokens = 0
  #tokenReason: TokenRequest['reason'] = 'connect'
  #timer: ReturnType<typeof setTimeout> | undefined

  constructor(options: ClientOptions) {
    this.#options = options
    this.#channels = [...new Set(options.channels)]
    this.#matcher = channelMatcher(this.#channels)
    this.#cursor = options.since ?? null
    this.#baseUrl = resolveBaseUrl(options.url ?? '')
    this.#factory = options.transportFactory ?? defaultFactory(options)
    const dedup = options.dedupSize ?? DEFAULT_DEDUP_SIZE
    this.#ids = new RecentSet(dedup)
    this.#keys = new RecentSet(dedup)
  }

  /** The current state. */
  get state(): ClientState {
    return this.#state
  }

  /** The cursor to resume from: the last event received, or where the server said the stream stands. */
  get cursor(): string | null {
    return this.#cursor
  }

  /** The channels followed. */
  get channels(): readonly string[] {
    return this.#channels
  }

  /** The transport in use. */
  get transport(): TransportName {
    return this.#transport?.name ?? this.#options.transport ?? 'sse'
  }

  /** Adds a listener; returns its removal. */
  on<E extends keyof ClientEvents<M>>(event: E, listener: Listener<ClientEvents<M>[E]>): () => void {
    let set = this.#listeners.get(event)
    if (set === undefined) this.#listeners.set(event, (set = new Set()))
    set.add(listener as Listener<never>)
    return () => set.delete(listener as Listener<never>)
  }

  /** Starts connecting (from `disconnected`; otherwise does nothing). */
  connect(): void {
    if (this.#state !== 'disconnected') return
    this.#attempts = 0
    this.#refusedTokens = 0
    this.#tokenReason = 'connect'
    this.#setState('connecting')
    this.#emit('connecting', { code: connectingCodes.connectCalled, reason: 'connect called' })
    void this.#open()
  }

  /** Closes the connection and stays disconnected; `connect()` resumes from the cursor. */
  disconnect(): void {
    this.#disconnect(disconnectedCodes.disconnectCalled, 'disconnect called', false)
  }

  /**
   * Follows more channels, from the cursor: events published on them since the last event received
   * are delivered too. WebSocket changes them on the open socket; SSE reconnects from the cursor.
   */
  subscribe(channels: readonly string[]): void {
    const added = channels.filter((c) => !this.#channels.includes(c))
    if (added.length === 0) return
    this.#channels = [...this.#channels, ...added]
    this.#matcher = channelMatcher(this.#channels)
    this.#changed(added, [])
  }

  /** Stops following channels. */
  unsubscribe(channels: readonly string[]): void {
    const removed = this.#channels.filter((c) => channels.includes(c))
    if (removed.length === 0) return
    this.#channels = this.#channels.filter((c) => !removed.includes(c))
    this.#matcher = channelMatcher(this.#channels)
    this.#changed([], removed)
  }

  #changed(added: readonly string[], removed: readonly string[]): void {
    if (this.#state === 'disconnected') return
    if (this.#state === 'connected' && this.#transport !== null && this.#transport.update(added, removed, this.#cursor)) return
    this.#disconnect(connectingCodes.channelsChanged, 'channels changed', true, 0)
  }

  #setState(newState: ClientState): boolean {
    const oldState = this.#state
    if (oldState === newState) return false
    this.#state = newState
    this.#emit('state', { oldState, newState })
    return true
  }

  /**
   * The one way out of a connection: closes it, then either reconnects after `delayMs` (default:
   * full-jitter backoff) or stays disconnected.
   */
  #disconnect(code: ConnectingCode | DisconnectedCode, reason: string, reconnect: boolean, delayMs?: number): void {
    this.#generation++
    clearTimeout(this.#timer)
    this.#timer = undefined
    const transport = this.#transport
    this.#transport = null
    transport?.close()
    if (!reconnect) {
      if (!this.#setState('disconnected')) return
      this.#emit('disconnected', { code: code as DisconnectedCode, reason })
      return
    }
    this.#setState('connecting')
    this.#emit('connecting', { code: code as ConnectingCode, reason })
    const delay = delayMs ?? backoffDelay(this.#attempts, this.#options.minReconnectDelayMs ?? DEFAULT_MIN_RECONNECT_DELAY_MS, this.#options.maxReconnectDelayMs ?? DEFAULT_MAX_RECONNECT_DELAY_MS)
    this.#attempts++
    const generation = this.#generation
    this.#timer = setTimeout(() => {
      if (generation === this.#generation) void this.#open()
    }, delay)
  }

  async #open(): Promise<void> {
    const generation = ++this.#generation
    let token = this.#options.token ?? null
    const getToken = this.#options.getToken
    if (getToken !== undefined) {
      const reason = this.#tokenReason
      try {
        token = await getToken({ reason })
      } catch (err) {
        if (generation !== this.#generation) return
        this.#emit('error', { code: errorCodes.token, serverCode: null, status: 0, message: 'getToken failed', cause: err })
        this.#disconnect(connectingCodes.tokenError, 'getToken failed', true)
        return
      }
      if (generation !== this.#generation) return
      if ((token === null || token === '') && reason === 'unauthorized') {
        this.#disconnect(disconnectedCodes.unauthorized, 'the server refused the token and getToken gave no new one', false)
        return
      }
    }
    const cursor = this.#cursor
    this.#transport = this.#factory(
      { baseUrl: this.#baseUrl, channels: this.#channels, cursor, token: token === '' ? null : token },
      {
        onOpen: () => {
          if (generation !== this.#generation) return
          this.#attempts = 0
          this.#refusedTokens = 0
          this.#tokenReason = 'connect'
          if (this.#setState('connected')) this.#emit('connected', { transport: this.#transport?.name ?? 'sse', cursor })
        },
        onEvent: (event, eventCursor) => {
          if (generation === this.#generation) this.#receive(event, eventCursor)
        },
        onCursor: (c) => {
          if (generation === this.#generation) this.#cursor = c
        },
        onRequestError: (_id, code, message) => {
          if (generation !== this.#generation) return
          this.#emit('error', { code: errorCodes.request, serverCode: code, status: 0, message })
        },
        onClose: (close) => {
          if (generation === this.#generation) this.#closed(close)
        },
      },
    )
  }

  #receive(event: TidingsEvent, cursor: string | null): void {
    if (event.type === 'tidings.reset') {
      const data = event.data as { reason?: ResetReason; epoch?: string; cursor?: string | null } | null
      this.#cursor = data?.cursor ?? null
      this.#emit('reset', { reason: data?.reason ?? 'unknown', epoch: data?.epoch ?? '', cursor: this.#cursor, event: event as ResetInfo['event'] })
      return
    }
    if (cursor !== null) this.#cursor = cursor
    if (!event.channels.some((c) => this.#matcher.test(c))) return
    if (this.#ids.has(event.id) || (event.key !== null && this.#keys.has(event.key))) return
    this.#ids.add(event.id)
    if (event.key !== null) this.#keys.add(event.key)
    this.#emit('event', event as AnyEventOf<M>)
  }

  #closed(close: TransportClose): void {
    const reason = close.code === null ? close.reason : `${close.code}: ${close.reason}`
    if (close.status !== 0) this.#emit('error', { code: errorCodes.transport, serverCode: close.code, status: close.status, message: close.reason })
    if (close.status === 401) {
      if (this.#options.getToken === undefined) {
        this.#disconnect(disconnectedCodes.unauthorized, reason, false)
        return
      }
      this.#tokenReason = 'unauthorized'
      // A first refusal is an expired token: ask for a new one at once. Repeated ones back off.
      this.#disconnect(connectingCodes.unauthorized, reason, true, this.#refusedTokens++ === 0 ? 0 : undefined)
      return
    }
    if (close.status === 403) {
      this.#disconnect(disconnectedCodes.forbidden, reason, false)
      return
    }
    if (close.status >= 400 && close.status < 500 && close.status !== 408 && close.status !== 429) {
      this.#disconnect(disconnectedCodes.badRequest, reason, false)
      return
    }
    if (close.silent === true) this.#disconnect(connectingCodes.noHeartbeat, reason, true)
    else if (close.status === 429 || close.status >= 500) this.#disconnect(connectingCodes.serverBusy, reason, true)
    else this.#disconnect(connectingCodes.transportClosed, reason, true)
  }

  #emit<E extends keyof ClientEvents<M>>(event: E, payload: ClientEvents<M>[E]): void {
    const set = this.#listeners.get(event)
    if (set === undefined) return
    for (const fn of [...set]) {
      try {
        ;(fn as Listener<ClientEvents<M>[E]>)(payload)
      } catch (err) {
        // A throwing listener must not break delivery to the others or the state machine.
        setTimeout(() => {
          throw err
        })
      }
    }
  }
}

/** Handlers of {@link subscribe}. */
export interface SubscribeHandlers<M extends EventMap = EventMap> {
  /** Every event. */
  onEvent?: (event: AnyEventOf<M>) => void
  /** Per event type. */
  on?: { [K in keyof M & string]?: (event: EventOf<M, K>) => void }
  /** `tidings.reset`: events may have been missed; refetch state. */
  onReset?: (info: ResetInfo) => void
  onStateChange?: (change: StateChange) => void
  onConnecting?: (context: ConnectingContext) => void
  onConnected?: (context: ConnectedContext) => void
  onDisconnected?: (context: DisconnectedContext) => void
  onError?: (context: ClientErrorContext) => void
}

/**
 * Follows `channels` and calls `handlers`; connects at once. Close with `client.disconnect()`.
 *
 * ```ts
 * const client = subscribe<AppEvents>(['user:42'], { on: { 'order.paid': (e) => show(e.data.orderId) } }, { url, getToken })
 * ```
 */
export function subscribe<M extends EventMap = EventMap>(channels: readonly string[], handlers: SubscribeHandlers<M>, options: Omit<ClientOptions, 'channels'> = {}): TidingsClient<M> {
  const client = new TidingsClient<M>({ ...options, channels })
  const typed = handlers.on as Record<string, ((event: AnyEventOf<M>) => void) | undefined> | undefined
  client.on('event', (event) => {
    handlers.onEvent?.(event)
    typed?.[event.type]?.(event)
  })
  if (handlers.onReset) client.on('reset', handlers.onReset)
  if (handlers.onStateChange) client.on('state', handlers.onStateChange)
  if (handlers.onConnecting) client.on('connecting', handlers.onConnecting)
  if (handlers.onConnected) client.on('connected', handlers.onConnected)
  if (handlers.onDisconnected) client.on('disconnected', handlers.onDisconnected)
  if (handlers.onError) client.on('error', handlers.onError)
  client.connect()
  return client
}

function defaultFactory(options: ClientOptions): TransportFactory {
  if (options.transport === 'websocket') {
    const WebSocketClass = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    if (WebSocketClass === undefined) throw new TypeError('no WebSocket here: pass options.WebSocket (the ws package under Node)')
    return webSocketTransport(WebSocketClass)
  }
  const EventSourceClass = options.EventSource ?? (globalThis as { EventSource?: EventSourceConstructor }).EventSource
  if (EventSourceClass === undefined) throw new TypeError('no EventSource here: pass options.EventSource (the eventsource package under Node)')
  const fetchFn = options.fetch ?? (globalThis as { fetch?: FetchLike }).fetch?.bind(globalThis) ?? null
  return sseTransport(EventSourceClass, fetchFn)
}

/** One expression matching every channel name that one of `channels` (names or `*` patterns) covers. */
function channelMatcher(channels: readonly string[]): RegExp {
  const alternatives = channels.map((c) => c.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*'))
  return new RegExp(`^(?:${alternatives.join('|')})$`)
}

/** An absolute base URL without a trailing slash; relative URLs resolve against the page. */
function resolveBaseUrl(url: string): string {
  const page = (globalThis as { location?: { href: string } }).location?.href
  const absolute = page === undefined ? url : new URL(url === '' ? '/' : url, page).href
  return absolute.replace(/\/+$/, '')
}
