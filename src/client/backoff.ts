/** Default first reconnect delay bound. */
export const DEFAULT_MIN_RECONNECT_DELAY_MS = 500
/** Default largest reconnect delay. */
export const DEFAULT_MAX_RECONNECT_DELAY_MS = 20_000

/**
 * Full-jitter backoff: a uniform random delay between 0 and `min(maxMs, minMs · 2^attempt)`, so
 * clients dropped together (a deploy) do not come back in one wave.
 */
export function backoffDelay(attempt: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30))
  return Math.floor(random() * ceiling)
}
