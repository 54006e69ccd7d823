/**
 * Publishing (DESIGN §3.5): validate, normalise, append, and resolve once the log holds the events.
 * `strict` rejects when the log fails; `failOpen` (seed 000's mode) logs, counts and resolves.
 */
import { authorizePublish, type Principal } from './auth.js'
import { normalizeEvent, type EventInput, type TidingsEvent } from './envelope.js'
import { TidingsError, isTidingsError } from './errors.js'
import { formatCursor, type AppendResult, type EventLog } from './event-log.js'
import type { Logger } from './logger.js'
import type { TidingsMetrics } from './metrics.js'

/** Default most events in one publish call. */
export const DEFAULT_MAX_BATCH = 1000

/** How a publish reacts when the log does not accept the events. */
export type PublishMode = 'strict' | 'failOpen'

/** Options of one publish call. */
export interface PublishOptions {
  /** @defaultValue `'strict'` */
  mode?: PublishMode
  /** Check the events against this principal's publish rights (the HTTP layer passes the caller's). */
  principal?: Principal
  /**
   * Publish inside the caller's own transaction (a `pg` client after `BEGIN` on the PostgreSQL
   * engine): the events exist if and only if it commits. Resolves with `position: null`.
   */
  transaction?: unknown
}

/** One published event. */
export interface Published {
  readonly id: string
  /** The event's position in the log; null when a `failOpen` publish failed. */
  readonly position: string | null
  /** `<epoch>.<position>`, usable as a `lastEventId`; null when a `failOpen` publish failed. */
  readonly cursor: string | null
  readonly event: TidingsEvent
}

/** Settings of a {@link Publisher}. */
export interface PublisherOptions {
  maxEventBytes?: number
  /** @defaultValue {@link DEFAULT_MAX_BATCH} */
  maxBatch?: number
}

/** Publish calls waiting for the next combined append. */
interface PendingAppend {
  readonly events: readonly TidingsEvent[]
  resolve(result: AppendResult): void
  reject(err: unknown): void
}

/**
 * Validates and appends events.
 *
 * Publish calls made in one event-loop turn share one append (in call order, at most `maxBatch`
 * events each), so a worker finishing 32 jobs at once costs the log one round trip, not 32 — the
 * write batching graphile-worker and BullMQ owe their throughput to. Each call still resolves with
 * its own positions, and a failed append rejects every call it carried.
 */
export class Publisher {
  readonly #log: EventLog
  readonly #metrics: TidingsMetrics
  readonly #logger: Logger
  readonly #maxEventBytes: number | undefined
  readonly #maxBatch: number
  #pending: PendingAppend[] = []
  #pendingEvents = 0
  #flushScheduled = false

  constructor(log: EventLog, metrics: TidingsMetrics, logger: Logger, options: PublisherOptions = {}) {
    this.#log = log
    this.#metrics = metrics
    this.#logger = logger
    this.#maxEventBytes = options.maxEventBytes
    this.#maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH
  }

  /** Validates every event first, so a bad one in a batch publishes none. */
  prepare(inputs: readonly unknown[], principal?: Principal): TidingsEvent[] {
    if (inputs.length > this.#maxBatch) {
      throw new TidingsError('TIDINGS_ERR_BATCH_TOO_LARGE', { detail: `${inputs.length} events, the limit is ${this.#maxBatch}` })
    }
    return inputs.map((input, i) => {
      try {
        const event = normalizeEvent(input, { maxEventBytes: this.#maxEventBytes })
        return principal ? authorizePublish(principal, event) : event
      } catch (err) {
        if (isTidingsError(err) && inputs.length > 1) {
          throw new TidingsError(err.code, { detail: `event [${i}]`, cause: err, details: err.details })
        }
        throw err
      }
    })
  }

  /** Publishes one event or a batch; a batch is appended atomically where the engine allows, in order. */
  async publish(input: EventInput | readonly EventInput[], options: PublishOptions = {}): Promise<Published[]> {
    const events = this.prepare(Array.isArray(input) ? input : [input], options.principal)
    if (events.length === 0) return []
    const mode = options.mode ?? 'strict'
    if (options.transaction !== undefined) return this.#publishInTransaction(events, options.transaction)
    let positions: readonly string[]
    let epoch: string
    try {
      ;({ positions, epoch } = await this.#append(events))
    } catch (err) {
      this.#metrics.publishFailures.inc({ mode })
      if (mode === 'failOpen') {
        this.#logger.warn({ err, count: events.length, types: [...new Set(events.map((e) => e.type))] }, 'publish failed (failOpen: continuing)')
        return events.map((event) => ({ id: event.id, position: null, cursor: null, event }))
      }
      throw isTidingsError(err) ? err : new TidingsError('TIDINGS_ERR_PUBLISH_FAILED', { cause: err })
    }
    this.#metrics.eventsAppended.inc(events.length)
    return events.map((event, i) => ({ id: event.id, position: positions[i]!, cursor: formatCursor(epoch, positions[i]!), event }))
  }

  /** Queues `events` for the combined append of this event-loop turn. */
  #append(events: readonly TidingsEvent[]): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      if (this.#pendingEvents + events.length > this.#maxBatch) this.#flush()
      this.#pending.push({ events, resolve, reject })
      this.#pendingEvents += events.length
      if (!this.#flushScheduled) {
        this.#flushScheduled = true
        setImmediate(() => {
          this.#flushScheduled = false
          this.#flush()
        })
      }
    })
  }

  /** Appends everything queued as one batch and hands each caller its share of the positions. */
  #flush(): void {
    const calls = this.#pending
    if (calls.length === 0) return
    this.#pending = []
    this.#pendingEvents = 0
    const events = calls.length === 1 ? calls[0]!.events : calls.flatMap((c) => c.events)
    this.#appendNow(events).then(
      ({ epoch, positions }) => {
        let at = 0
        for (const c of calls) c.resolve({ epoch, positions: positions.slice(at, (at += c.events.length)) })
      },
      (err: unknown) => {
        for (const c of calls) c.reject(err)
      },
    )
  }

  /** One append, and the epoch its positions belong to (in the same round trip where the engine allows). */
  async #appendNow(events: readonly TidingsEvent[]): Promise<AppendResult> {
    if (this.#log.appendWithEpoch !== undefined) return this.#log.appendWithEpoch(events)
    const positions = await this.#log.append(events)
    return { epoch: await this.#log.epoch(), positions }
  }

  async #publishInTransaction(events: TidingsEvent[], transaction: unknown): Promise<Published[]> {
    if (this.#log.appendInTransaction === undefined) {
      throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: `the ${this.#log.engine} engine cannot publish inside a transaction; drop the transaction option` })
    }
    // Strict whatever the mode: the caller's transaction decides, and must see the failure.
    await this.#log.appendInTransaction(transaction, events)
    this.#metrics.eventsAppended.inc(events.length)
    return events.map((event) => ({ id: event.id, position: null, cursor: null, event }))
  }
}
