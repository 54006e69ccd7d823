/**
 * One code table per kind of state change (as in centrifuge-js): why the client is connecting, why
 * it is disconnected for good, and what an error was about.
 */

/** Why the client entered or stayed in `connecting`. */
export const connectingCodes = {
  /** `connect()` was called. */
  connectCalled: 0,
  /** The connection dropped or could not be made; it is retried with backoff. */
  transportClosed: 1,
  /** No message (not even a heartbeat) arrived in time; the connection is replaced. */
  noHeartbeat: 2,
  /** The server refused the token (401); `getToken` is asked for a new one. */
  unauthorized: 3,
  /** The channel set changed and the transport cannot change it in place (SSE). */
  channelsChanged: 4,
  /** `getToken` threw; it is asked again after backoff. */
  tokenError: 5,
  /** The server is shutting down or full and asked the client to come back later. */
  serverBusy: 6,
} as const

/** A {@link connectingCodes} value. */
export type ConnectingCode = (typeof connectingCodes)[keyof typeof connectingCodes]

/** Why the client is disconnected (and stays so until `connect()`). */
export const disconnectedCodes = {
  /** `disconnect()` was called. */
  disconnectCalled: 0,
  /** The server refused the token and there is no `getToken`, or it gave none. */
  unauthorized: 1,
  /** The token may not follow a channel (403). */
  forbidden: 2,
  /** The server refused the request as malformed (bad channel name, too many channels, wrong URL). */
  badRequest: 3,
} as const

/** A {@link disconnectedCodes} value. */
export type DisconnectedCode = (typeof disconnectedCodes)[keyof typeof disconnectedCodes]

/** What an `error` event is about. */
export const errorCodes = {
  /** A connection attempt or a live connection failed. */
  transport: 0,
  /** `getToken` threw. */
  token: 1,
  /** The server answered a request on the socket with an error (WebSocket). */
  request: 2,
  /** A message could not be read. */
  protocol: 3,
} as const

/** An {@link errorCodes} value. */
export type ErrorCode = (typeof errorCodes)[keyof typeof errorCodes]
