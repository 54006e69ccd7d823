/** The jobs runtime: definitions, enqueue/cancel/retry, the worker, the scheduler, lifecycle events. */
export {
  defineJob,
  isJobDefinition,
  JOB_DEFINITION,
  DEFAULT_JOB_RETRIES,
  DEFAULT_JOB_TIMEOUT_MS,
  DEFAULT_QUEUE,
  DEFAULT_PRIORITY,
  MIN_PRIORITY,
  MAX_PRIORITY,
  MAX_JOB_RETRIES,
  type JobSpec,
  type JobDefinition,
  type AnyJobDefinition,
  type JobInput,
  type JobPayloads,
  type PayloadOf,
  type JobContext,
  type JobInfo,
  type JobLogLevel,
  type JobEventInput,
} from './define.js'
export {
  retryDelay,
  DEFAULT_BACKOFF,
  DEFAULT_BACKOFF_BASE_MS,
  DEFAULT_BACKOFF_MAX_MS,
  type Backoff,
  type ExponentialBackoff,
  type FixedBackoff,
  type CustomBackoff,
} from './backoff.js'
export { JobRegistry } from './registry.js'
export { Jobs, DEFAULT_JOB_PAGE, MAX_JOB_PAGE, MAX_JOB_KEY_CHARS, MAX_DELAY_MS, type EnqueueOptions, type Enqueued, type JobsDeps } from './jobs.js'
export { JobEvents, JOB_EVENT_TYPES, jobChannels, jobRef, makeProgress, toJobError, type JobEventType, type JobEventData } from './lifecycle.js'
export { ControlFeed, CONTROL_CHANNEL, CANCEL_REQUESTED, SCHEDULE_CHANGED, type ControlListener } from './control.js'
export {
  Worker,
  DEFAULT_JOB_HEARTBEAT_MS,
  DEFAULT_LEASE_HEARTBEATS,
  DEFAULT_WORKER_CONCURRENCY,
  DEFAULT_WORKER_POLL_MS,
  DEFAULT_SHUTDOWN_GRACE_MS,
  MAX_WORKER_CONCURRENCY,
  type WorkerOptions,
  type WorkerState,
  type WorkerDeps,
} from './worker.js'
export {
  Scheduler,
  nextTick,
  DEFAULT_SCHEDULE_SYNC_MS,
  SCHEDULE_LATE_MS,
  SCHEDULE_NAME_RE,
  type ScheduleDefinition,
  type SchedulePatch,
  type SchedulerOptions,
  type SchedulerStats,
  type SchedulerDeps,
} from './scheduler.js'
