/**
 * What the PostgreSQL engine's classes share: `pg` loaded on first use (an optional peer, so
 * importing Tidings never requires it) and option checks.
 */
import { TidingsError } from '../../core/errors.js'
import type { Logger } from '../../core/logger.js'

/** The `pg` module's type. */
export type PgModule = typeof import('pg')

let pgModule: Promise<PgModule> | undefined

/** Loads `pg` on first use; a missing package is a coded configuration error. */
export function loadPg(): Promise<PgModule> {
  pgModule ??= import('pg').then(
    (m) => (m as PgModule & { default?: PgModule }).default ?? m,
    (err: unknown) => {
      pgModule = undefined
      throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: 'the PostgreSQL engine needs the pg package: npm install pg', cause: err })
    },
  )
  return pgModule
}

/** Returns `value` when it is a positive safe integer, else throws `TIDINGS_ERR_INVALID_CONFIG` naming the option. */
export function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: `${name} must be a positive integer` })
  }
  return value
}

/**
 * A pool the engine owns. An idle connection that dies (a server restart) is dropped by the pool,
 * which reports it as an error event: logged, never thrown.
 */
export function createPool(pg: PgModule, connectionString: string | undefined, max: number, logger: Logger): InstanceType<PgModule['Pool']> {
  const pool = new pg.Pool({ connectionString, max })
  pool.on('error', (err) => logger.warn({ err }, 'an idle PostgreSQL connection failed'))
  return pool
}
