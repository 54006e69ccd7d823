/**
 * Standard Webhooks signatures (DESIGN §6): `webhook-signature` is `v1,<base64 HMAC-SHA256 of
 * "{webhook-id}.{webhook-timestamp}.{body}">`, keyed by the bytes the secret's base64 part decodes
 * to; during a rotation one signature per live secret, space-separated. Secrets are `whsec_` and
 * the base64 of 24–64 random bytes. The receiver side is here too, for applications written with
 * Tidings.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { TidingsError } from '../core/errors.js'

/** What every secret starts with. */
export const SECRET_PREFIX = 'whsec_'
/** Fewest random bytes a secret may hold. */
export const MIN_SECRET_BYTES = 24
/** Most random bytes a secret may hold. */
export const MAX_SECRET_BYTES = 64
/** Random bytes in a generated secret. */
export const DEFAULT_SECRET_BYTES = 32
/** Default largest difference between a signature's timestamp and the receiver's clock. */
export const DEFAULT_TIMESTAMP_TOLERANCE_SEC = 5 * 60

const BASE64_RE = /^[A-Za-z0-9+/]+={0,2}$/

/** A new secret: `whsec_` and the base64 of {@link DEFAULT_SECRET_BYTES} random bytes. */
export function generateSecret(bytes: number = DEFAULT_SECRET_BYTES): string {
  return SECRET_PREFIX + randomBytes(bytes).toString('base64')
}

/** The HMAC key a secret stands for. Throws `TIDINGS_ERR_INVALID_WEBHOOK_SECRET` unless it is well formed. */
export function secretKey(secret: string): Buffer {
  const bad = (detail: string): never => {
    throw new TidingsError('TIDINGS_ERR_INVALID_WEBHOOK_SECRET', { detail })
  }
  if (typeof secret !== 'string' || !secret.startsWith(SECRET_PREFIX)) bad('the secret does not start with whsec_')
  const encoded = secret.slice(SECRET_PREFIX.length)
  if (!BASE64_RE.test(encoded) || encoded.length % 4 !== 0) bad('the part after whsec_ is not base64')
  const key = Buffer.from(encoded, 'base64')
  if (key.length < MIN_SECRET_BYTES || key.length > MAX_SECRET_BYTES) bad(`the secret holds ${key.length} bytes`)
  return key
}

/** One `v1,<base64>` signature of `id.timestamp.body` with one secret. */
export function sign(secret: string, id: string, timestamp: number, body: string | Uint8Array): string {
  const mac = createHmac('sha256', secretKey(secret))
  mac.update(`${id}.${timestamp}.`)
  mac.update(body)
  return `v1,${mac.digest('base64')}`
}

/** The `webhook-signature` header: one signature per secret, space-separated. */
export function signatureHeader(secrets: readonly string[], id: string, timestamp: number, body: string | Uint8Array): string {
  return secrets.map((s) => sign(s, id, timestamp, body)).join(' ')
}

/** The three headers a delivery carries (a type alias, so it passes where a header record is expected). */
export type SignedHeaders = {
  'webhook-id': string
  'webhook-timestamp': string
  'webhook-signature': string
}

/** Signs a body for sending: the headers for one attempt at `at`. */
export function signedHeaders(secrets: readonly string[], id: string, body: string | Uint8Array, at: Date = new Date()): SignedHeaders {
  const timestamp = Math.floor(at.getTime() / 1000)
  return { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signatureHeader(secrets, id, timestamp, body) }
}

/** Options of {@link verifySignature}. */
export interface VerifyOptions {
  /** @defaultValue {@link DEFAULT_TIMESTAMP_TOLERANCE_SEC} */
  toleranceSec?: number
  /** The receiver's clock. @defaultValue now */
  now?: Date
}

/**
 * For receivers: true when one of the `webhook-signature` entries matches the body under one of
 * `secrets` and the timestamp is within the tolerance. Pass the raw body bytes, before any JSON
 * parsing. Header names are matched in lower case, as `node:http` gives them.
 */
export function verifySignature(
  secrets: string | readonly string[],
  headers: Readonly<Record<string, string | string[] | undefined>>,
  body: string | Uint8Array,
  options: VerifyOptions = {},
): boolean {
  const one = (name: string): string | undefined => {
    const v = headers[name]
    return Array.isArray(v) ? v[0] : v
  }
  const id = one('webhook-id')
  const ts = one('webhook-timestamp')
  const signatures = one('webhook-signature')
  if (id === undefined || ts === undefined || signatures === undefined || !/^\d{1,12}$/.test(ts)) return false
  const timestamp = Number(ts)
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000)
  if (Math.abs(now - timestamp) > (options.toleranceSec ?? DEFAULT_TIMESTAMP_TOLERANCE_SEC)) return false
  const offered = signatures.split(' ').filter((s) => s.startsWith('v1,'))
  for (const secret of typeof secrets === 'string' ? [secrets] : secrets) {
    const expected = Buffer.from(sign(secret, id, timestamp, body))
    for (const candidate of offered) {
      const got = Buffer.from(candidate)
      if (got.length === expected.length && timingSafeEqual(got, expected)) return true
    }
  }
  return false
}
