/**
 * The NATS JetStream engine: `import { NatsEventLog, NatsJobQueue } from 'tidings/nats'`. Needs
 * `@nats-io/transport-node`, `@nats-io/jetstream` and `@nats-io/kv` (optional peer dependencies),
 * loaded only when a log or queue connects. Written for nats-server 2.9 and later.
 */
export {
  NatsEventLog,
  DEFAULT_NATS_EVENT_STREAM,
  DEFAULT_NATS_EVENT_SUBJECT_PREFIX,
  DEFAULT_NATS_MAX_EVENTS,
  DEFAULT_NATS_MAX_AGE_MS,
  DEFAULT_NATS_DUPLICATE_WINDOW_MS,
  DEFAULT_NATS_TAIL_BATCH,
  DEFAULT_NATS_CHECK_INTERVAL_MS,
  DEFAULT_NATS_READ_CONCURRENCY,
  type NatsEventLogOptions,
} from './event-log.js'
export {
  NatsJobQueue,
  DEFAULT_NATS_JOB_BUCKET,
  DEFAULT_NATS_WORK_STREAM,
  DEFAULT_NATS_WORK_SUBJECT_PREFIX,
  DEFAULT_NATS_JOB_RETENTION_MS,
  DEFAULT_NATS_SCAN_PER_LANE,
  DEFAULT_NATS_ACK_WAIT_MS,
  DEFAULT_NATS_PRUNE_INTERVAL_MS,
  type NatsJobQueueOptions,
} from './job-queue.js'
export {
  encodeToken,
  decodeToken,
  epochFromCreated,
  natsNamesFor,
  DEFAULT_NATS_URL,
  DEFAULT_NATS_RECONNECT_WAIT_MS,
  DEFAULT_NATS_API_TIMEOUT_MS,
  DEFAULT_NATS_REPLICAS,
  MIN_NATS_SERVER_VERSION,
  type NatsConnectionOptions,
  type NatsNames,
} from './connection.js'
export {
  NatsWebhookStore,
  DEFAULT_NATS_WEBHOOK_PREFIX,
  DEFAULT_NATS_WEBHOOK_BUCKET,
  DEFAULT_NATS_ATTEMPTS_PER_DELIVERY,
  DEFAULT_NATS_ATTEMPT_LOG_BYTES,
  type NatsWebhookStoreOptions,
} from './webhook-store.js'
