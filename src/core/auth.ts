/**
 * Principals and their rights (DESIGN §9). Tokens are JWTs verified with jose against a pinned
 * algorithm list; the `tidings` claim carries `subscribe` and `publish` channel patterns and `admin`.
 */
import { createRemoteJWKSet, importSPKI, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import { z } from 'zod'
import { channelMatches, isPattern, patternCovers } from './channels.js'
import type { TidingsEvent } from './envelope.js'
import { TidingsError } from './errors.js'

/** Who is connected or publishing. */
export interface Principal {
  /** User id (`sub` claim); null for the open principal of an unauthenticated dev server. */
  readonly sub: string | null
  /** Tenant; an event whose `tenant` is set reaches only principals of that tenant, or admins. */
  readonly tenant: string | null
  /** Admins may follow and publish anything and see every tenant. */
  readonly admin: boolean
  /** Channel patterns this principal may follow. */
  readonly subscribe: readonly string[]
  /** Channel patterns this principal may publish to. */
  readonly publish: readonly string[]
  /** Job name patterns this principal may enqueue over HTTP (`tidings.enqueue` claim); none when absent. */
  readonly enqueue?: readonly string[]
}

/** The principal of a server running without authentication (`tidings dev` with no secret). */
export const OPEN_PRINCIPAL: Principal = Object.freeze({ sub: null, tenant: null, admin: true, subscribe: ['*'], publish: ['*'], enqueue: ['*'] })

const tidingsClaimSchema = z.object({
  subscribe: z.array(z.string().max(200)).max(200).optional(),
  publish: z.array(z.string().max(200)).max(200).optional(),
  admin: z.boolean().optional(),
  enqueue: z.array(z.string().max(200)).max(200).optional(),
})

/** Builds the principal a verified JWT payload describes. */
export function principalFromClaims(payload: JWTPayload): Principal {
  const sub = typeof payload.sub === 'string' && payload.sub.length > 0 ? payload.sub : null
  const tenantClaim = (payload as Record<string, unknown>).tenant
  const tenant = typeof tenantClaim === 'string' && tenantClaim.length > 0 ? tenantClaim : null
  const parsed = tidingsClaimSchema.safeParse((payload as Record<string, unknown>).tidings ?? {})
  if (!parsed.success) throw new TidingsError('TIDINGS_ERR_INVALID_TOKEN', { detail: 'the tidings claim is malformed' })
  const claim = parsed.data
  const defaults = [...(sub ? [`user:${sub}`] : []), ...(tenant ? [`tenant:${tenant}`] : []), 'broadcast']
  return Object.freeze({
    sub,
    tenant,
    admin: claim.admin === true,
    subscribe: Object.freeze(claim.subscribe ?? defaults),
    publish: Object.freeze(claim.publish ?? []),
    enqueue: Object.freeze(claim.enqueue ?? []),
  })
}

/** True when the principal may follow `channel` (a name or a pattern). */
export function canSubscribe(p: Principal, channel: string): boolean {
  return p.admin || p.subscribe.some((allowed) => patternCovers(allowed, channel))
}

/**
 * An extra source of subscribe rights beyond the token's patterns: resolves true to let `principal`
 * follow `channel` (an exact name; patterns are never granted this way). Jobs use it so that a
 * job's owner may follow `job:{id}`.
 */
export type ChannelAuthorizer = (principal: Principal, channel: string) => boolean | Promise<boolean>

/**
 * Checks that the principal may follow every channel, asking `authorizers` about exact names its
 * own rights do not cover, and returns the principal with the granted names added to its subscribe
 * rights (what the hub checks at attach). Tenant isolation still applies on every delivery.
 * Throws `TIDINGS_ERR_FORBIDDEN_CHANNEL`.
 */
export async function authorizeChannels(p: Principal, channels: readonly string[], authorizers: readonly ChannelAuthorizer[]): Promise<Principal> {
  const granted: string[] = []
  for (const c of channels) {
    if (canSubscribe(p, c)) continue
    let ok = false
    if (!isPattern(c)) {
      for (const authorize of authorizers) {
        if (await authorize(p, c)) {
          ok = true
          break
        }
      }
    }
    if (!ok) throw new TidingsError('TIDINGS_ERR_FORBIDDEN_CHANNEL', { detail: `this token may not follow ${c}` })
    granted.push(c)
  }
  return granted.length === 0 ? p : Object.freeze({ ...p, subscribe: Object.freeze([...p.subscribe, ...granted]) })
}

/** True when the principal may enqueue the job `name` over HTTP. */
export function canEnqueue(p: Principal, name: string): boolean {
  return p.admin || (p.enqueue ?? []).some((allowed) => channelMatches(allowed, name))
}

/** True when an event of `tenant` may reach the principal. Checked on every delivery. */
export function tenantAllows(p: Principal, tenant: string | null): boolean {
  return tenant === null || p.admin || p.tenant === tenant
}

/**
 * Checks that the principal may publish `event` and returns it with the tenant filled in: a
 * non-admin principal of a tenant publishes into its own tenant only. Throws 403 errors.
 */
export function authorizePublish(p: Principal, event: TidingsEvent): TidingsEvent {
  if (p.admin) return event
  for (const c of event.channels) {
    if (!p.publish.some((allowed) => channelMatches(allowed, c))) {
      throw new TidingsError('TIDINGS_ERR_FORBIDDEN_PUBLISH', { detail: `publishing to ${c} is not allowed for this token` })
    }
  }
  if (event.tenant === null) return p.tenant === null ? event : { ...event, tenant: p.tenant }
  if (event.tenant !== p.tenant) {
    throw new TidingsError('TIDINGS_ERR_FORBIDDEN_PUBLISH', { detail: `this token cannot publish for tenant ${event.tenant}` })
  }
  return event
}

/** JWT verification settings. Exactly one key source: `secret`, `publicKey` or `jwksUrl`. */
export interface JwtOptions {
  /** HS256 shared secret (`TIDINGS_JWT_SECRET`). */
  secret?: string
  /** PEM public key (SPKI) for RS*, PS* or ES* tokens (`TIDINGS_JWT_PUBLIC_KEY`). */
  publicKey?: string
  /** JWKS URL (`TIDINGS_JWKS_URL`). */
  jwksUrl?: string
  /**
   * Accepted algorithms, pinned. @defaultValue `['HS256']` with a secret, `['RS256']` with a key or JWKS
   */
  algorithms?: string[]
  /** Required `iss`. */
  issuer?: string
  /** Required `aud`. */
  audience?: string | string[]
  /** Allowed clock skew in seconds. @defaultValue 5 */
  clockToleranceSec?: number
}

/** Verifies bearer tokens into principals. */
export class TokenVerifier {
  readonly #options: JwtOptions
  readonly #algorithms: string[]
  #key: Promise<Uint8Array | CryptoKey | JWTVerifyGetKey> | undefined

  constructor(options: JwtOptions) {
    const sources = [options.secret, options.publicKey, options.jwksUrl].filter((s) => s !== undefined && s !== '')
    if (sources.length !== 1) {
      throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: 'give exactly one of auth.jwt.secret, publicKey or jwksUrl' })
    }
    if (options.secret !== undefined && options.secret.length < 32) {
      throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: 'the JWT secret must be at least 32 characters' })
    }
    this.#options = options
    this.#algorithms = options.algorithms ?? (options.secret ? ['HS256'] : ['RS256'])
    if (this.#algorithms.some((a) => a.toLowerCase() === 'none')) {
      throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: 'alg none is never accepted' })
    }
  }

  #resolveKey(): Promise<Uint8Array | CryptoKey | JWTVerifyGetKey> {
    const o = this.#options
    this.#key ??= o.secret
      ? Promise.resolve(new TextEncoder().encode(o.secret))
      : o.publicKey
        ? importSPKI(o.publicKey, this.#algorithms[0]!)
        : Promise.resolve(createRemoteJWKSet(new URL(o.jwksUrl!)))
    return this.#key
  }

  /** Verifies `token` and returns its principal; throws `TIDINGS_ERR_INVALID_TOKEN`. */
  async verify(token: string): Promise<Principal> {
    const key = await this.#resolveKey()
    const options = {
      algorithms: this.#algorithms,
      issuer: this.#options.issuer,
      audience: this.#options.audience,
      clockTolerance: this.#options.clockToleranceSec ?? 5,
    }
    let payload: JWTPayload
    try {
      const result = typeof key === 'function' ? await jwtVerify(token, key, options) : await jwtVerify(token, key, options)
      payload = result.payload
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'ERR_JWT_INVALID'
      throw new TidingsError('TIDINGS_ERR_INVALID_TOKEN', { detail: `token rejected (${code})`, cause: err })
    }
    return principalFromClaims(payload)
  }
}
