/**
 * `tidings worker --jobs <module> [--concurrency <n>] [--queue <q> …]`: a worker (and the scheduler)
 * for the job definitions a module exports, until SIGINT/SIGTERM (then a graceful stop).
 */
import { parseArgs } from 'node:util'
import { createLogger } from '../../core/logger.js'
import { createTidings } from '../../tidings.js'
import { openEngines } from '../engines.js'
import { loadJobModule } from '../load-jobs.js'
import { CliError, EXIT_OK, EXIT_USAGE, parseIntArg, type CliIo } from '../remote.js'
import { untilStopSignal } from '../signals.js'

/** Runs a worker process. */
export async function workerCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      jobs: { type: 'string', multiple: true },
      concurrency: { type: 'string' },
      queue: { type: 'string', multiple: true },
    },
    strict: true,
  })
  if (values.jobs === undefined || values.jobs.length === 0) {
    throw new CliError('TIDINGS_ERR_INVALID_CONFIG', 'tidings worker needs --jobs <module>: a module exporting `jobs`, an array of defineJob(...) definitions', EXIT_USAGE)
  }
  const definitions = []
  for (const m of values.jobs) definitions.push(...(await loadJobModule(m)))
  const logger = createLogger()
  const engines = await openEngines(io.env, logger)
  if (!engines.shared) {
    io.err(
      'tidings worker: the memory engine lives inside this process, so this worker only runs jobs enqueued in it.\n' +
        '  To run jobs enqueued over HTTP, use `tidings serve --jobs <module>` (it runs a worker too), or a shared engine (TIDINGS_BACKEND).\n',
    )
  }
  const tidings = createTidings({ events: engines.events, jobs: engines.jobs, logger, jobDefinitions: definitions })
  await engines.start()
  await tidings.ready()
  const worker = await tidings.startWorker({ concurrency: parseIntArg('--concurrency', values.concurrency), queues: values.queue })
  await tidings.scheduler.start()
  // Listen for the stop before saying we are ready: whoever reads the ready line may stop us at once.
  const stopped = untilStopSignal()
  io.out(`worker ${worker.id} running ${definitions.map((d) => d.name).join(', ')}\n`)
  await stopped
  await tidings.close()
  await engines.close()
  return EXIT_OK
}
