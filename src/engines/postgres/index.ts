/**
 * The PostgreSQL engine: `import { PostgresEventLog, PostgresJobQueue } from 'tidings/postgres'`.
 * Needs the `pg` package (an optional peer dependency), loaded only when a log or a queue connects.
 */
export {
  PostgresEventLog,
  DEFAULT_POSTGRES_MAX_EVENTS,
  DEFAULT_POSTGRES_MAX_AGE_MS,
  DEFAULT_POLL_INTERVAL_MS,
  DEFAULT_RETENTION_INTERVAL_MS,
  DEFAULT_POOL_SIZE,
  type PostgresEventLogOptions,
} from './event-log.js'
export {
  PostgresJobQueue,
  DEFAULT_POSTGRES_JOB_RETENTION_MS,
  DEFAULT_POSTGRES_JOB_PRUNE_INTERVAL_MS,
  DEFAULT_POSTGRES_JOB_BATCH,
  type PostgresJobQueueOptions,
} from './job-queue.js'
export { JOB_QUEUE_MIGRATIONS } from './job-migrations.js'
export {
  migrate,
  advisoryLockKey,
  assertSchemaName,
  quoteSchema,
  DEFAULT_SCHEMA,
  SCHEMA_NAME_RE,
  EVENT_LOG_MIGRATIONS,
  type Migration,
  type MigrationContext,
  type MigrationReport,
} from './migrations.js'
export { NotificationListener, DEFAULT_LISTENER_MIN_BACKOFF_MS, DEFAULT_LISTENER_MAX_BACKOFF_MS, type ListenerState, type NotificationListenerOptions } from './listener.js'
export { PostgresWebhookStore, WEBHOOK_STORE_MIGRATIONS, DEFAULT_POSTGRES_WEBHOOK_RETENTION_MS, DEFAULT_POSTGRES_WEBHOOK_PRUNE_INTERVAL_MS, type PostgresWebhookStoreOptions } from './webhook-store.js'
