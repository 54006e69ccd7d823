/**
 * Bench worker process: one Tidings worker at concurrency BENCH_CONCURRENCY running `bench.noop`,
 * on the engine BENCH_ENGINE names, with lifecycle events on that engine's own event log
 * (BENCH_EVENTS=memory keeps them in this process instead: the queue's own cost).
 *
 *   memory    MemoryEventLog + MemoryJobQueue (the producer must be this process: see `enqueue`)
 *   redis     RedisEventLog + RedisJobQueue on REDIS_URL under BENCH_REDIS_PREFIX
 *   postgres  PostgresEventLog + PostgresJobQueue on DATABASE_URL in schema BENCH_PG_SCHEMA
 *   nats      NatsEventLog + NatsJobQueue on NATS_URL, names from natsNamesFor(BENCH_NATS_PREFIX)
 *   rabbitmq  RabbitEventLog (stream BENCH_RABBITMQ_STREAM) + RabbitJobQueue (prefix
 *             BENCH_RABBITMQ_PREFIX) on AMQP_URL, records in a PostgresJobQueue in BENCH_PG_SCHEMA
 *
 * The IPC protocol of bench/lib/job-bench.ts (ready/start/exit, run notices for jobs with `t`),
 * plus: { cmd: 'completed' } → { completed } (the queue's complete() calls that resolved here);
 * { cmd: 'enqueue', stamp } → {} (enqueues one job here, stamped with this process's clock when
 * `stamp`); { cmd: 'fill', n, concurrency } → { enqueuePerSec }. With BENCH_HANG=1, a job whose
 * payload has `hang: true` never finishes here (a crash victim).
 */
import { performance } from 'node:perf_hooks'
import { z } from 'zod'
import type { EventLog } from '../../src/core/event-log.js'
import type { JobQueue } from '../../src/core/job-queue.js'
import { createTidings } from '../../src/tidings.js'

const engine = process.env.BENCH_ENGINE ?? 'memory'
const eventsOnEngine = (process.env.BENCH_EVENTS ?? 'engine') !== 'memory'
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 1)
const hang = process.env.BENCH_HANG === '1'

/** The engine's event log (undefined: memory) and job queue. */
export async function openEngine(name: string, env: NodeJS.ProcessEnv): Promise<{ log: EventLog | undefined; queue: JobQueue }> {
  switch (name) {
    case 'memory': {
      const { MemoryJobQueue } = await import('../../src/engines/memory/job-queue.js')
      return { log: undefined, queue: new MemoryJobQueue() }
    }
    case 'redis': {
      const { RedisEventLog } = await import('../../src/engines/redis/event-log.js')
      const { RedisJobQueue } = await import('../../src/engines/redis/job-queue.js')
      const url = env.REDIS_URL || undefined
      const prefix = env.BENCH_REDIS_PREFIX
      return { log: new RedisEventLog({ url, prefix }), queue: new RedisJobQueue({ url, prefix }) }
    }
    case 'postgres': {
      const { PostgresEventLog, PostgresJobQueue } = await import('../../src/engines/postgres/index.js')
      const connectionString = env.DATABASE_URL
      const schema = env.BENCH_PG_SCHEMA
      return { log: new PostgresEventLog({ connectionString, schema }), queue: new PostgresJobQueue({ connectionString, schema }) }
    }
    case 'nats': {
      const { NatsEventLog, NatsJobQueue, natsNamesFor } = await import('../../src/engines/nats/index.js')
      const url = env.NATS_URL || undefined
      const { stream, subjectPrefix, bucket, workStream, workSubjectPrefix } = natsNamesFor(env.BENCH_NATS_PREFIX ?? 'tidings-bench')
      return { log: new NatsEventLog({ url, stream, subjectPrefix }), queue: new NatsJobQueue({ url, bucket, workStream, workSubjectPrefix }) }
    }
    case 'rabbitmq': {
      const { RabbitEventLog, RabbitJobQueue } = await import('../../src/engines/rabbitmq/index.js')
      const { PostgresJobQueue } = await import('../../src/engines/postgres/index.js')
      const url = env.AMQP_URL || undefined
      const records = new PostgresJobQueue({ connectionString: env.DATABASE_URL, schema: env.BENCH_PG_SCHEMA })
      return {
        log: new RabbitEventLog({ url, stream: env.BENCH_RABBITMQ_STREAM }),
        queue: new RabbitJobQueue({ url, prefix: env.BENCH_RABBITMQ_PREFIX, records }),
      }
    }
    default:
      throw new Error(`BENCH_ENGINE=${name}: use memory, redis, postgres, nats or rabbitmq`)
  }
}

/** The benchmark's job payload. */
export const BENCH_PAYLOAD = z.object({ t: z.string().optional(), hang: z.boolean().optional() })

// Run as a worker process (not when a suite imports openEngine).
if (process.send !== undefined && process.env.BENCH_ENGINE !== undefined) {
  const opened = await openEngine(engine, process.env)
  const log = eventsOnEngine ? opened.log : undefined
  const queue = opened.queue
  let completed = 0
  const complete = queue.complete.bind(queue)
  queue.complete = async (lease, result) => {
    const record = await complete(lease, result)
    completed++
    return record
  }
  const tidings = createTidings({ events: log, jobs: queue })
  tidings.defineJob({
    name: 'bench.noop',
    schema: BENCH_PAYLOAD,
    handler: async (ctx) => {
      const { t } = ctx.payload
      if (t !== undefined) {
        const now = process.hrtime.bigint()
        process.send!({ notice: { run: { id: ctx.job.id, attempt: ctx.job.attempt, at: String(now), latencyMs: Number(now - BigInt(t)) / 1e6 } } })
      }
      if (hang && ctx.payload.hang === true) await new Promise(() => {})
      return null
    },
  })
  await tidings.ready()
  const worker = tidings.worker({ concurrency })

  process.on('message', async (msg: { cmd: string; stamp?: boolean; n?: number; concurrency?: number }) => {
    if (msg.cmd === 'start') {
      await worker.start()
      process.send!({ started: true })
    } else if (msg.cmd === 'completed') {
      process.send!({ completed })
    } else if (msg.cmd === 'enqueue') {
      await tidings.enqueue('bench.noop', msg.stamp === true ? { t: String(process.hrtime.bigint()) } : {})
      process.send!({})
    } else if (msg.cmd === 'fill') {
      let left = msg.n ?? 0
      const t0 = performance.now()
      await Promise.all(
        Array.from({ length: msg.concurrency ?? 16 }, async () => {
          while (left-- > 0) await tidings.enqueue('bench.noop', {})
        }),
      )
      process.send!({ enqueuePerSec: (msg.n ?? 0) / ((performance.now() - t0) / 1000) })
    } else if (msg.cmd === 'exit') {
      await tidings.close()
      await queue.close()
      await opened.log?.close()
      process.exit(0)
    }
  })
  process.on('disconnect', () => process.exit(0))
  process.send!({ ready: true, pid: process.pid })
}
