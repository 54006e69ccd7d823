/**
 * Test helpers for `tidings/client` under Node: the client on the `eventsource` or `ws` package,
 * recording everything it reports, with waits on what it reports (never on time).
 */
import { after } from 'node:test'
import { EventSource } from 'eventsource'
import { WebSocket } from 'ws'
import { TidingsClient, type ClientOptions, type ConnectedContext, type ConnectingContext, type DisconnectedContext, type ClientErrorContext, type ResetInfo, type StateChange, type TidingsEvent, type TransportName } from '../../src/client/index.js'

const open = new Set<TidingsClient>()
after(() => {
  for (const c of open) c.disconnect()
})

/** A client and everything it reported, in order. */
export class ClientProbe {
  readonly client: TidingsClient
  readonly events: { event: TidingsEvent; cursor: string | null }[] = []
  readonly resets: ResetInfo[] = []
  readonly states: StateChange[] = []
  readonly connecting: ConnectingContext[] = []
  readonly connected: ConnectedContext[] = []
  readonly disconnected: DisconnectedContext[] = []
  readonly errors: ClientErrorContext[] = []
  #waiters: { check: () => boolean; resolve: () => void }[] = []

  constructor(transport: TransportName, options: Omit<ClientOptions, 'transport'>) {
    this.client = new TidingsClient({
      transport,
      EventSource,
      WebSocket,
      minReconnectDelayMs: 20,
      maxReconnectDelayMs: 200,
      ...options,
    })
    open.add(this.client)
    const c = this.client
    c.on('event', (event) => this.#push(() => this.events.push({ event, cursor: c.cursor })))
    c.on('reset', (r) => this.#push(() => this.resets.push(r)))
    c.on('state', (s) => this.#push(() => this.states.push(s)))
    c.on('connecting', (x) => this.#push(() => this.connecting.push(x)))
    c.on('connected', (x) => this.#push(() => this.connected.push(x)))
    c.on('disconnected', (x) => this.#push(() => this.disconnected.push(x)))
    c.on('error', (x) => this.#push(() => this.errors.push(x)))
  }

  /** Ids of the events received, in order. */
  get ids(): string[] {
    return this.events.map((e) => e.event.id)
  }

  /** Resolves once `check()` holds; rejects after `timeoutMs` with `what` and the client's history. */
  until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
    if (check()) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; states ${this.states.map((s) => s.newState).join(' → ')}; ${this.events.length} events; errors ${JSON.stringify(this.errors)}`)), timeoutMs)
      this.#waiters.push({ check, resolve: () => (clearTimeout(timer), resolve()) })
    })
  }

  /** Resolves once the client is connected for the `n`th time. */
  connectedTimes(n: number): Promise<void> {
    return this.until(`connection #${n}`, () => this.connected.length >= n)
  }

  /** Resolves once `n` events arrived. */
  received(n: number): Promise<void> {
    return this.until(`${n} events`, () => this.events.length >= n)
  }

  close(): void {
    this.client.disconnect()
    open.delete(this.client)
  }

  #push(record: () => void): void {
    record()
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.check()) return true
      w.resolve()
      return false
    })
  }
}

/** A promise with its resolve function outside. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => (resolve = r))
  return { promise, resolve }
}
