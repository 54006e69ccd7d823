/**
 * Peer: a BullMQ worker process, as its README has it — `new Worker(queue, processor, { connection,
 * concurrency })` with a no-op processor and every other option at its default (lock 30 s, stalled
 * check every 30 s). The same IPC protocol as bench/lib/engine-worker.ts:
 *   → { ready, pid }; { cmd: 'start' } → { started }; { cmd: 'exit' } → exits after `worker.close()`
 *   unasked: { notice: { run: { id, attempt, at, latencyMs } } } for each job whose data has `t`.
 * Env: REDIS_URL, BENCH_BULLMQ_PREFIX (BullMQ's key prefix), BENCH_CONCURRENCY, BENCH_HANG=1 (a
 * job with `hang: true` never finishes here).
 */
import { Worker } from 'bullmq'

/** The queue the bench uses (bench/suites/redis.ts adds to it). */
const BULLMQ_QUEUE = 'bench'

const redis = new URL(process.env.REDIS_URL || 'redis://127.0.0.1:6379')
const connection = { host: redis.hostname, port: Number(redis.port || 6379) }
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 1)
const hang = process.env.BENCH_HANG === '1'

const worker = new Worker(
  BULLMQ_QUEUE,
  async (job) => {
    const data = job.data as { t?: string; hang?: boolean }
    if (data.t !== undefined) {
      const now = process.hrtime.bigint()
      process.send!({ notice: { run: { id: job.id, attempt: job.attemptsStarted, at: String(now), latencyMs: Number(now - BigInt(data.t)) / 1e6 } } })
    }
    if (hang && data.hang === true) await new Promise(() => {})
    return null
  },
  { connection, prefix: process.env.BENCH_BULLMQ_PREFIX, concurrency, autorun: false },
)
await worker.waitUntilReady()

process.on('message', async (msg: { cmd: string }) => {
  if (msg.cmd === 'start') {
    void worker.run()
    process.send!({ started: true })
  } else if (msg.cmd === 'exit') {
    await worker.close()
    process.exit(0)
  }
})
process.on('disconnect', () => process.exit(0))
process.send!({ ready: true, pid: process.pid })
