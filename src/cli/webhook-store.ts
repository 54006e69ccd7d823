/**
 * Which webhook store the server uses: the most durable shared engine in use, so endpoints,
 * cursors and the attempt log live where events and jobs do — PostgreSQL when events or jobs (or
 * RabbitMQ's job records) are on it, else Redis, else NATS KV; with memory alone, none is given and
 * `tidings.webhooks` keeps them in memory.
 */
import type { EventLog } from '../core/event-log.js'
import type { JobQueue } from '../core/job-queue.js'
import type { Logger } from '../core/logger.js'
import type { WebhookStore } from '../webhooks/store.js'

/** Opens the webhook store for the engines in use; null means the default memory store. */
export async function openWebhookStore(engines: { readonly events: EventLog; readonly jobs: JobQueue }, env: NodeJS.ProcessEnv, logger: Logger): Promise<WebhookStore | null> {
  const used = new Set([engines.events.engine, engines.jobs.engine])
  const rabbitRecordsOnPostgres = used.has('rabbitmq') && (env.TIDINGS_RABBITMQ_RECORDS === 'postgres' || (!env.TIDINGS_RABBITMQ_RECORDS && !!env.DATABASE_URL))
  let store: WebhookStore
  if (used.has('postgres') || rabbitRecordsOnPostgres) {
    const { PostgresWebhookStore } = await import('../engines/postgres/webhook-store.js')
    store = new PostgresWebhookStore({ connectionString: env.DATABASE_URL || undefined, schema: env.TIDINGS_PG_SCHEMA || undefined, logger })
  } else if (used.has('redis')) {
    const { RedisWebhookStore } = await import('../engines/redis/webhook-store.js')
    store = new RedisWebhookStore({ url: env.REDIS_URL || undefined, prefix: env.TIDINGS_REDIS_PREFIX || undefined, logger })
  } else if (used.has('nats')) {
    const { NatsWebhookStore } = await import('../engines/nats/webhook-store.js')
    store = new NatsWebhookStore({ url: env.NATS_URL || undefined, prefix: env.TIDINGS_NATS_PREFIX || undefined, logger })
  } else {
    return null
  }
  await store.ready()
  return store
}
