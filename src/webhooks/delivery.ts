/**
 * One delivery attempt over HTTP: check the target with the SSRF guard, connect to the checked
 * address, POST the exact signed bytes, and read the answer — status, `Retry-After`, and the body
 * cut to 20 KB — within the timeout. Redirects are never followed (`node:http` does not), so a 3xx
 * is just a failed attempt. Nothing here throws: every way an attempt can go wrong is a result.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { performance } from 'node:perf_hooks'
import { isTidingsError } from '../core/errors.js'
import { parseRetryAfter } from './retry.js'
import { pinnedLookup, type TargetGuard } from './ssrf.js'

/** Default longest attempt: the answer's status and body must arrive within it. */
export const DEFAULT_DELIVERY_TIMEOUT_MS = 15_000
/** The most of a response body the attempt log keeps. */
export const MAX_RESPONSE_BODY_BYTES = 20 * 1024
/** Most sockets per receiver host a process keeps open. */
export const MAX_SOCKETS_PER_HOST = 32

/** What one attempt sends. */
export interface AttemptRequest {
  readonly url: URL
  /** The exact bytes that were signed. */
  readonly body: Buffer
  readonly headers: Readonly<Record<string, string>>
  readonly timeoutMs: number
  readonly guard: TargetGuard
  readonly agents: DeliveryAgents
  /** Aborts the attempt (the worker is stopping, or the job was cancelled). */
  readonly signal?: AbortSignal
}

/** What one attempt got. */
export interface AttemptResult {
  /** HTTP status; 0 when no answer arrived. */
  readonly status: number
  readonly durationMs: number
  /** At most {@link MAX_RESPONSE_BODY_BYTES} of the body, as UTF-8. */
  readonly responseBody: string
  /** Why there was no answer (refused, timed out, DNS, SSRF guard). */
  readonly error: string | null
  /** The answer's `Retry-After`, in milliseconds. */
  readonly retryAfterMs: number | null
}

/** Keep-alive agents used only for webhooks, so every pooled socket was opened to a checked address. */
export class DeliveryAgents {
  readonly http = new HttpAgent({ keepAlive: true, maxSockets: MAX_SOCKETS_PER_HOST })
  readonly https = new HttpsAgent({ keepAlive: true, maxSockets: MAX_SOCKETS_PER_HOST })

  /** Closes every pooled socket. */
  destroy(): void {
    this.http.destroy()
    this.https.destroy()
  }
}

/** Makes one attempt. */
export async function attemptDelivery(req: AttemptRequest): Promise<AttemptResult> {
  const started = performance.now()
  const elapsed = (): number => Math.round(performance.now() - started)
  let target
  try {
    target = await req.guard.check(req.url)
  } catch (err) {
    const message = isTidingsError(err) ? err.message : `could not resolve ${req.url.hostname}: ${(err as Error).message}`
    return { status: 0, durationMs: elapsed(), responseBody: '', error: message, retryAfterMs: null }
  }
  return new Promise<AttemptResult>((resolve) => {
    const controller = new AbortController()
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      controller.abort()
    }, req.timeoutMs)
    const onAbort = (): void => controller.abort()
    req.signal?.addEventListener('abort', onAbort, { once: true })
    let response: IncomingMessage | null = null
    const chunks: Buffer[] = []
    let size = 0
    let settled = false
    const settle = (error: string | null): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      req.signal?.removeEventListener('abort', onAbort)
      const status = response?.statusCode ?? 0
      resolve({
        status,
        durationMs: elapsed(),
        responseBody: Buffer.concat(chunks).subarray(0, MAX_RESPONSE_BODY_BYTES).toString('utf8'),
        error: status === 0 ? error : null,
        retryAfterMs: response === null ? null : parseRetryAfter(header(response, 'retry-after')),
      })
    }
    const https = req.url.protocol === 'https:'
    const request = (https ? httpsRequest : httpRequest)(
      req.url,
      {
        method: 'POST',
        headers: { ...req.headers, 'content-length': String(req.body.length) },
        agent: https ? req.agents.https : req.agents.http,
        lookup: pinnedLookup(target),
        signal: controller.signal,
      },
      (res) => {
        response = res
        res.on('data', (chunk: Buffer) => {
          if (size >= MAX_RESPONSE_BODY_BYTES) return
          chunks.push(chunk)
          size += chunk.length
          // The rest of a long body is not needed; dropping the socket is cheaper than draining it.
          if (size >= MAX_RESPONSE_BODY_BYTES) {
            settle(null)
            res.destroy()
          }
        })
        res.on('end', () => settle(null))
        res.on('close', () => settle(null))
        res.on('error', () => settle(null))
      },
    )
    request.on('error', (err) => {
      const reason = timedOut ? `timed out after ${req.timeoutMs} ms` : req.signal?.aborted ? 'aborted' : err.message
      settle(reason)
    })
    request.end(req.body)
  })
}

function header(res: IncomingMessage, name: string): string | undefined {
  const v = res.headers[name]
  return Array.isArray(v) ? v[0] : v
}
