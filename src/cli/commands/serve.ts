/**
 * `tidings dev` and `tidings serve [--insecure] [--no-worker] [--jobs <module>] [--concurrency <n>]`:
 * the server, with a worker and the scheduler in the same process unless `--no-worker`.
 */
import { parseArgs } from 'node:util'
import type { AnyJobDefinition } from '../../core/jobs/define.js'
import { loadJobModule } from '../load-jobs.js'
import { EXIT_OK, parseIntArg, type CliIo } from '../remote.js'
import { startServer } from '../server.js'
import { untilStopSignal } from '../signals.js'

/** Runs `dev` or `serve` until SIGINT/SIGTERM. */
export async function serveCommand(mode: 'dev' | 'serve', args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      insecure: { type: 'boolean', default: false },
      'no-worker': { type: 'boolean', default: false },
      jobs: { type: 'string', multiple: true },
      concurrency: { type: 'string' },
    },
    strict: true,
  })
  const jobs: AnyJobDefinition[] = []
  for (const m of values.jobs ?? []) jobs.push(...(await loadJobModule(m)))
  const running = await startServer({
    mode,
    insecure: values.insecure,
    env: io.env,
    jobs,
    worker: !values['no-worker'],
    concurrency: parseIntArg('--concurrency', values.concurrency),
  })
  const jobNames = running.tidings.registry.all().map((d) => d.name)
  // Listen for the stop before saying we are ready: whoever reads the ready line may stop us at once.
  const stopped = untilStopSignal()
  io.out(`tidings ${mode} listening on ${running.url}\n`)
  io.out(running.worker ? `worker ${running.worker.id} running ${jobNames.length > 0 ? jobNames.join(', ') : '(no jobs defined)'}; scheduler on\n` : 'no worker in this process (--no-worker)\n')
  await stopped
  await running.close()
  return EXIT_OK
}
