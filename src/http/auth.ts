/**
 * Finding the caller's principal in an HTTP request: `Authorization: Bearer`, `?token=` (the
 * browser's EventSource cannot send headers) or the `tidings_token` cookie.
 */
import type { IncomingMessage } from 'node:http'
import { OPEN_PRINCIPAL, TokenVerifier, type JwtOptions, type Principal } from '../core/auth.js'
import { TidingsError } from '../core/errors.js'

/** How requests are authenticated. */
export interface AuthOptions {
  /** Verify JWTs (DESIGN §9). */
  jwt?: JwtOptions
  /**
   * The application's own check; return a principal, or null to fall through to the JWT check
   * (or to 401 when there is none).
   */
  authenticate?: (req: IncomingMessage, token: string | null) => Promise<Principal | null> | Principal | null
  /**
   * Accept every request as an admin. Only for local development: `tidings dev` without a secret
   * sets it and says so loudly.
   */
  open?: boolean
}

/** Resolves principals for requests. */
export class RequestAuthenticator {
  readonly open: boolean
  readonly #verifier: TokenVerifier | null
  readonly #hook: AuthOptions['authenticate']

  constructor(options: AuthOptions = {}) {
    this.#verifier = options.jwt ? new TokenVerifier(options.jwt) : null
    this.#hook = options.authenticate
    this.open = options.open === true && this.#verifier === null && this.#hook === undefined
    if (!this.open && this.#verifier === null && this.#hook === undefined) {
      throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', {
        detail: 'no authentication configured: pass auth.jwt, auth.authenticate, or auth.open: true for a local dev server',
      })
    }
  }

  /** The request's principal; throws 401 errors. */
  async principal(req: IncomingMessage, url: URL): Promise<Principal> {
    if (this.open) return OPEN_PRINCIPAL
    const token = tokenOf(req, url)
    if (this.#hook) {
      const p = await this.#hook(req, token)
      if (p) return p
    }
    if (token === null) throw new TidingsError('TIDINGS_ERR_UNAUTHENTICATED')
    if (this.#verifier === null) throw new TidingsError('TIDINGS_ERR_INVALID_TOKEN', { detail: 'the token was not accepted' })
    return this.#verifier.verify(token)
  }

  /** Verifies a bare token (WebSocket messages, CLI). */
  async verify(token: string): Promise<Principal> {
    if (this.open) return OPEN_PRINCIPAL
    if (this.#verifier === null) throw new TidingsError('TIDINGS_ERR_INVALID_TOKEN', { detail: 'no JWT verifier configured' })
    return this.#verifier.verify(token)
  }
}

/** The token of a request, from the header, the query or the cookie, in that order. */
export function tokenOf(req: IncomingMessage, url: URL): string | null {
  const header = req.headers.authorization
  if (header !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header)
    if (m) return m[1]!
  }
  const q = url.searchParams.get('token')
  if (q) return q
  const cookie = req.headers.cookie
  if (cookie) {
    for (const part of cookie.split(';')) {
      const [k, ...v] = part.trim().split('=')
      if (k === 'tidings_token' && v.length > 0) return decodeURIComponent(v.join('='))
    }
  }
  return null
}
