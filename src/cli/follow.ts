/**
 * Following channels from the CLI over SSE with the `eventsource` package: reconnects resume from
 * the last cursor, and every event type is seen (the `tail` command does not know types in advance).
 */
import { EventSource } from 'eventsource'
import type { Remote } from './remote.js'

/** One event as the CLI receives it. */
export interface FollowedEvent {
  readonly type: string
  readonly cursor: string
  /** The envelope; null when the data was not JSON. */
  readonly envelope: Record<string, unknown> | null
}

/** What {@link follow} reports. */
export interface FollowHandlers {
  onEvent(event: FollowedEvent): void
  onOpen?(): void
  /** The stream ended for good (401/403, or the server refused): EventSource will not reconnect. */
  onFatal?(message: string): void
}

/**
 * An EventSource that hands every dispatched message to one callback, whatever its type. The
 * standard API only calls listeners registered for a named type; `eventsource` dispatches each
 * event through `dispatchEvent`, which is the one place all types pass.
 */
class AnyTypeEventSource extends EventSource {
  onAnyMessage: ((e: MessageEvent<string>) => void) | null = null

  override dispatchEvent(event: Event): boolean {
    if (event instanceof MessageEvent && this.onAnyMessage !== null) this.onAnyMessage(event as MessageEvent<string>)
    return super.dispatchEvent(event)
  }
}

/** Follows `channels` on the server; resolves to a function that stops following. */
export function follow(remote: Remote, channels: readonly string[], handlers: FollowHandlers, lastEventId: string | null = null): () => void {
  const q = new URLSearchParams()
  for (const c of channels) q.append('channel', c)
  let first = true
  const es = new AnyTypeEventSource(`${remote.url}/v1/events?${q}`, {
    fetch: (input, init) => {
      const headers: Record<string, string> = { ...(init.headers as Record<string, string>), ...remote.headers() }
      if (first && lastEventId !== null) headers['last-event-id'] = lastEventId
      first = false
      return fetch(input, { ...init, headers })
    },
  })
  es.onAnyMessage = (m) => {
    let envelope: Record<string, unknown> | null
    try {
      envelope = JSON.parse(m.data) as Record<string, unknown>
    } catch {
      envelope = null
    }
    handlers.onEvent({ type: m.type, cursor: m.lastEventId, envelope })
  }
  es.addEventListener('open', () => handlers.onOpen?.())
  es.addEventListener('error', (e) => {
    if (es.readyState !== EventSource.CLOSED) return
    const err = e as unknown as { code?: number; message?: string }
    handlers.onFatal?.(`the event stream closed${err.code ? ` (HTTP ${err.code})` : ''}${err.message ? `: ${err.message}` : ''}`)
  })
  return () => es.close()
}
