/**
 * The one registry of Tidings errors. Every error a user can see has a stable code, an HTTP status
 * and a message that says what to do next. `docs/errors.md` lists every code; a test keeps the two
 * in step.
 */

/** Definition of one error code. */
export interface ErrorDefinition {
  /** HTTP status the error maps to when it reaches an HTTP client. */
  readonly status: number
  /** Default message; specific throw sites may add detail. */
  readonly message: string
}

export const ERROR_CODES = {
  TIDINGS_ERR_INVALID_JSON: { status: 400, message: 'The request body is not valid JSON. Send a JSON object or array with Content-Type: application/json.' },
  TIDINGS_ERR_INVALID_EVENT: { status: 400, message: 'The event does not match the envelope schema. See docs/http-api.md#event-envelope.' },
  TIDINGS_ERR_INVALID_CHANNEL: { status: 400, message: 'Invalid channel name. Channels are 1–200 characters of [A-Za-z0-9._:@/+=-] (patterns may also use *).' },
  TIDINGS_ERR_EVENT_TOO_LARGE: { status: 413, message: 'The event is larger than the configured limit (maxEventBytes, default 64 KiB). Store large payloads elsewhere and publish a reference.' },
  TIDINGS_ERR_BODY_TOO_LARGE: { status: 413, message: 'The request body is larger than the configured limit (maxBodyBytes, default 1 MiB). Split the batch.' },
  TIDINGS_ERR_BATCH_TOO_LARGE: { status: 413, message: 'Too many events in one batch (maxBatch, default 1000). Split the batch.' },
  TIDINGS_ERR_INVALID_CURSOR: { status: 400, message: 'Invalid cursor. A cursor is at most 128 characters of [A-Za-z0-9._:-], as sent in the SSE id: field.' },
  TIDINGS_ERR_INVALID_QUERY: { status: 400, message: 'Invalid query parameter. See docs/http-api.md for the accepted parameters.' },
  TIDINGS_ERR_NO_CHANNELS: { status: 400, message: 'No channel given. Add one or more ?channel=… parameters.' },
  TIDINGS_ERR_TOO_MANY_CHANNELS: { status: 400, message: 'Too many channels in one subscription (maxChannelsPerConnection, default 100).' },
  TIDINGS_ERR_UNAUTHENTICATED: { status: 401, message: 'Authentication required. Send a JWT as Authorization: Bearer <token>, ?token=<token> or the tidings_token cookie.' },
  TIDINGS_ERR_INVALID_TOKEN: { status: 401, message: 'The token was rejected. Check its signature, algorithm, issuer, audience and expiry, then get a new one.' },
  TIDINGS_ERR_FORBIDDEN_CHANNEL: { status: 403, message: 'The token does not allow subscribing to this channel. Ask for a token whose tidings.subscribe claim covers it.' },
  TIDINGS_ERR_FORBIDDEN_PUBLISH: { status: 403, message: 'The token does not allow publishing to this channel. Ask for a token whose tidings.publish claim covers it.' },
  TIDINGS_ERR_FORBIDDEN: { status: 403, message: 'The token does not allow this operation.' },
  TIDINGS_ERR_NOT_FOUND: { status: 404, message: 'Not found. See docs/http-api.md for the routes this server answers.' },
  TIDINGS_ERR_METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed on this route. See docs/http-api.md.' },
  TIDINGS_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Send the body as application/json.' },
  TIDINGS_ERR_TOO_MANY_CONNECTIONS: { status: 429, message: 'Too many open connections for this principal (maxConnectionsPerPrincipal). Close one, or share one connection across channels.' },
  TIDINGS_ERR_SLOW_CONSUMER: { status: 503, message: 'The subscriber fell behind its buffer bound and was cut. Subscribe again from the last cursor you processed; nothing is lost.' },
  TIDINGS_ERR_PUBLISH_FAILED: { status: 503, message: 'The event log did not accept the event. Nothing was published; retry later.' },
  TIDINGS_ERR_LOG_TRUNCATED: { status: 410, message: 'The requested position is older than the log retains. Refetch the state and follow from now.' },
  TIDINGS_ERR_EPOCH_CHANGED: { status: 410, message: 'The log was recreated since this cursor was issued. Refetch the state and follow from now.' },
  TIDINGS_ERR_CLOSED: { status: 503, message: 'This Tidings instance is closed.' },
  TIDINGS_ERR_INVALID_CONFIG: { status: 500, message: 'Invalid configuration. Fix the option named in the message.' },
  TIDINGS_ERR_INSECURE_REFUSED: { status: 500, message: 'Refusing to serve without authentication. Set TIDINGS_JWT_SECRET (or a public key / JWKS URL), or pass --insecure for a throwaway server.' },
  TIDINGS_ERR_INTERNAL: { status: 500, message: 'Internal error. The server logged the details.' },
  TIDINGS_ERR_UNKNOWN_JOB: { status: 400, message: 'No job of this name is defined in this process. Define it with defineJob (or load it with --jobs <module>) before enqueueing or scheduling it.' },
  TIDINGS_ERR_INVALID_PAYLOAD: { status: 400, message: 'The payload does not match the job\'s schema. See details for the fields to fix.' },
  TIDINGS_ERR_INVALID_JOB_OPTIONS: { status: 400, message: 'Invalid enqueue options: delay is milliseconds ≥ 0, runAt an ISO 8601 time, priority an integer from -1000 to 1000, key 1–256 characters.' },
  TIDINGS_ERR_INVALID_JOB_DEFINITION: { status: 500, message: 'Invalid job definition. Fix the field named in the message (see docs/jobs.md#definejob).' },
  TIDINGS_ERR_JOB_NOT_FOUND: { status: 404, message: 'No job with this id (it may have passed its retention). List jobs with GET /v1/jobs.' },
  TIDINGS_ERR_JOB_NOT_CANCELLABLE: { status: 409, message: 'The job has already finished; there is nothing to cancel. Retry it to run it again.' },
  TIDINGS_ERR_JOB_NOT_RETRYABLE: { status: 409, message: 'Only failed or cancelled jobs can be retried. Wait for the job to finish, or cancel it first.' },
  TIDINGS_ERR_JOB_TIMEOUT: { status: 504, message: 'The attempt ran longer than the job\'s timeout and was aborted. Raise timeout in defineJob, or make the handler honour ctx.signal sooner.' },
  TIDINGS_ERR_JOB_CANCELLED: { status: 409, message: 'The job was cancelled while it ran; its signal was aborted.' },
  TIDINGS_ERR_JOB_LEASE_LOST: { status: 409, message: 'This worker no longer holds the job\'s lease (it expired and another worker took the job, or it ended elsewhere). Its outcome was not recorded; keep heartbeats within leaseMs.' },
  TIDINGS_ERR_JOB_WORKER_LOST: { status: 500, message: 'The worker running the job stopped heartbeating (it died or stalled) and no attempt was left. Retry the job; check the worker\'s logs and memory.' },
  TIDINGS_ERR_WORKER_SHUTDOWN: { status: 503, message: 'The worker is shutting down; the job was given back to the queue to run elsewhere.' },
  TIDINGS_ERR_INVALID_SCHEDULE: { status: 400, message: 'Invalid schedule. cron is a 5-field pattern (or 6 with seconds first), timezone an IANA zone like Europe/Paris, name 1–128 characters of [A-Za-z0-9._:-].' },
  TIDINGS_ERR_SCHEDULE_NOT_FOUND: { status: 404, message: 'No schedule with this name. List schedules with GET /v1/schedules.' },
  TIDINGS_ERR_SCHEDULE_EXISTS: { status: 409, message: 'A schedule with this name exists. Change it with PATCH /v1/schedules/:name, or pick another name.' },
  TIDINGS_ERR_SERVER_UNREACHABLE: { status: 503, message: 'The CLI could not reach the server. Start one (tidings dev), or point --url / TIDINGS_URL at it.' },
  TIDINGS_ERR_UPGRADE_REQUIRED: { status: 426, message: 'GET /v1/ws is a WebSocket endpoint. Connect with a WebSocket client (new WebSocket(\'ws://host/v1/ws?channel=…\')); over plain HTTP follow GET /v1/events.' },
  TIDINGS_ERR_INVALID_MESSAGE: { status: 400, message: 'Invalid WebSocket message. Send JSON text {"op":"subscribe"|"unsubscribe","channels":[…],"id"?,"lastEventId"?}. See the WebSocket section of docs/http-api.md.' },
  TIDINGS_ERR_INVALID_WEBHOOK: { status: 400, message: 'Invalid webhook endpoint: url is an absolute http(s) URL without credentials, eventTypes are event-type patterns like order.*, channels are channel names or patterns, retrySchedule is seconds ≥ 0, rateLimit a positive integer, headers plain names and values. See docs/webhooks.md.' },
  TIDINGS_ERR_INVALID_WEBHOOK_SECRET: { status: 400, message: 'A webhook secret is whsec_ followed by the base64 of 24–64 random bytes. Omit it to have one generated.' },
  TIDINGS_ERR_WEBHOOK_TARGET_FORBIDDEN: { status: 400, message: 'The webhook URL resolves to a loopback, private, link-local, shared (CGNAT) or cloud-metadata address. Use a public address, or allow it with TIDINGS_WEBHOOK_ALLOW_PRIVATE=1 or the webhooks.ssrf.allow list.' },
  TIDINGS_ERR_WEBHOOK_NOT_FOUND: { status: 404, message: 'No webhook endpoint with this id (or not one the caller may manage). List endpoints with GET /v1/webhooks.' },
  TIDINGS_ERR_WEBHOOK_DELIVERY_NOT_FOUND: { status: 404, message: 'No delivery with this id for this endpoint. List deliveries with GET /v1/webhooks/:id/deliveries.' },
  TIDINGS_ERR_WEBHOOK_DELIVERY_IN_FLIGHT: { status: 409, message: 'This delivery is still being attempted. Wait until it succeeds or fails, then resend it.' },
  TIDINGS_ERR_WEBHOOK_DISABLED: { status: 409, message: 'The webhook endpoint is disabled. Enable it (PATCH enabled: true) before resending, recovering or replaying.' },
  TIDINGS_ERR_WEBHOOK_ATTEMPT_FAILED: { status: 502, message: 'A webhook delivery attempt failed: the receiver answered other than 2xx, timed out or could not be reached. It is retried on the endpoint\'s schedule; see GET /v1/webhooks/:id/deliveries.' },
} as const satisfies Record<string, ErrorDefinition>

