/**
 * The wire types a client sees: the event envelope (docs/http-api.md#event-envelope), event maps
 * that type handlers by event type, and what a reset carries. Kept free of server imports so the
 * client builds for the browser on its own.
 */

/** The `job` field of job lifecycle events. */
export interface EventJobRef {
  readonly id: string
  readonly name: string
  readonly queue: string
  readonly attempt: number
}

/** One event as delivered: camelCase, null fields present. */
export interface TidingsEvent<Type extends string = string, Data = unknown> {
  readonly id: string
  readonly schemaVersion: number
  readonly type: Type
  readonly channels: readonly string[]
  readonly tenant: string | null
  readonly key: string | null
  readonly occurredAt: string
  readonly data: Data
  readonly job: EventJobRef | null
  readonly traceparent: string | null
}

/**
 * Event type → `data` shape, to type handlers:
 * `interface AppEvents { 'order.paid': { orderId: number } }`.
 */
export type EventMap = Record<string, unknown>

/** The event of type `K` in map `M`. */
export type EventOf<M extends EventMap, K extends keyof M & string> = TidingsEvent<K, M[K]>

/** Any event of map `M`. */
export type AnyEventOf<M extends EventMap> = { [K in keyof M & string]: EventOf<M, K> }[keyof M & string]

/** Why the server sent `tidings.reset`: the log was recreated, the cursor fell out of retention, or it was not recognised. */
export type ResetReason = 'epoch' | 'truncated' | 'unknown'

/** A `tidings.reset`: events may have been missed, so refetch state; live events follow. */
export interface ResetInfo {
  readonly reason: ResetReason
  /** The log's current epoch. */
  readonly epoch: string
  /** Where the stream continues from (null while the log is empty). */
  readonly cursor: string | null
  /** The reset event itself. */
  readonly event: TidingsEvent<'tidings.reset', { reason: ResetReason; epoch: string; cursor: string | null }>
}
