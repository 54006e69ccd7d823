/**
 * Peer: a graphile-worker 0.17 worker process, as its README has it — `run({ connectionString,
 * concurrency: N, noHandleSignals: true, taskList })` with a no-op task and every other option at
 * its default (pollInterval 2 s behind LISTEN/NOTIFY wake-ups, no local queue, no completion
 * batching), except a silent logger (its default logs a line per job; Tidings runs silent too).
 * The IPC protocol of bench/lib/job-bench.ts:
 *   → { ready, pid }; { cmd: 'start' } → { started }; { cmd: 'exit' } → exits after `runner.stop()`
 *   unasked: { notice: { run: { id, attempt, at, latencyMs } } } for each job whose payload has `t`.
 * Env: DATABASE_URL, BENCH_GRAPHILE_SCHEMA, BENCH_CONCURRENCY, BENCH_HANG=1 (a job with
 * `hang: true` never finishes here).
 */
import { Logger, run, runMigrations, type Runner, type Task } from 'graphile-worker'

const connectionString = process.env.DATABASE_URL
const schema = process.env.BENCH_GRAPHILE_SCHEMA
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 1)
const hang = process.env.BENCH_HANG === '1'
const logger = new Logger(() => () => {})

const noop: Task = async (payload, helpers) => {
  const data = payload as { t?: string; hang?: boolean }
  if (data.t !== undefined) {
    const now = process.hrtime.bigint()
    process.send!({ notice: { run: { id: helpers.job.id, attempt: helpers.job.attempts, at: String(now), latencyMs: Number(now - BigInt(data.t)) / 1e6 } } })
  }
  if (hang && data.hang === true) await new Promise(() => {})
}

// Connected and migrated before `ready`: `start` only starts the pool.
await runMigrations({ connectionString, schema, logger })
let runner: Runner | undefined

process.on('message', async (msg: { cmd: string }) => {
  if (msg.cmd === 'start') {
    runner = await run({ connectionString, schema, concurrency, noHandleSignals: true, logger, taskList: { noop } })
    process.send!({ started: true })
  } else if (msg.cmd === 'exit') {
    await runner?.stop()
    process.exit(0)
  }
})
process.on('disconnect', () => process.exit(0))
process.send!({ ready: true, pid: process.pid })
