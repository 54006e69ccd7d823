/** The Redis engine: the event log on a Stream, the bridge for seed 000's pub/sub publishers, and the job queue. */
export {
  RedisEventLog,
  redisLogKeys,
  compareStreamIds,
  DEFAULT_REDIS_URL,
  DEFAULT_REDIS_PREFIX,
  DEFAULT_REDIS_MAX_EVENTS,
  DEFAULT_REDIS_MAX_AGE_MS,
  DEFAULT_REDIS_TAIL_BATCH,
  DEFAULT_REDIS_BLOCK_MS,
  DEFAULT_REDIS_TRIM_BATCH,
  DEFAULT_REDIS_TRIM_INTERVAL_MS,
  DEFAULT_REDIS_TAIL_RETRY_MS,
  type RedisEventLogOptions,
  type RedisLogKeys,
} from './event-log.js'
export {
  PubSubIngester,
  channelFromPubSub,
  eventFromPubSub,
  DEFAULT_INGEST_CHANNEL_PREFIX,
  DEFAULT_INGEST_DEDUP_TTL_SECONDS,
  type PubSubIngesterOptions,
  type PubSubIngesterEvents,
  type IngestedMessage,
  type RejectedMessage,
  type IngestCounts,
} from './ingest.js'
export { EVENT_FIELD } from './scripts.js'
export {
  RedisJobQueue,
  redisJobKeys,
  redisLane,
  DEFAULT_REDIS_JOB_RETENTION_MS,
  DEFAULT_REDIS_LIST_SCAN,
  DEFAULT_REDIS_JOB_BATCH,
  type RedisJobQueueOptions,
  type RedisJobKeys,
} from './job-queue.js'
export {
  RedisWebhookStore,
  redisWebhookKeys,
  DEFAULT_REDIS_DELIVERIES_PER_ENDPOINT,
  DEFAULT_REDIS_ATTEMPTS_PER_DELIVERY,
  type RedisWebhookStoreOptions,
  type RedisWebhookKeys,
} from './webhook-store.js'
