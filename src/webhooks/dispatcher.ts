/**
 * The dispatcher: every enabled endpoint is a durable subscriber of the log with its own cursor.
 * For each event the endpoint receives it creates the delivery and enqueues its job, and only then
 * stores the cursor; after a crash the new follower starts from the stored cursor, so nothing is
 * missed, and the events it sees again are absorbed (the store keeps one delivery per (endpoint,
 * event), the job queue one job per dedup key `webhook:{endpoint}:{event}`).
 *
 * Several processes may run a dispatcher. Each endpoint is followed by one at a time: a process
 * claims an endpoint in the store for a lease it renews at every sync, and stores cursors only
 * while it holds the claim. If a holder stalls past its lease and another takes over, both may
 * enqueue the same events for a moment — which the dedup above makes harmless — and the stalled
 * one stops at its next cursor save.
 */
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { OPEN_PRINCIPAL } from '../core/auth.js'
import type { TidingsEvent } from '../core/envelope.js'
import { TidingsError, isTidingsError } from '../core/errors.js'
import type { ControlFeed } from '../core/jobs/control.js'
import type { Logger } from '../core/logger.js'
import type { SubscribeOptions, Subscription } from '../core/subscription.js'
import type { EndpointFilter, WebhookEndpoint } from './endpoints.js'
import type { WebhookStore } from './store.js'

/** Default interval at which a dispatcher reloads endpoints and renews its claims (control events make changes show up sooner). */
export const DEFAULT_DISPATCH_SYNC_MS = 5_000
/** Default claim length, in sync intervals: survives one late sync. */
export const DEFAULT_DISPATCH_LEASE_SYNCS = 3
/** Default longest time a cursor past events the endpoint does not receive waits before it is stored. */
export const DEFAULT_CURSOR_FLUSH_MS = 1_000
/** Default pause before a follower starts again after its subscription or a dispatch failed. */
export const DEFAULT_FOLLOW_RETRY_MS = 500
/** Control event: an endpoint was created, changed or deleted (`data.id`). */
export const ENDPOINT_CHANGED = 'webhook.endpoint.changed'

/** Settings of a dispatcher. */
export interface DispatcherOptions {
  /** Names this dispatcher in claims. @defaultValue `<host>-<pid>-<random>` */
  id?: string
  /** @defaultValue {@link DEFAULT_DISPATCH_SYNC_MS} */
  syncMs?: number
  /** How long a claim lasts without renewal; must exceed `syncMs`. @defaultValue `syncMs` × {@link DEFAULT_DISPATCH_LEASE_SYNCS} */
  leaseMs?: number
  /** @defaultValue {@link DEFAULT_CURSOR_FLUSH_MS} */
  cursorFlushMs?: number
  /** @defaultValue {@link DEFAULT_FOLLOW_RETRY_MS} */
  retryMs?: number
}

/** What a dispatcher needs. */
export interface DispatcherDeps {
  readonly store: WebhookStore
  readonly control: ControlFeed
  readonly logger: Logger
  /** Follows channels from a cursor (the Tidings instance's `subscribe`). */
  subscribe(channels: readonly string[], options: SubscribeOptions): Subscription
  /** Which events an endpoint receives. */
  filter(endpoint: WebhookEndpoint): EndpointFilter
  /** Creates the delivery of `event` to `endpoint` and enqueues its job; idempotent. */
  dispatch(endpoint: WebhookEndpoint, event: TidingsEvent): Promise<void>
}

/** Follows every enabled endpoint this process holds a claim on. */
export class WebhookDispatcher {
  readonly id: string
  readonly #deps: DispatcherDeps
  readonly #syncMs: number
  readonly #leaseMs: number
  readonly #flushMs: number
  readonly #retryMs: number
  readonly #followers = new Map<string, Follower>()
  #timer: NodeJS.Timeout | undefined
  #offChanged: (() => void) | undefined
  #syncing: Promise<void> | undefined
  #syncAgain = false
  #running = false

