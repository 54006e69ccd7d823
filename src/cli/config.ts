/**
 * Server configuration from the environment (DESIGN §2 backend selection, §9 auth).
 */
import type { JwtOptions } from '../core/auth.js'
import { TidingsError } from '../core/errors.js'
import type { CorsOptions } from '../http/handler.js'

/** Engines `TIDINGS_BACKEND` may name. */
export const BACKENDS = ['memory', 'redis', 'postgres', 'nats', 'rabbitmq'] as const
/** An engine name. */
export type Backend = (typeof BACKENDS)[number]

/** What the server reads from the environment. */
export interface ServerConfig {
  port: number
  host: string
  backend: Backend
  jwt: JwtOptions | null
  cors: CorsOptions | undefined
  demo: boolean
}

/** The engine to use: `TIDINGS_BACKEND`, else detected from the URL variables, else memory. */
export function detectBackend(env: NodeJS.ProcessEnv): Backend {
  const named = env.TIDINGS_BACKEND
  if (named !== undefined && named !== '') {
    if (!(BACKENDS as readonly string[]).includes(named)) {
      throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: `TIDINGS_BACKEND=${named}; use one of ${BACKENDS.join(', ')}` })
    }
    return named as Backend
  }
  if (env.NATS_URL) return 'nats'
  if (env.REDIS_URL) return 'redis'
  if (env.DATABASE_URL) return 'postgres'
  if (env.AMQP_URL) return 'rabbitmq'
  return 'memory'
}

/** Reads the server configuration; `defaultHost` differs between `dev` (loopback) and `serve`. */
export function readServerConfig(env: NodeJS.ProcessEnv, defaultHost: string): ServerConfig {
  const port = Number(env.TIDINGS_PORT ?? 8080)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: `TIDINGS_PORT=${env.TIDINGS_PORT} is not a port number` })
  }
  const list = (v: string | undefined): string[] | undefined => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : undefined)
  const secret = env.TIDINGS_JWT_SECRET || undefined
  const publicKey = env.TIDINGS_JWT_PUBLIC_KEY || undefined
  const jwksUrl = env.TIDINGS_JWKS_URL || undefined
  const jwt: JwtOptions | null =
    secret || publicKey || jwksUrl
      ? {
          secret,
          publicKey,
          jwksUrl,
          algorithms: list(env.TIDINGS_JWT_ALGORITHMS),
          issuer: env.TIDINGS_JWT_ISSUER || undefined,
          audience: list(env.TIDINGS_JWT_AUDIENCE),
        }
      : null
  const origins = list(env.TIDINGS_CORS_ORIGINS)
  return {
    port,
    host: env.TIDINGS_HOST || defaultHost,
    backend: detectBackend(env),
    jwt,
    cors: origins ? { origins: origins.includes('*') ? '*' : origins, credentials: env.TIDINGS_CORS_CREDENTIALS === '1' } : undefined,
    demo: env.TIDINGS_DEMO !== '0',
  }
}
