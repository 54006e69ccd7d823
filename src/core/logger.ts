/**
 * The logger Tidings writes to: pino's shape, so an application can pass its own pino instance.
 */
import { pino } from 'pino'

/** The subset of pino's logger Tidings uses. */
export interface Logger {
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
  child(bindings: Record<string, unknown>): Logger
}

/** A pino logger at `TIDINGS_LOG_LEVEL` (default `info`) that never prints secrets it is given under the usual names. */
export function createLogger(level: string = process.env.TIDINGS_LOG_LEVEL ?? 'info'): Logger {
  return pino({
    name: 'tidings',
    level,
    redact: { paths: ['token', 'secret', 'authorization', '*.token', '*.secret', '*.authorization', 'req.headers.authorization'], censor: '[redacted]' },
  })
}
