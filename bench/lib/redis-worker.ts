/**
 * Bench worker process: one Tidings worker on Redis (RedisEventLog + RedisJobQueue under
 * BENCH_REDIS_PREFIX on REDIS_URL, lifecycle events on), concurrency BENCH_CONCURRENCY, running
 * `bench.noop`. The same IPC protocol as bench/peers/bullmq-worker.ts:
 *   → { ready, pid }; { cmd: 'start' } → { started }; { cmd: 'exit' } → exits after a graceful stop
 *   unasked: { notice: { run: { id, attempt, at, latencyMs } } } for each job whose payload has `t`
 *   (its enqueue time, process.hrtime.bigint() as a string: the clock is shared by processes here).
 * With BENCH_HANG=1, a job whose payload has `hang: true` never finishes here (a crash victim).
 */
import { z } from 'zod'
import { RedisEventLog } from '../../src/engines/redis/event-log.js'
import { RedisJobQueue } from '../../src/engines/redis/job-queue.js'
import { createTidings } from '../../src/tidings.js'

const url = process.env.REDIS_URL || undefined
const prefix = process.env.BENCH_REDIS_PREFIX
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 1)
const hang = process.env.BENCH_HANG === '1'

const log = new RedisEventLog({ url, prefix })
const queue = new RedisJobQueue({ url, prefix })
const tidings = createTidings({ events: log, jobs: queue })
tidings.defineJob({
  name: 'bench.noop',
  schema: z.object({ t: z.string().optional(), hang: z.boolean().optional() }),
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

process.on('message', async (msg: { cmd: string }) => {
  if (msg.cmd === 'start') {
    await worker.start()
    process.send!({ started: true })
  } else if (msg.cmd === 'exit') {
    await tidings.close()
    await queue.close()
    await log.close()
    process.exit(0)
  }
})
process.on('disconnect', () => process.exit(0))
process.send!({ ready: true, pid: process.pid })
