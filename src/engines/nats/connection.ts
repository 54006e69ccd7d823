/**
 * What the NATS engine's event log and job queue share: loading the optional `@nats-io/*`
 * packages on first use, opening a connection that reconnects by itself, the reversible encoding
 * of names into subject tokens, and reading the JetStream ack subjects of raw pull deliveries.
 */
import type { NatsConnection, NodeConnectionOptions } from '@nats-io/transport-node'
import { TidingsError } from '../../core/errors.js'
import type { Logger } from '../../core/logger.js'

/** Where the engine connects when neither `connection`, `url` nor `NATS_URL` says otherwise. */
export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222'
/** Default pause between two reconnection attempts; the engine never stops trying. */
export const DEFAULT_NATS_RECONNECT_WAIT_MS = 250
/** Default JetStream API timeout (publish acks, stream and consumer requests). */
export const DEFAULT_NATS_API_TIMEOUT_MS = 5_000
/** Default replicas of the streams and the bucket the engine creates (1, 3 or 5 on a cluster). */
export const DEFAULT_NATS_REPLICAS = 1
/** The oldest nats-server the engine is written for (see docs/engines/nats.md#server-version). */
export const MIN_NATS_SERVER_VERSION = '2.9.0'

/** Options every NATS engine object takes. */
export interface NatsConnectionOptions {
  /**
   * A connection of yours to use: it stays yours (`close()` does not close it). Give it
   * `maxReconnectAttempts: -1` so that it outlives a server restart.
   */
  connection?: NatsConnection
  /** Server URL, or several separated by commas, when no `connection` is given. @defaultValue `process.env.NATS_URL`, else {@link DEFAULT_NATS_URL} */
  url?: string
  /**
   * More options for the connection the engine opens (credentials, TLS, `name`, …); ignored with
   * `connection`. @defaultValue reconnect forever, every {@link DEFAULT_NATS_RECONNECT_WAIT_MS} ms
   */
  connectOptions?: Partial<NodeConnectionOptions>
  /** JetStream API timeout, in milliseconds. @defaultValue {@link DEFAULT_NATS_API_TIMEOUT_MS} */
  apiTimeoutMs?: number
  /** Where connection trouble goes. @defaultValue a pino logger at `TIDINGS_LOG_LEVEL` */
  logger?: Logger
}

/** The three client packages, loaded together. */
export interface NatsModules {
  readonly transport: typeof import('@nats-io/transport-node')
  readonly jetstream: typeof import('@nats-io/jetstream')
  readonly kv: typeof import('@nats-io/kv')
}

let modules: Promise<NatsModules> | undefined

/** Loads `@nats-io/transport-node`, `@nats-io/jetstream` and `@nats-io/kv` on first use, so `import 'tidings'` never needs them. */
export function loadNats(): Promise<NatsModules> {
  modules ??= (async () => {
    try {
      const [transport, jetstream, kv] = await Promise.all([import('@nats-io/transport-node'), import('@nats-io/jetstream'), import('@nats-io/kv')])
      return { transport, jetstream, kv }
    } catch (err) {
      modules = undefined
      throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', {
        detail: 'the NATS engine needs @nats-io/transport-node, @nats-io/jetstream and @nats-io/kv: npm install @nats-io/transport-node @nats-io/jetstream @nats-io/kv',
        cause: err,
      })
    }
  })()
  return modules
}

/** An open connection and whether the engine must close it. */
export interface OpenConnection {
  readonly nc: NatsConnection
  readonly owned: boolean
}

/** Opens the connection the options describe (or adopts the caller's) and logs its outages once each. */
export async function openConnection(options: NatsConnectionOptions, logger: Logger, name: string): Promise<OpenConnection> {
  if (options.connection !== undefined) return { nc: options.connection, owned: false }
  const { transport } = await loadNats()
  const url = options.url ?? process.env.NATS_URL ?? DEFAULT_NATS_URL
  const nc = await transport.connect({
    servers: url.split(',').map((s) => s.trim()).filter(Boolean),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: DEFAULT_NATS_RECONNECT_WAIT_MS,
    ...options.connectOptions,
  })
  assertServerVersion(nc)
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') logger.warn({ role: name }, 'nats connection lost; reconnecting')
      else if (s.type === 'reconnect') logger.info({ role: name }, 'nats connection back')
    }
  })().catch(() => undefined)
  return { nc, owned: true }
}

/** Throws when the server is older than {@link MIN_NATS_SERVER_VERSION} or runs without JetStream. */
export function assertServerVersion(nc: NatsConnection): void {
  const info = nc.info
  if (info === undefined) return
  if (!info.jetstream) {
    throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: `the NATS server at ${nc.getServer()} runs without JetStream; start it with -js` })
  }
  if (compareVersions(info.version, MIN_NATS_SERVER_VERSION) < 0) {
    throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: `the NATS server is ${info.version}; the engine needs ${MIN_NATS_SERVER_VERSION} or later` })
  }
}

/** Compares dotted version numbers (`2.9.10` > `2.9.9`); a pre-release suffix is ignored. */
export function compareVersions(a: string, b: string): number {
  const parts = (v: string): number[] => v.replace(/^v/, '').split('-')[0]!.split('.').map((x) => Number(x) || 0)
  const pa = parts(a)
  const pb = parts(b)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d !== 0) return d
  }
  return 0
}

/** Closes a connection the engine opened; leaves the caller's alone. */
export async function closeConnection(open: OpenConnection | undefined): Promise<void> {
  if (open === undefined || !open.owned || open.nc.isClosed()) return
  await Promise.race([open.nc.drain().catch(() => open.nc.close()), new Promise((resolve) => setTimeout(resolve, 1_000).unref())])
  if (!open.nc.isClosed()) await open.nc.close()
}