  constructor(deps: DispatcherDeps, options: DispatcherOptions = {}) {
    this.#deps = deps
    this.id = options.id ?? `${hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 60) || 'host'}-${process.pid}-${randomBytes(3).toString('hex')}`
    this.#syncMs = options.syncMs ?? DEFAULT_DISPATCH_SYNC_MS
    this.#leaseMs = options.leaseMs ?? this.#syncMs * DEFAULT_DISPATCH_LEASE_SYNCS
    this.#flushMs = options.cursorFlushMs ?? DEFAULT_CURSOR_FLUSH_MS
    this.#retryMs = options.retryMs ?? DEFAULT_FOLLOW_RETRY_MS
    const bad = (detail: string): never => {
      throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: `webhooks.dispatcher: ${detail}` })
    }
    for (const [k, v] of [['syncMs', this.#syncMs], ['leaseMs', this.#leaseMs], ['cursorFlushMs', this.#flushMs], ['retryMs', this.#retryMs]] as const) {
      if (!Number.isFinite(v) || v < 1) bad(`${k} must be a positive number of milliseconds`)
    }
    if (this.#leaseMs <= this.#syncMs) bad('leaseMs must be longer than syncMs')
  }

  /** True between `start` and `stop`. */
  get running(): boolean {
    return this.#running
  }

  /** Ids of the endpoints this dispatcher follows now. */
  get following(): string[] {
    return [...this.#followers.keys()]
  }

  /** Claims and follows the enabled endpoints; resolves after the first sync. */
  async start(): Promise<void> {
    if (this.#running) return
    this.#running = true
    this.#offChanged = this.#deps.control.on(ENDPOINT_CHANGED, () => void this.sync())
    this.#timer = setInterval(() => void this.sync(), this.#syncMs)
    this.#timer.unref()
    await this.sync()
  }

  /** Reloads endpoints now: follows new ones, restarts changed ones, drops deleted and disabled ones, renews claims. */
  sync(): Promise<void> {
    if (!this.#running) return Promise.resolve()
    if (this.#syncing !== undefined) {
      this.#syncAgain = true
      return this.#syncing
    }
    this.#syncing = (async () => {
      do {
        this.#syncAgain = false
        try {
          await this.#syncOnce()
        } catch (err) {
          this.#deps.logger.warn({ err }, 'webhook dispatcher sync failed; trying again at the next one')
        }
      } while (this.#syncAgain && this.#running)
    })().finally(() => (this.#syncing = undefined))
    return this.#syncing
  }

  /** Stops following, stores every cursor and gives the claims up. */
  async stop(): Promise<void> {
    if (!this.#running) return
    this.#running = false
    clearInterval(this.#timer)
    this.#offChanged?.()
    await this.#syncing
    await Promise.all([...this.#followers.values()].map((f) => this.#drop(f, true)))
  }

  /** For tests: stops as if the process had died — no cursor stored, no claim given up. */
  simulateCrash(): void {
    this.#running = false
    clearInterval(this.#timer)
    this.#offChanged?.()
    for (const f of this.#followers.values()) f.kill()
    this.#followers.clear()
  }

  async #syncOnce(): Promise<void> {
    const { store } = this.#deps
    const enabled = await store.listEndpoints({ enabled: true })
    const ids = new Set(enabled.map((e) => e.id))
    for (const f of [...this.#followers.values()]) if (!ids.has(f.endpoint.id)) await this.#drop(f, true)
    for (let endpoint of enabled) {
      if (!this.#running) return
      const current = this.#followers.get(endpoint.id)
      if (current !== undefined && current.endpoint.revision !== endpoint.revision) {
        await this.#drop(current, false)
        const fresh = await store.getEndpoint(endpoint.id)
        if (fresh === null || !fresh.enabled) continue
        endpoint = fresh
      }
      const held = await store.claimEndpoint(endpoint.id, this.id, this.#leaseMs, new Date())
      const follower = this.#followers.get(endpoint.id)
      if (!held) {
        if (follower !== undefined) await this.#drop(follower, false)
        continue
      }
      if (follower === undefined && this.#running) {
        const f = new Follower(endpoint, this.#deps, this.id, this.#flushMs, this.#retryMs, () => {
          if (this.#followers.get(endpoint.id) === f) this.#followers.delete(endpoint.id)
        })
        this.#followers.set(endpoint.id, f)
        f.start()
      }
    }
  }

  /** Stops a follower (storing its cursor) and, when `release`, gives its claim up. */
  async #drop(f: Follower, release: boolean): Promise<void> {
    this.#followers.delete(f.endpoint.id)
    await f.stop()
    if (release) await this.#deps.store.releaseEndpoint(f.endpoint.id, this.id).catch(() => undefined)
  }
}

/** One endpoint's subscription to the log. */
class Follower {
  readonly endpoint: WebhookEndpoint
  readonly #deps: DispatcherDeps
  readonly #holder: string
  readonly #flushMs: number
  readonly #retryMs: number
  readonly #onLost: () => void
  readonly #filter: EndpointFilter
  #cursor: string | null
  #saved: string | null
  #subscription: Subscription | undefined
  #running: Promise<void> | undefined
  #flushTimer: NodeJS.Timeout | undefined
  #saving: Promise<void> = Promise.resolve()
  #stopped = false
  #killed = false

  constructor(endpoint: WebhookEndpoint, deps: DispatcherDeps, holder: string, flushMs: number, retryMs: number, onLost: () => void) {
    this.endpoint = endpoint
    this.#deps = deps
    this.#holder = holder
    this.#flushMs = flushMs
    this.#retryMs = retryMs
    this.#onLost = onLost
    this.#filter = deps.filter(endpoint)
    this.#cursor = endpoint.cursor
    this.#saved = endpoint.cursor
  }

  start(): void {
    this.#running = this.#follow()
  }

  /** Stops and stores the cursor it reached. */
  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#flushTimer)
    await this.#subscription?.return()
    await this.#running
    await this.#save().catch((err: unknown) => this.#deps.logger.warn({ err, endpoint: this.endpoint.id }, 'could not store a webhook cursor'))
  }

  /** Stops without storing anything. */
  kill(): void {
    this.#killed = true
    this.#stopped = true
    clearTimeout(this.#flushTimer)
    void this.#subscription?.return()
  }

  async #follow(): Promise<void> {
    const { logger } = this.#deps
    while (!this.#stopped) {
      try {
        this.#subscription = this.#deps.subscribe(this.endpoint.channels ?? ['*'], { from: this.#cursor, principal: OPEN_PRINCIPAL })
        for await (const { cursor, event } of this.#subscription) {
          if (this.#stopped) return
          if (event.type === 'tidings.reset') {
            logger.warn({ endpoint: this.endpoint.id, data: event.data }, 'webhook endpoint cursor is not in the log (past retention, a recreated log, or an empty one at creation); following from the log\'s current position')
          } else if (this.#filter.matches(event)) {
            await this.#deps.dispatch(this.endpoint, event)
            if (this.#killed) return
            this.#advance(cursor)
            await this.#save()
            continue
          }
          this.#advance(cursor)
          if (this.#flushTimer === undefined) {
            this.#flushTimer = setTimeout(() => {
              this.#flushTimer = undefined
              void this.#save().catch((err: unknown) => logger.warn({ err, endpoint: this.endpoint.id }, 'could not store a webhook cursor'))
            }, this.#flushMs)
            this.#flushTimer.unref()
          }
        }
        if (this.#stopped) return
      } catch (err) {
        await this.#subscription?.return()
        if (this.#stopped || isTidingsError(err, 'TIDINGS_ERR_CLOSED')) return
        logger.warn({ err, endpoint: this.endpoint.id }, 'webhook follower failed; following again from its cursor')
      }
      await new Promise((r) => setTimeout(r, this.#retryMs).unref())
    }
  }

  #advance(cursor: string): void {
    // A reset before the log's first event carries no position to resume from.
    if (!cursor.endsWith('.')) this.#cursor = cursor
  }

  /** Stores the cursor reached; saves run one after another, so an older cursor never lands after a newer one. */
  #save(): Promise<void> {
    const next = this.#saving.then(() => this.#saveNow())
    this.#saving = next.catch(() => undefined)
    return next
  }

  async #saveNow(): Promise<void> {
    if (this.#killed || this.#cursor === null || this.#cursor === this.#saved) return
    const cursor = this.#cursor
    const held = await this.#deps.store.saveCursor(this.endpoint.id, this.#holder, cursor, new Date())
    if (held) {
      this.#saved = cursor
      return
    }
    if (!this.#stopped) this.#deps.logger.warn({ endpoint: this.endpoint.id }, 'another dispatcher holds this webhook endpoint now (or it was deleted); stopping here')
    this.#stopped = true
    this.#onLost()
    void this.#subscription?.return()
  }
}
