/**
 * `tidings/client`: follow Tidings channels from a browser or Node over SSE or WebSocket, with
 * resume, token refresh, reset and dedup. No runtime dependencies; no Node built-ins.
 *
 * @packageDocumentation
 */
export {
  TidingsClient,
  subscribe,
  DEFAULT_DEDUP_SIZE,
  type ClientOptions,
  type ClientState,
  type ClientEvents,
  type StateChange,
  type ConnectingContext,
  type ConnectedContext,
  type DisconnectedContext,
  type ClientErrorContext,
  type TokenRequest,
  type SubscribeHandlers,
} from './client.js'
export { connectingCodes, disconnectedCodes, errorCodes, type ConnectingCode, type DisconnectedCode, type ErrorCode } from './codes.js'
export { backoffDelay, DEFAULT_MIN_RECONNECT_DELAY_MS, DEFAULT_MAX_RECONNECT_DELAY_MS } from './backoff.js'
export { sseTransport, sseUrl, type EventSourceConstructor, type EventSourceLike, type SseEventLike, type FetchLike } from './sse.js'
export { webSocketTransport, wsUrl, HEARTBEAT_TIMEOUT_FACTOR, type WebSocketConstructor, type WebSocketLike, type WsEventLike } from './websocket.js'
export type { Transport, TransportClose, TransportFactory, TransportListener, TransportName, TransportRequest } from './transport.js'
export { EventFeed, DEFAULT_FEED_SIZE, type FeedOptions, type FeedSnapshot } from './feed.js'
export { JobFollower, DEFAULT_JOB_EVENTS, FINISHED_JOB_STATUSES, type JobFollowOptions, type JobView, type JobStatus, type JobProgressView, type JobLogLine } from './job.js'
export type { TidingsEvent, EventJobRef, EventMap, EventOf, AnyEventOf, ResetInfo, ResetReason } from './types.js'
