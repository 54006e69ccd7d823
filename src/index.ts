/**
 * Tidings: background jobs that tell people, live, what is happening.
 *
 * @packageDocumentation
 */
export { createTidings, type Tidings, type TidingsOptions, type ScheduleOptions } from './tidings.js'
export { TidingsError, ERROR_CODES, isTidingsError, type ErrorCode } from './core/errors.js'
export {
  normalizeEvent,
  serializeEvent,
  newEventId,
  SCHEMA_VERSION,
  DEFAULT_MAX_EVENT_BYTES,
  type TidingsEvent,
  type EventInput,
  type PublishInput,
  type SnakeCaseInput,
  type EventJobRef,
} from './core/envelope.js'
export { formatCursor, parseCursor, type EventLog, type LogEntry, type ReadResult, type ReadOptions, type ChannelFilter, type Cursor, type EventLogCapabilities, type RetentionOptions } from './core/event-log.js'
export { OPEN_PRINCIPAL, principalFromClaims, canSubscribe, canEnqueue, authorizeChannels, tenantAllows, TokenVerifier, type Principal, type JwtOptions, type ChannelAuthorizer } from './core/auth.js'
export { channelMatches, patternCovers, isPattern } from './core/channels.js'
export { Hub, type HubOptions, type HubSubscriber, type HubEntry } from './core/hub.js'
export type { PublishMode, PublishOptions, Published } from './core/publisher.js'
export { Subscription, type Delivery, type SubscribeOptions } from './core/subscription.js'
export { TidingsMetrics } from './core/metrics.js'
export { createLogger, type Logger } from './core/logger.js'
export { MemoryEventLog, type MemoryEventLogOptions } from './engines/memory/event-log.js'
export { MemoryJobQueue, type MemoryJobQueueOptions } from './engines/memory/job-queue.js'
export {
  FINISHED_STATUSES,
  type JobQueue,
  type JobQueueCapabilities,
  type JobRecord,
  type JobRecordFields,
  type JobStatus,
  type JobOwner,
  type JobProgress,
  type JobError,
  type NewJob,
  type EnqueueResult,
  type LeaseRequest,
  type WaitRequest,
  type LeaseRef,
  type JobLease,
  type LeaseResult,
  type HeartbeatResult,
  type CancelResult,
  type JobFilter,
  type PageRequest,
  type JobPage,
  type ScheduleRecord,
  type ScheduleInput,
} from './core/job-queue.js'
export * from './core/jobs/index.js'
export * from './webhooks/index.js'
export type { AuthOptions } from './http/auth.js'
export type { HttpOptions, CorsOptions } from './http/handler.js'
