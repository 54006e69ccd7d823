/**
 * What the client asks of a transport: open one connection for a channel set from a cursor, report
 * what arrives, and say how it ended. A transport never reconnects by itself; the client does.
 */
import type { TidingsEvent } from './types.js'

/** The transports the client speaks. */
export type TransportName = 'sse' | 'websocket'

/** One connection attempt. */
export interface TransportRequest {
  /** The server's base URL, absolute (`http://host:port`). */
  readonly baseUrl: string
  readonly channels: readonly string[]
  /** Resume after this cursor; null = live from now. */
  readonly cursor: string | null
  readonly token: string | null
}

/** How a connection ended. */
export interface TransportClose {
  /** The HTTP status of the refusal (401, 403, …), or 0 when the connection dropped or never answered. */
  readonly status: number
  /** The server's error code when it gave one (`TIDINGS_ERR_INVALID_TOKEN`). */
  readonly code: string | null
  readonly reason: string
  /** True when the transport gave up because nothing arrived in time. */
  readonly silent?: boolean
}

/** Callbacks of one connection. */
export interface TransportListener {
  /** The server accepted the connection; events follow. */
  onOpen(): void
  /** An event and its cursor (null for a reset sent while the log is empty). */
  onEvent(event: TidingsEvent, cursor: string | null): void
  /** The server moved the cursor past events this connection was not sent. */
  onCursor(cursor: string): void
  /** The server answered a request on the connection with an error (WebSocket). */
  onRequestError(id: string | number | null, code: string, message: string): void
  /** The connection is over; called once. */
  onClose(close: TransportClose): void
}

/** An open connection. */
export interface Transport {
  readonly name: TransportName
  /**
   * Changes the channel set in place; added channels start after `cursor` (the client's), so events
   * published since its last one are not missed. Returns false when the transport cannot (SSE), so
   * the client reconnects instead.
   */
  update(added: readonly string[], removed: readonly string[], cursor: string | null): boolean
  close(): void
}

/** Opens a connection. */
export type TransportFactory = (request: TransportRequest, listener: TransportListener) => Transport

/** Parses a JSON text; null when it is not JSON. */
export function parseJson(text: unknown): unknown {
  if (typeof text !== 'string') return null
  try {
    return JSON.parse(text) as unknown
  } catch {
    return null
  }
}

/** True for a value shaped like an event envelope. */
export function isEvent(value: unknown): value is TidingsEvent {
  if (typeof value !== 'object' || value === null) return false
  const v = value as Record<string, unknown>
  return typeof v.id === 'string' && typeof v.type === 'string' && Array.isArray(v.channels)
}
