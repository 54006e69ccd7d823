/**
 * `tidings job status <id> [--json]`: one job's record.
 */
import { parseArgs } from 'node:util'
import type { JobRecord } from '../../core/job-queue.js'
import { CliError, EXIT_OK, EXIT_USAGE, Remote, REMOTE_OPTIONS, type CliIo } from '../remote.js'

/** Prints one job's record. */
export async function jobStatusCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: REMOTE_OPTIONS, allowPositionals: true, strict: true })
  const id = positionals[0]
  if (id === undefined || positionals.length > 1) throw new CliError('TIDINGS_ERR_INVALID_QUERY', 'usage: tidings job status <id>', EXIT_USAGE)
  const remote = new Remote(values, io.env)
  const { body: job } = await remote.request<JobRecord>('GET', `/v1/jobs/${encodeURIComponent(id)}`)
  io.out(values.json ? JSON.stringify(job) + '\n' : describeJob(job))
  return EXIT_OK
}

/** A job record as readable lines. */
export function describeJob(job: JobRecord): string {
  const lines: [string, string | null][] = [
    ['id', job.id],
    ['name', job.name],
    ['queue', job.queue],
    ['status', job.status],
    ['attempts', `${job.attempts}/${job.maxAttempts}`],
    ['enqueued', job.enqueuedAt],
    ['runs at', job.status === 'delayed' || job.status === 'retrying' ? job.runAt : null],
    ['started', job.startedAt],
    ['finished', job.finishedAt],
    ['duration', job.durationMs === null ? null : `${job.durationMs} ms`],
    ['progress', job.progress === null ? null : `${job.progress.current}${job.progress.total === null ? '' : `/${job.progress.total}`}${job.progress.message ? ` ${job.progress.message}` : ''}`],
    ['owner', job.owner === null ? null : `${job.owner.user ?? '-'}${job.owner.tenant === null ? '' : ` (tenant ${job.owner.tenant})`}`],
    ['error', job.error === null ? null : `${job.error.code ? `${job.error.code}: ` : ''}${job.error.message}`],
    ['result', job.status === 'succeeded' ? JSON.stringify(job.result) : null],
  ]
  return lines
    .filter((l): l is [string, string] => l[1] !== null)
    .map(([k, v]) => `${k.padEnd(9)} ${v}\n`)
    .join('')
}
