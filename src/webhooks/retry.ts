/**
 * When a failed delivery is attempted again: Svix's schedule (immediately, then 5 s, 5 min,
 * 30 min, 2 h, 5 h, 10 h, 10 h) with ±20 % jitter, replaceable globally and per endpoint; a
 * receiver that answers `Retry-After`, 429, 502 or 504 is given longer.
 */
import { TidingsError, type ErrorCode } from '../core/errors.js'

/** Seconds to wait before each retry; the first attempt is immediate. Eight attempts in all, over about 28 hours. */
export const DEFAULT_RETRY_SCHEDULE: readonly number[] = Object.freeze([5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600])
/** Each delay is spread by up to this fraction either way, so retries of one outage do not arrive as one wave. */
export const RETRY_JITTER = 0.2
/** Statuses that ask the sender to slow down even without `Retry-After`. */
export const SLOW_DOWN_STATUSES: readonly number[] = Object.freeze([429, 502, 504])
/** A slow-down status without `Retry-After` multiplies the scheduled delay by this. */
export const SLOW_DOWN_FACTOR = 2
/** A slow-down status waits at least this long. */
export const MIN_SLOW_DOWN_MS = 5_000
/** The longest `Retry-After` honoured; longer values are cut to it. */
export const MAX_RETRY_AFTER_MS = 24 * 3600 * 1000
/** Most retries a schedule may list. */
export const MAX_RETRY_SCHEDULE_LENGTH = 50
/** Longest single delay of a schedule, in seconds (a week). */
export const MAX_RETRY_DELAY_SEC = 7 * 24 * 3600

/** What the receiver said that bears on the next delay. */
export interface RetrySignal {
  /** HTTP status; 0 when there was no answer. */
  readonly status: number
  /** `Retry-After` in milliseconds, when the receiver sent one. */
  readonly retryAfterMs: number | null
}

/** Throws `code` unless `schedule` is a list of at most 50 delays of 0 s to a week. */
export function assertRetrySchedule(schedule: unknown, code: ErrorCode = 'TIDINGS_ERR_INVALID_WEBHOOK'): asserts schedule is number[] {
  const ok =
    Array.isArray(schedule) &&
    schedule.length <= MAX_RETRY_SCHEDULE_LENGTH &&
    schedule.every((s) => typeof s === 'number' && Number.isFinite(s) && s >= 0 && s <= MAX_RETRY_DELAY_SEC)
  if (!ok) {
    throw new TidingsError(code, { detail: `retrySchedule must list at most ${MAX_RETRY_SCHEDULE_LENGTH} delays in seconds, each from 0 to ${MAX_RETRY_DELAY_SEC}` })
  }
}

/**
 * Reads `TIDINGS_WEBHOOK_RETRY_SCHEDULE` (comma-separated seconds, decimals allowed): undefined
 * when unset or empty. Throws `TIDINGS_ERR_INVALID_CONFIG`.
 */
export function parseRetrySchedule(text: string | undefined): number[] | undefined {
  if (text === undefined || text.trim() === '') return undefined
  const parts = text.split(',').map((s) => s.trim())
  const schedule = parts.map((s) => (/^\d+(\.\d+)?$/.test(s) ? Number(s) : NaN))
  try {
    assertRetrySchedule(schedule, 'TIDINGS_ERR_INVALID_CONFIG')
  } catch {
    throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: `TIDINGS_WEBHOOK_RETRY_SCHEDULE must be comma-separated seconds, like 5,300,1800; got ${JSON.stringify(text.slice(0, 80))}` })
  }
  return schedule
}

/** `ms` spread uniformly by ±{@link RETRY_JITTER}. `random` returns [0, 1). */
export function withJitter(ms: number, random: () => number = Math.random): number {
  return Math.max(0, Math.round(ms * (1 + RETRY_JITTER * (2 * random() - 1))))
}

/**
 * The delay before the attempt after failed attempt `attempt` (1-based) under `schedule`, in
 * milliseconds, or null when the schedule has no attempt left. `Retry-After` raises the delay to
 * what it asks (cut to {@link MAX_RETRY_AFTER_MS}); 429, 502 and 504 without it double the delay,
 * to at least {@link MIN_SLOW_DOWN_MS}.
 */
export function nextDelayMs(schedule: readonly number[], attempt: number, signal: RetrySignal, random: () => number = Math.random): number | null {
  const seconds = schedule[attempt - 1]
  if (seconds === undefined) return null
  let ms = withJitter(seconds * 1000, random)
  if (signal.retryAfterMs !== null) ms = Math.max(ms, Math.min(signal.retryAfterMs, MAX_RETRY_AFTER_MS))
  else if (SLOW_DOWN_STATUSES.includes(signal.status)) ms = Math.max(ms * SLOW_DOWN_FACTOR, MIN_SLOW_DOWN_MS)
  return ms
}

/** `Retry-After` (delay-seconds or an HTTP date) in milliseconds from `now`; null when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now: Date = new Date()): number | null {
  if (value === undefined) return null
  const v = value.trim()
  if (/^\d{1,10}$/.test(v)) return Number(v) * 1000
  const at = Date.parse(v)
  if (Number.isNaN(at)) return null
  return Math.max(0, at - now.getTime())
}
