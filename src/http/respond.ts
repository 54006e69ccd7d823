/**
 * Small HTTP helpers shared by every route: JSON answers, coded error answers, bounded body reads.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { TidingsError, isTidingsError } from '../core/errors.js'
import type { Logger } from '../core/logger.js'

/** Default largest request body, in bytes. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024

/** Writes a JSON answer. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers })
  res.end(text)
}

/** Writes an error answer: a TidingsError keeps its code and status; anything else is logged and answered 500. */
export function sendError(res: ServerResponse, err: unknown, logger: Logger): void {
  const e = isTidingsError(err) ? err : new TidingsError('TIDINGS_ERR_INTERNAL', { cause: err })
  if (e.status >= 500) logger.error({ err }, 'request failed')
  if (res.headersSent) {
    res.destroy()
    return
  }
  sendJson(res, e.status, e.toJSON())
}

/** Reads a JSON body of at most `maxBytes`; 415 unless the content type is JSON, 413 past the limit, 400 on bad JSON. */
export async function readJson(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
  if (type !== 'application/json' && !type.endsWith('+json')) {
    req.resume()
    throw new TidingsError('TIDINGS_ERR_UNSUPPORTED_MEDIA_TYPE', { detail: `got content-type ${JSON.stringify(type || '(none)')}` })
  }
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > maxBytes) {
    req.resume()
    throw new TidingsError('TIDINGS_ERR_BODY_TOO_LARGE', { detail: `${declared} bytes, the limit is ${maxBytes}` })
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > maxBytes) {
      req.resume()
      throw new TidingsError('TIDINGS_ERR_BODY_TOO_LARGE', { detail: `more than ${maxBytes} bytes` })
    }
    chunks.push(chunk)
  }
  const text = Buffer.concat(chunks).toString('utf8')
  try {
    return JSON.parse(text) as unknown
  } catch (err) {
    throw new TidingsError('TIDINGS_ERR_INVALID_JSON', { detail: (err as Error).message, cause: err })
  }
}
