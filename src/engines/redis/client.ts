/**
 * ioredis loaded on first use, shared by the Redis engine's classes: it is an optional peer, so
 * importing Tidings never requires it.
 */
import type { Redis } from 'ioredis'
import { TidingsError } from '../../core/errors.js'

/** The ioredis client class; a missing package is a coded configuration error. */
export async function loadRedisClass(): Promise<typeof Redis> {
  try {
    return (await import('ioredis')).Redis
  } catch (err) {
    throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: 'the Redis engine needs the ioredis package: npm install ioredis', cause: err })
  }
}
