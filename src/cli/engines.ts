/**
 * The engines a CLI process runs on, chosen from the environment (DESIGN §2): `TIDINGS_BACKEND`,
 * else detected from `NATS_URL`, `REDIS_URL`, `DATABASE_URL`, `AMQP_URL`, else memory.
 * `TIDINGS_EVENTS_BACKEND` and `TIDINGS_JOBS_BACKEND` choose each port's engine separately.
 * Engine modules are imported only when chosen, so their clients stay optional.
 */
import type { EventLog } from '../core/event-log.js'
import { TidingsError } from '../core/errors.js'
import type { JobQueue } from '../core/job-queue.js'
import type { Logger } from '../core/logger.js'
import { BACKENDS, detectBackend, type Backend } from './config.js'

/** Engines opened for one process; close them after the Tidings instance. */
export interface Engines {
  readonly events: EventLog
  readonly jobs: JobQueue
  /** `memory`, or `events=redis jobs=redis` and the like, for logs. */
  readonly summary: string
  /** True when jobs live outside this process (a separate `tidings worker` can see them). */
  readonly shared: boolean
  /** Starts what runs beside the engines (the seed 000 bridge); call after the hub is up. */
  start(): Promise<void>
  close(): Promise<void>
}

function backendOf(env: NodeJS.ProcessEnv, name: 'TIDINGS_EVENTS_BACKEND' | 'TIDINGS_JOBS_BACKEND', fallback: Backend): Backend {
  const v = env[name]
  if (v === undefined || v === '') return fallback
  if (!(BACKENDS as readonly string[]).includes(v)) {
    throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: `${name}=${v}; use one of ${BACKENDS.join(', ')}` })
  }
  return v as Backend
}

function unavailable(backend: Backend, port: string): TidingsError {
  return new TidingsError('TIDINGS_ERR_INVALID_CONFIG', {
    detail: `the ${backend} engine has no ${port} in this build yet; choose another with TIDINGS_${port === 'EventLog' ? 'EVENTS' : 'JOBS'}_BACKEND`,
  })
}

/** The record store of the RabbitMQ job queue: `TIDINGS_RABBITMQ_RECORDS`, else PostgreSQL with `DATABASE_URL`, else memory. */
async function openRecordStore(env: NodeJS.ProcessEnv, logger: Logger): Promise<JobQueue> {
  const choice = env.TIDINGS_RABBITMQ_RECORDS || (env.DATABASE_URL ? 'postgres' : 'memory')
  switch (choice) {
    case 'postgres': {
      const { PostgresJobQueue } = await import('../engines/postgres/index.js')
      return new PostgresJobQueue({ connectionString: env.DATABASE_URL || undefined, schema: env.TIDINGS_PG_SCHEMA || undefined, logger })
    }
    case 'redis': {
      const { RedisJobQueue } = await import('../engines/redis/job-queue.js')
      return new RedisJobQueue({ url: env.REDIS_URL || undefined, prefix: env.TIDINGS_REDIS_PREFIX || undefined, logger })
    }
    case 'memory': {
      const { MemoryJobQueue } = await import('../engines/memory/job-queue.js')
      logger.warn({}, 'RabbitMQ jobs keep their records in memory (TIDINGS_RABBITMQ_RECORDS=memory): they are lost on exit and invisible to other processes')
      return new MemoryJobQueue()
    }
    default:
      throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: `TIDINGS_RABBITMQ_RECORDS=${choice}; use postgres, redis or memory` })
  }
}