/** Every error code Tidings can produce. */
export type ErrorCode = keyof typeof ERROR_CODES

/** Options for {@link TidingsError}. */
export interface TidingsErrorOptions {
  /** More specific text appended to the code's default message. */
  detail?: string
  /** The underlying error. */
  cause?: unknown
  /** Structured details for API clients (for example zod issues). */
  details?: unknown
}

/** A coded Tidings error. `code` is stable; `status` is the HTTP status it maps to. */
export class TidingsError extends Error {
  override readonly name = 'TidingsError'
  readonly code: ErrorCode
  readonly status: number
  readonly details: unknown

  constructor(code: ErrorCode, options: TidingsErrorOptions = {}) {
    const def = ERROR_CODES[code]
    super(options.detail ? `${options.detail}. ${def.message}` : def.message, { cause: options.cause })
    this.code = code
    this.status = def.status
    this.details = options.details
  }

  /** The JSON body HTTP answers carry. */
  toJSON(): { error: { code: ErrorCode; message: string; details?: unknown } } {
    return { error: { code: this.code, message: this.message, ...(this.details === undefined ? {} : { details: this.details }) } }
  }
}

/** True when `err` is a {@link TidingsError}, optionally with the given code. */
export function isTidingsError(err: unknown, code?: ErrorCode): err is TidingsError {
  return err instanceof TidingsError && (code === undefined || err.code === code)
}
