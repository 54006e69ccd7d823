/**
 * One Server-Sent Events connection as a hub subscriber. Frames of one hub batch are joined into a
 * single write — for a connection following one channel, the hub's run is already joined and the
 * same Buffer goes to every such connection; when the socket pushes back, later chunks wait in a
 * queue bounded in bytes and events, and a consumer that overflows it is cut (its cursor is
 * whatever it last received, so it resumes from the log with no gap). On HTTP/1.x, once the head is
 * sent, chunks go to the socket itself: the body is unchunked and the connection is the stream's
 * own, so the response object would only add a cork and a tick per write.
 */
import type { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Principal } from '../core/auth.js'
import { sseMessageFrame, sseRunFrame, sseRunMessage, type HubEntry, type HubRun, type HubSubscriber } from '../core/hub.js'

/** Default heartbeat interval (below every common proxy idle timeout of 60 s). */
export const DEFAULT_HEARTBEAT_MS = 15_000
/** Default reconnection delay hint sent as `retry:`. */
export const DEFAULT_RETRY_MS = 1_000
/** Default bound on bytes queued for one connection while its socket pushes back. */
export const DEFAULT_MAX_BUFFER_BYTES = 1024 * 1024
/** Default bound on events queued for one connection while its socket pushes back. */
export const DEFAULT_MAX_BUFFER_EVENTS = 10_000

/** Bounds of one connection. */
export interface SseLimits {
  readonly maxBufferBytes: number
  readonly maxBufferEvents: number
  readonly retryMs: number
}

/** Delivery counters shared by every connection of a handler; folded into Prometheus on scrape. */
export interface DeliveryStats {
  events: number
  bytes: number
  cuts: number
  /** Largest queue any connection reached, in bytes. */
  peakQueuedBytes: number
}

/**
 * Headers of every SSE answer (DESIGN §4): no compression, no proxy buffering. On HTTP/1.x the body
 * is sent unchunked and ends with the connection (`Connection: close`): the stream is the
 * connection's only use anyway, and it saves chunk framing on every write of the fan-out path.
 */
export function sseHeaders(http2: boolean): Record<string, string> {
  return {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    'x-accel-buffering': 'no',
    ...(http2 ? {} : { connection: 'close' }),
  }
}

/** A hub subscriber writing SSE frames to an HTTP response. */
export class SseConnection implements HubSubscriber {
  readonly principal: Principal
  readonly channels: readonly string[]
  readonly #res: ServerResponse
  readonly #limits: SseLimits
  readonly #stats: DeliveryStats
  readonly #unnamed: boolean
  #pending: Buffer[] = []
  /** Events in `#pending` (a run's chunk holds several). */
  #pendingEvents = 0
  /** Where chunks are written: the socket on HTTP/1.x once open, else the response. */
  #out: Socket | ServerResponse
  #queue: Buffer[] = []
  #queuedBytes = 0
  #queuedEvents = 0
  #blocked = false
  #closed = false
  /** Cursor of the last frame handed to the socket or queue. */
  #lastCursor: string | null = null

  /** `unnamed`: frames without `event:`, dispatched by an EventSource as `message` (`?dispatch=message`). */
  constructor(res: ServerResponse, principal: Principal, channels: readonly string[], limits: SseLimits, stats: DeliveryStats, unnamed = false) {
    this.#res = res
    this.#out = res
    this.#unnamed = unnamed
    this.principal = principal
    this.channels = channels
    this.#limits = limits
    this.#stats = stats
    res.on('close', () => {
      this.#closed = true
    })
  }

  /** Sends the status line, headers and the `retry:` hint. */
  open(): void {
    const http2 = this.#res.req.httpVersionMajor === 2
    if (!http2) this.#res.useChunkedEncodingByDefault = false
    this.#res.writeHead(200, sseHeaders(http2))
    this.#res.write(`retry: ${this.#limits.retryMs}\n: connected\n\n`)
    // Unchunked HTTP/1.x body on a connection of its own: later chunks can go to the socket as
    // they are (they queue behind the head if it is still corked).
    const socket = this.#res.socket
    if (!http2 && !this.#res.chunkedEncoding && socket !== null && socket !== undefined) this.#out = socket
  }

  get closed(): boolean {
    return this.#closed
  }

  deliver(entry: HubEntry): void {
    this.#pending.push(this.#unnamed ? sseMessageFrame(entry) : entry.sseFrame)
    this.#pendingEvents++
    this.#lastCursor = entry.cursor
  }

  deliverRun(run: HubRun): void {
    const entries = run.entries
    if (entries.length === 0) return
    this.#pending.push(this.#unnamed ? sseRunMessage(run) : sseRunFrame(run))
    this.#pendingEvents += entries.length
    this.#lastCursor = entries[entries.length - 1]!.cursor
  }

  deliverReset(entry: HubEntry): void {
    this.deliver(entry)
  }

  flush(): void {
    const frames = this.#pending
    const events = this.#pendingEvents
    this.#pendingEvents = 0
    if (frames.length === 0 || this.#closed) {
      frames.length = 0
      return
    }
    if (frames.length === 1) {
      // The common case: one frame or one shared run; the array is kept for the next batch.
      const chunk = frames[0]!
      frames.length = 0
      this.#write(chunk, events)
      return
    }
    this.#pending = []
    this.#write(Buffer.concat(frames), events)
  }

  /**
   * A comment keeps proxies from closing an idle stream; `id:` alone moves the client's
   * Last-Event-ID up to the hub's position without dispatching an event.
   */
  heartbeat(cursor: string | null): void {
    if (this.#closed || this.#blocked) return
    if (cursor !== null && cursor !== this.#lastCursor) {
      this.#lastCursor = cursor
      this.#write(Buffer.from(`: hb\nid: ${cursor}\n\n`), 0)
    } else {
      this.#write(Buffer.from(': hb\n\n'), 0)
    }
  }

  /** Ends the stream; the client reconnects after `retry:` and resumes from its cursor. */
  close(_reason: string): void {
    if (this.#closed) return
    this.#closed = true
    this.#res.end()
  }

  #write(chunk: Buffer, events: number): void {
    if (this.#blocked) {
      this.#queue.push(chunk)
      this.#queuedBytes += chunk.length
      this.#queuedEvents += events
      if (this.#queuedBytes > this.#stats.peakQueuedBytes) this.#stats.peakQueuedBytes = this.#queuedBytes
      if (this.#queuedBytes > this.#limits.maxBufferBytes || this.#queuedEvents > this.#limits.maxBufferEvents) this.#cut()
      return
    }
    this.#stats.events += events
    this.#stats.bytes += chunk.length
    if (!this.#out.write(chunk)) {
      this.#blocked = true
      this.#out.once('drain', this.#onDrain)
    }
  }

  readonly #onDrain = (): void => {
    this.#blocked = false
    if (this.#closed || this.#queue.length === 0) return
    const chunk = this.#queue.length === 1 ? this.#queue[0]! : Buffer.concat(this.#queue)
    const events = this.#queuedEvents
    this.#queue = []
    this.#queuedBytes = 0
    this.#queuedEvents = 0
    this.#write(chunk, events)
  }

  /** The consumer fell too far behind: drop the socket and its buffers at once. */
  #cut(): void {
    this.#closed = true
    this.#queue = []
    this.#queuedBytes = 0
    this.#queuedEvents = 0
    this.#stats.cuts++
    this.#res.destroy()
  }
}