/** Opens the engines the environment names. */
export async function openEngines(env: NodeJS.ProcessEnv, logger: Logger): Promise<Engines> {
  const fallback = detectBackend(env)
  const eventsBackend = backendOf(env, 'TIDINGS_EVENTS_BACKEND', fallback)
  const jobsBackend = backendOf(env, 'TIDINGS_JOBS_BACKEND', fallback)
  const closers: (() => Promise<void>)[] = []
  const starters: (() => Promise<void>)[] = []

  let events: EventLog
  switch (eventsBackend) {
    case 'memory': {
      const { MemoryEventLog } = await import('../engines/memory/event-log.js')
      events = new MemoryEventLog()
      break
    }
    case 'redis': {
      const { RedisEventLog, PubSubIngester } = await import('../engines/redis/index.js')
      const log = new RedisEventLog({ url: env.REDIS_URL || undefined, prefix: env.TIDINGS_REDIS_PREFIX || undefined, logger })
      events = log
      if (env.TIDINGS_REDIS_INGEST === '1') {
        const ingester = new PubSubIngester(log, { logger })
        starters.push(() => ingester.start())
        closers.push(() => ingester.close())
      }
      break
    }
    case 'postgres': {
      const { PostgresEventLog } = await import('../engines/postgres/index.js')
      events = new PostgresEventLog({ connectionString: env.DATABASE_URL || undefined, schema: env.TIDINGS_PG_SCHEMA || undefined, logger })
      break
    }
    case 'nats': {
      const { NatsEventLog, natsNamesFor } = await import('../engines/nats/index.js')
      const { stream, subjectPrefix } = natsNamesFor(env.TIDINGS_NATS_PREFIX || 'tidings')
      events = new NatsEventLog({ url: env.NATS_URL || undefined, stream, subjectPrefix, logger })
      break
    }
    case 'rabbitmq': {
      const { RabbitEventLog, RabbitBridge } = await import('../engines/rabbitmq/index.js')
      const log = new RabbitEventLog({ url: env.AMQP_URL || undefined, stream: env.TIDINGS_RABBITMQ_STREAM || undefined, logger })
      events = log
      if (env.TIDINGS_RABBITMQ_BRIDGE === '1') {
        const bindings = env.TIDINGS_RABBITMQ_BRIDGE_BINDINGS?.split(',').map((b) => b.trim()).filter(Boolean)
        const bridge = new RabbitBridge(log, {
          url: env.AMQP_URL || undefined,
          exchange: env.TIDINGS_RABBITMQ_BRIDGE_EXCHANGE || undefined,
          queue: env.TIDINGS_RABBITMQ_BRIDGE_QUEUE || undefined,
          bindings: bindings?.length ? bindings : undefined,
          logger,
        })
        starters.push(() => bridge.start())
        closers.push(() => bridge.close())
      }
      break
    }
    default:
      throw unavailable(eventsBackend, 'EventLog')
  }
  closers.push(() => events.close())

  let jobs: JobQueue
  switch (jobsBackend) {
    case 'memory': {
      const { MemoryJobQueue } = await import('../engines/memory/job-queue.js')
      jobs = new MemoryJobQueue()
      break
    }
    case 'redis': {
      const { RedisJobQueue } = await import('../engines/redis/job-queue.js')
      jobs = new RedisJobQueue({ url: env.REDIS_URL || undefined, prefix: env.TIDINGS_REDIS_PREFIX || undefined, logger })
      break
    }
    case 'postgres': {
      const { PostgresJobQueue } = await import('../engines/postgres/index.js')
      jobs = new PostgresJobQueue({ connectionString: env.DATABASE_URL || undefined, schema: env.TIDINGS_PG_SCHEMA || undefined, logger })
      break
    }
    case 'nats': {
      const { NatsJobQueue, natsNamesFor } = await import('../engines/nats/index.js')
      const { bucket, workStream, workSubjectPrefix } = natsNamesFor(env.TIDINGS_NATS_PREFIX || 'tidings')
      jobs = new NatsJobQueue({ url: env.NATS_URL || undefined, bucket, workStream, workSubjectPrefix, logger })
      break
    }
    case 'rabbitmq': {
      const { RabbitJobQueue } = await import('../engines/rabbitmq/job-queue.js')
      jobs = new RabbitJobQueue({ url: env.AMQP_URL || undefined, prefix: env.TIDINGS_RABBITMQ_PREFIX || undefined, records: await openRecordStore(env, logger), logger })
      break
    }
    default:
      throw unavailable(jobsBackend, 'JobQueue')
  }
  closers.push(() => jobs.close())

  return {
    events,
    jobs,
    summary: eventsBackend === jobsBackend ? eventsBackend : `events=${eventsBackend} jobs=${jobsBackend}`,
    // Memory records (directly, or under RabbitMQ) stay in this process.
    shared: jobs.capabilities.durable,
    async start() {
      await events.ready()
      await jobs.ready()
      for (const s of starters) await s()
    },
    async close() {
      for (const c of closers.reverse()) await c().catch((err: unknown) => logger.warn({ err }, 'closing an engine failed'))
    },
  }
}
