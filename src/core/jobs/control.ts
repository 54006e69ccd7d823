/**
 * The control channel: how one process tells the others about a job or a schedule, through the
 * event log itself (the log is the backplane; processes never talk to each other). A cancel for a
 * running job is published here and reaches the worker holding it, wherever it runs; a changed
 * schedule makes every scheduler reload. Heartbeats and the scheduler's periodic sync back both up,
 * so a missed control event delays, but never loses, the request.
 */
import type { TidingsEvent } from '../envelope.js'
import { isTidingsError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { Publisher } from '../publisher.js'
import type { Subscription } from '../subscription.js'

/** The channel control events go to. Only admins may follow it. */
export const CONTROL_CHANNEL = 'control:jobs'
/** Asks the worker holding job `data.id` to abort it. */
export const CANCEL_REQUESTED = 'job.cancel.requested'
/** A schedule was created, changed or deleted (`data.name`). */
export const SCHEDULE_CHANGED = 'schedule.changed'
/** Pause before following the channel again after the subscription ended. */
const RESUBSCRIBE_MS = 250

/** A control event listener. */
export type ControlListener = (event: TidingsEvent) => void

/** Follows the control channel for this instance's workers and scheduler. */
export class ControlFeed {
  readonly #subscribe: (channels: readonly string[]) => Subscription
  readonly #publisher: Publisher
  readonly #logger: Logger
  readonly #listeners = new Map<string, Set<ControlListener>>()
  #subscription: Subscription | undefined
  #running: Promise<void> | undefined
  #closed = false

  constructor(subscribe: (channels: readonly string[]) => Subscription, publisher: Publisher, logger: Logger) {
    this.#subscribe = subscribe
    this.#publisher = publisher
    this.#logger = logger
  }

  /** Calls `listener` for each control event of `type` from now on; returns a function that stops it. */
  on(type: string, listener: ControlListener): () => void {
    let set = this.#listeners.get(type)
    if (set === undefined) this.#listeners.set(type, (set = new Set()))
    set.add(listener)
    this.#start()
    return () => set.delete(listener)
  }

  /** Publishes a control event (strict). */
  async send(type: string, data: Record<string, unknown>): Promise<void> {
    await this.#publisher.publish({ type, channels: [CONTROL_CHANNEL], data }, { mode: 'strict' })
  }

  /** Stops following the channel. */
  async close(): Promise<void> {
    this.#closed = true
    await this.#subscription?.return()
    await this.#running
  }

  #start(): void {
    if (this.#closed) return
    this.#running ??= this.#follow()
  }

  async #follow(): Promise<void> {
    while (!this.#closed) {
      try {
        this.#subscription = this.#subscribe([CONTROL_CHANNEL])
        for await (const { event } of this.#subscription) {
          const listeners = this.#listeners.get(event.type)
          if (listeners === undefined) continue
          for (const l of listeners) {
            try {
              l(event)
            } catch (err) {
              this.#logger.error({ err, type: event.type }, 'control listener failed')
            }
          }
        }
      } catch (err) {
        if (this.#closed || isTidingsError(err, 'TIDINGS_ERR_CLOSED')) return
        this.#logger.warn({ err }, 'control channel subscription ended; following it again')
      }
      if (!this.#closed) await new Promise((r) => setTimeout(r, RESUBSCRIBE_MS).unref())
    }
  }
}
