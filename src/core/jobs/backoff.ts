/**
 * Retry delays: exponential with full jitter (the default), fixed, or the application's own
 * function. Full jitter — a uniform delay between zero and the exponential cap — spreads the
 * retries of jobs that failed together (an outage) instead of sending them back in one wave.
 */
import { TidingsError } from '../errors.js'
import type { JobError } from '../job-queue.js'

/** Default first exponential cap: attempt 1 waits up to this long. */
export const DEFAULT_BACKOFF_BASE_MS = 1_000
/** Default largest exponential cap. */
export const DEFAULT_BACKOFF_MAX_MS = 15 * 60 * 1_000

/** Exponential backoff with full jitter: attempt n waits a uniform random time in [0, min(maxMs, baseMs·2^(n−1))]. */
export interface ExponentialBackoff {
  readonly type: 'exponential'
  /** @defaultValue {@link DEFAULT_BACKOFF_BASE_MS} */
  readonly baseMs?: number
  /** @defaultValue {@link DEFAULT_BACKOFF_MAX_MS} */
  readonly maxMs?: number
}

/** The same delay before every retry. */
export interface FixedBackoff {
  readonly type: 'fixed'
  readonly delayMs: number
}

/** The application's own delay, in milliseconds, before retrying after failed attempt `attempt` (1-based). */
export type CustomBackoff = (attempt: number, error: JobError) => number

/** How long a job waits before its next attempt. */
export type Backoff = ExponentialBackoff | FixedBackoff | CustomBackoff

/** The default backoff: exponential with full jitter from {@link DEFAULT_BACKOFF_BASE_MS}. */
export const DEFAULT_BACKOFF: ExponentialBackoff = Object.freeze({ type: 'exponential', baseMs: DEFAULT_BACKOFF_BASE_MS, maxMs: DEFAULT_BACKOFF_MAX_MS })

/** Throws `TIDINGS_ERR_INVALID_JOB_DEFINITION` unless `backoff` is well formed. */
export function assertBackoff(backoff: Backoff, job: string): void {
  if (typeof backoff === 'function') return
  const bad = (detail: string): never => {
    throw new TidingsError('TIDINGS_ERR_INVALID_JOB_DEFINITION', { detail: `job ${job}: ${detail}` })
  }
  if (backoff.type === 'fixed') {
    if (!Number.isFinite(backoff.delayMs) || backoff.delayMs < 0) bad('backoff.delayMs must be a number ≥ 0')
    return
  }
  if (backoff.type !== 'exponential') bad('backoff.type must be exponential or fixed, or backoff a function')
  const base = backoff.baseMs ?? DEFAULT_BACKOFF_BASE_MS
  const max = backoff.maxMs ?? DEFAULT_BACKOFF_MAX_MS
  if (!Number.isFinite(base) || base <= 0) bad('backoff.baseMs must be a positive number')
  if (!Number.isFinite(max) || max < base) bad('backoff.maxMs must be a number ≥ baseMs')
}

/**
 * The delay before the attempt after failed attempt `attempt` (1-based), in whole milliseconds.
 * `random` returns [0, 1); inject it in tests.
 */
export function retryDelay(backoff: Backoff, attempt: number, error: JobError, random: () => number = Math.random): number {
  if (typeof backoff === 'function') {
    const ms = backoff(attempt, error)
    return Number.isFinite(ms) && ms > 0 ? Math.round(ms) : 0
  }
  if (backoff.type === 'fixed') return Math.round(backoff.delayMs)
  const base = backoff.baseMs ?? DEFAULT_BACKOFF_BASE_MS
  const max = backoff.maxMs ?? DEFAULT_BACKOFF_MAX_MS
  const cap = Math.min(max, base * 2 ** Math.min(attempt - 1, 52))
  return Math.floor(random() * (cap + 1))
}