const KEEP = /[A-Za-z0-9-]/

/**
 * A string as one subject token (or KV key token) of `[A-Za-z0-9_-]`: letters, digits and `-` stay,
 * every other UTF-8 byte becomes `_XX` (hex). Reversible ({@link decodeToken}) and injective, so
 * `user:42` → `user_3A42` never meets a name that contains `_3A`. The empty string is `_`.
 */
export function encodeToken(value: string): string {
  if (value === '') return '_'
  let out = ''
  for (const ch of value) {
    if (KEEP.test(ch)) out += ch
    else for (const byte of Buffer.from(ch, 'utf8')) out += `_${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

/** The inverse of {@link encodeToken}; throws on a token it could not have produced. */
export function decodeToken(token: string): string {
  if (token === '_') return ''
  if (!/^(?:[A-Za-z0-9-]|_[0-9A-F]{2})+$/.test(token)) throw new TidingsError('TIDINGS_ERR_INTERNAL', { detail: `not an encoded token: ${token.slice(0, 60)}` })
  const bytes: number[] = []
  for (let i = 0; i < token.length; i++) {
    if (token[i] === '_') {
      bytes.push(parseInt(token.slice(i + 1, i + 3), 16))
      i += 2
    } else {
      bytes.push(token.charCodeAt(i))
    }
  }
  return Buffer.from(bytes).toString('utf8')
}

/**
 * A stream's `created` time (RFC 3339 with up to nanoseconds) as an epoch of `[a-z0-9]`: the
 * nanoseconds since 1970 in base 36. A stream deleted and created again gets another one.
 */
export function epochFromCreated(created: string): string {
  const m = /^(.*?)(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(created)
  const seconds = m === null ? NaN : Date.parse(`${m[1]}${m[3]}`)
  if (m === null || !Number.isFinite(seconds)) throw new TidingsError('TIDINGS_ERR_INTERNAL', { detail: `the stream's created time ${JSON.stringify(created)} is not RFC 3339` })
  const nanos = BigInt(seconds) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'))
  return nanos.toString(36)
}

/** What a JetStream ack subject (`$JS.ACK.…`) of a delivery says. */
export interface AckInfo {
  readonly stream: string
  readonly consumer: string
  /** How many times the message has been delivered, this time included. */
  readonly deliveries: number
  readonly streamSeq: number
  /** When the message was stored, in milliseconds since 1970. */
  readonly storedAtMs: number
}

/** Parses the reply subject of a pulled message, in both the v1 (9 tokens) and v2 (12+) forms; null when it is none. */
export function parseAckSubject(reply: string | undefined): AckInfo | null {
  if (reply === undefined) return null
  const t = reply.split('.')
  if (t[0] !== '$JS' || t[1] !== 'ACK') return null
  const at = t.length === 9 ? 2 : t.length >= 12 ? 4 : -1
  if (at < 0) return null
  const n = (i: number): number => Number(t[at + i])
  return { stream: t[at]!, consumer: t[at + 1]!, deliveries: n(2), streamSeq: n(3), storedAtMs: Math.floor(n(5) / 1e6) }
}

/** True when `err` is JetStream's "wrong last sequence" answer: a revision-checked write lost a race. */
export function isWrongLastSequence(err: unknown): boolean {
  const e = err as { code?: unknown; api_error?: { err_code?: unknown }; message?: unknown } | null
  return e !== null && typeof e === 'object' && (e.code === 10071 || e.api_error?.err_code === 10071 || (typeof e.message === 'string' && e.message.startsWith('wrong last sequence')))
}

/** True when `err` says a stream does not exist. */
export function isStreamNotFound(err: unknown): boolean {
  const e = err as { code?: unknown; api_error?: { err_code?: unknown }; message?: unknown } | null
  return e !== null && typeof e === 'object' && (e.code === 10059 || e.api_error?.err_code === 10059 || e.message === 'stream not found')
}

/** True when `err` says a consumer does not exist. */
export function isConsumerNotFound(err: unknown): boolean {
  const e = err as { code?: unknown; api_error?: { err_code?: unknown }; message?: unknown } | null
  return e !== null && typeof e === 'object' && (e.code === 10014 || e.api_error?.err_code === 10014 || e.message === 'consumer not found')
}

/** Milliseconds as the nanoseconds JetStream configuration wants. */
export function nanos(ms: number): number {
  return Math.round(ms * 1_000_000)
}

/** The stream, subject and bucket names one deployment uses, derived from one prefix (the CLI's `TIDINGS_NATS_PREFIX`). */
export interface NatsNames {
  readonly stream: string
  readonly subjectPrefix: string
  readonly bucket: string
  readonly workStream: string
  readonly workSubjectPrefix: string
}

/**
 * Names from a prefix of `[a-z0-9_-]`: `tidings` gives the defaults (`TIDINGS_EVENTS` on
 * `tidings.events.>`, `TIDINGS_JOBS` on `tidings.jobs.lane.>`, bucket `tidings_jobs`).
 */
export function natsNamesFor(prefix: string): NatsNames {
  if (!/^[a-z0-9_-]{1,40}$/.test(prefix)) throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: 'the NATS prefix must be 1–40 characters of [a-z0-9_-]' })
  const upper = prefix.toUpperCase()
  return { stream: `${upper}_EVENTS`, subjectPrefix: `${prefix}.events`, bucket: `${prefix}_jobs`, workStream: `${upper}_JOBS`, workSubjectPrefix: `${prefix}.jobs` }
}
