/**
 * Which webhook store the server uses: PostgreSQL when events or jobs are on PostgreSQL (the same
 * `DATABASE_URL` and `TIDINGS_PG_SCHEMA`), so endpoints, cursors and the attempt log are as durable
 * as the rest; otherwise none given, and `tidings.webhooks` keeps them in memory.
 */
import type { EventLog } from '../core/event-log.js'
import type { JobQueue } from '../core/job-queue.js'
import type { Logger } from '../core/logger.js'
import type { WebhookStore } from '../webhooks/store.js'

/** Opens the webhook store for the engines in use; null means the default memory store. */
export async function openWebhookStore(engines: { readonly events: EventLog; readonly jobs: JobQueue }, env: NodeJS.ProcessEnv, logger: Logger): Promise<WebhookStore | null> {
  if (engines.events.engine !== 'postgres' && engines.jobs.engine !== 'postgres') return null
  const { PostgresWebhookStore } = await import('../engines/postgres/webhook-store.js')
  const store = new PostgresWebhookStore({ connectionString: env.DATABASE_URL || undefined, schema: env.TIDINGS_PG_SCHEMA || undefined, logger })
  await store.ready()
  return store
}
