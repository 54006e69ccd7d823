/**
 * What the commands that talk to a running server share: `--url`/`TIDINGS_URL`, `--token`/
 * `TIDINGS_TOKEN`, JSON requests, and the server's coded errors turned into CLI errors.
 */
import type { ParseArgsConfig } from 'node:util'

/** Where a server is when neither `--url` nor `TIDINGS_URL` says. */
export const DEFAULT_SERVER_URL = 'http://127.0.0.1:8080'

/** Exit code: success. */
export const EXIT_OK = 0
/** Exit code: the job failed, or the server or network failed. */
export const EXIT_FAILED = 1
/** Exit code: bad input (usage, JSON, or a 4xx answer such as an unknown job or a payload that fails its schema). */
export const EXIT_USAGE = 2
/** Exit code: the job was cancelled. */
export const EXIT_CANCELLED = 3

/** The options every remote command takes. */
export const REMOTE_OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean', default: false },
} as const satisfies ParseArgsConfig['options']

/** What a command writes to and reads from. */
export interface CliIo {
  readonly env: NodeJS.ProcessEnv
  readonly out: (text: string) => void
  readonly err: (text: string) => void
  /** stdout is a terminal: redraw progress in place. */
  readonly tty: boolean
}

/** The process's own streams. */
export function processIo(): CliIo {
  return {
    env: process.env,
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    tty: process.stdout.isTTY === true,
  }
}

/** An error the CLI reports as `tidings: <code>: <message>` and exits with `exitCode`. */
export class CliError extends Error {
  override readonly name = 'CliError'
  readonly code: string
  readonly exitCode: number

  constructor(code: string, message: string, exitCode: number) {
    super(message)
    this.code = code
    this.exitCode = exitCode
  }
}

/** A server to talk to. */
export class Remote {
  readonly url: string
  readonly token: string | null

  constructor(values: { url?: string; token?: string }, env: NodeJS.ProcessEnv) {
    const url = values.url ?? env.TIDINGS_URL ?? DEFAULT_SERVER_URL
    try {
      this.url = new URL(url).toString().replace(/\/$/, '')
    } catch {
      throw new CliError('TIDINGS_ERR_INVALID_CONFIG', `--url ${JSON.stringify(url)} is not a URL`, EXIT_USAGE)
    }
    this.token = values.token ?? (env.TIDINGS_TOKEN || null)
  }

  /** Authorization header, when there is a token. */
  headers(): Record<string, string> {
    return this.token === null ? {} : { authorization: `Bearer ${this.token}` }
  }

  /** Sends a JSON request and returns the parsed answer; a coded error answer throws a {@link CliError}. */
  async request<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    let res: Response
    try {
      res = await fetch(this.url + path, {
        method,
        headers: { ...this.headers(), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      })
    } catch (err) {
      const cause = (err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message
      throw new CliError('TIDINGS_ERR_SERVER_UNREACHABLE', `cannot reach ${this.url} (${cause}). Start a server (tidings dev), or point --url / TIDINGS_URL at it`, EXIT_FAILED)
    }
    const text = await res.text()
    let parsed: unknown = null
    if (text !== '') {
      try {
        parsed = JSON.parse(text)
      } catch {
        throw new CliError('TIDINGS_ERR_INTERNAL', `${method} ${path} answered ${res.status} with a body that is not JSON`, EXIT_FAILED)
      }
    }
    if (!res.ok) {
      const e = (parsed as { error?: { code?: string; message?: string } } | null)?.error
      throw new CliError(e?.code ?? 'TIDINGS_ERR_INTERNAL', e?.message ?? `${method} ${path} answered ${res.status}`, res.status >= 400 && res.status < 500 ? EXIT_USAGE : EXIT_FAILED)
    }
    return { status: res.status, body: parsed as T }
  }
}

/** Parses a `--payload`/`--data` JSON argument; a clear usage error when it is not JSON. */
export function parseJsonArg(flag: string, text: string | undefined, fallback: unknown): unknown {
  if (text === undefined) return fallback
  try {
    return JSON.parse(text) as unknown
  } catch (err) {
    throw new CliError('TIDINGS_ERR_INVALID_JSON', `${flag} is not JSON: ${(err as Error).message}`, EXIT_USAGE)
  }
}

/** Parses an integer flag. */
export function parseIntArg(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  const n = Number(text)
  if (!Number.isInteger(n)) throw new CliError('TIDINGS_ERR_INVALID_QUERY', `${flag} must be an integer`, EXIT_USAGE)
  return n
}
