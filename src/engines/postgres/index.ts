/**
 * The PostgreSQL engine: `import { PostgresEventLog } from 'tidings/postgres'`. Needs the `pg`
 * package (an optional peer dependency), loaded only when a log connects.
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
