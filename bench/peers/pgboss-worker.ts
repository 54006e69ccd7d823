/**
 * Peer: a pg-boss 10 worker process, as its README and maintainer have it — `new PgBoss(...)`,
 * `boss.start()`, then `boss.work(queue, { batchSize: N }, (jobs) => Promise.allSettled(jobs.map(handler)))`
 * for concurrency N (pg-boss 10 dropped teamSize/teamConcurrency; its maintainer's advice for
 * concurrency is a batch handled with Promise.allSettled, timgit/pg-boss#542). Every other option
 * at its default: pollingIntervalSeconds 2 (each work() loop fetches at most one batch per
 * interval), maintenance and monitoring on. The IPC protocol of bench/lib/job-bench.ts:
 *   → { ready, pid }; { cmd: 'start' } → { started }; { cmd: 'exit' } → exits after `boss.stop()`
 *   unasked: { notice: { run: { id, attempt, at, latencyMs } } } for each job whose data has `t`.
 * Env: DATABASE_URL, BENCH_PGBOSS_SCHEMA, BENCH_CONCURRENCY, BENCH_HANG=1 (a job with
 * `hang: true` never finishes here).
 */
import PgBoss from 'pg-boss'

/** The queue the bench uses (bench/suites/postgres.ts sends to it). */
const QUEUE = 'bench'

const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 1)
const hang = process.env.BENCH_HANG === '1'

const boss = new PgBoss({ connectionString: process.env.DATABASE_URL, schema: process.env.BENCH_PGBOSS_SCHEMA })
boss.on('error', (err) => process.stderr.write(`pg-boss worker: ${String(err)}\n`))
await boss.start()

async function handler(job: PgBoss.Job<{ t?: string; hang?: boolean }>): Promise<null> {
  const data = job.data
  if (data.t !== undefined) {
    const now = process.hrtime.bigint()
    process.send!({ notice: { run: { id: job.id, attempt: 1, at: String(now), latencyMs: Number(now - BigInt(data.t)) / 1e6 } } })
  }
  if (hang && data.hang === true) await new Promise(() => {})
  return null
}

process.on('message', async (msg: { cmd: string }) => {
  if (msg.cmd === 'start') {
    await boss.work<{ t?: string; hang?: boolean }>(QUEUE, { batchSize: concurrency }, (jobs) => Promise.allSettled(jobs.map(handler)))
    process.send!({ started: true })
  } else if (msg.cmd === 'exit') {
    await boss.stop({ graceful: true, wait: true, timeout: 5_000 })
    process.exit(0)
  }
})
process.on('disconnect', () => process.exit(0))
process.send!({ ready: true, pid: process.pid })
