/**
 * `tidings job run <name> [--payload '{…}'] [--delay <ms>] [--priority <n>] [--key <k>] [--follow] [--json]`:
 * enqueues a job; with `--follow`, shows a live progress bar and the job's log lines and exits with
 * the job's outcome (0 succeeded, 1 failed, 3 cancelled).
 */
import { parseArgs } from 'node:util'
import type { JobError, JobRecord } from '../../core/job-queue.js'
import { follow, type FollowedEvent } from '../follow.js'
import { CliError, EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, EXIT_USAGE, parseIntArg, parseJsonArg, Remote, REMOTE_OPTIONS, type CliIo } from '../remote.js'
import { untilStopSignal } from '../signals.js'

/** Width of the progress bar, in characters. */
const BAR_WIDTH = 30

interface EnqueueAnswer {
  id: string
  status: string
  created: boolean
  followFrom: string | null
  job: JobRecord
}

/** Enqueues a job, and with `--follow` waits for its outcome. */
export async function jobRunCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      ...REMOTE_OPTIONS,
      payload: { type: 'string' },
      delay: { type: 'string' },
      priority: { type: 'string' },
      key: { type: 'string' },
      follow: { type: 'boolean', default: false },
    },
    allowPositionals: true,
    strict: true,
  })
  const name = positionals[0]
  if (name === undefined || positionals.length > 1) throw new CliError('TIDINGS_ERR_UNKNOWN_JOB', "usage: tidings job run <name> [--payload '{…}'] [--follow]", EXIT_USAGE)
  const payload = parseJsonArg('--payload', values.payload, {})
  const remote = new Remote(values, io.env)
  const body = {
    name,
    payload,
    ...(values.delay === undefined ? {} : { delay: parseIntArg('--delay', values.delay) }),
    ...(values.priority === undefined ? {} : { priority: parseIntArg('--priority', values.priority) }),
    ...(values.key === undefined ? {} : { key: values.key }),
  }
  const { body: answer } = await remote.request<EnqueueAnswer>('POST', '/v1/jobs', body)
  if (!values.follow) {
    io.out(values.json ? JSON.stringify(answer) + '\n' : `${answer.created ? 'enqueued' : 'already enqueued (same key)'} ${name} ${answer.id}\n`)
    return EXIT_OK
  }
  if (!values.json) io.out(`${answer.created ? 'enqueued' : 'already enqueued (same key)'} ${name} ${answer.id}\n`)
  return followJob(remote, answer, values.json, io)
}

/** Follows `job:{id}` until the job finishes; resolves to the exit code. */
function followJob(remote: Remote, answer: EnqueueAnswer, json: boolean, io: CliIo): Promise<number> {
  const view = new JobView(io, json)
  return new Promise<number>((resolve) => {
    let settled = false
    const finish = (code: number): void => {
      if (settled) return
      settled = true
      stop()
      view.endLine()
      resolve(code)
    }
    // The record is the truth when events may have been missed (no cursor from before the job, or a reset).
    const checkRecord = async (): Promise<void> => {
      try {
        const { body: job } = await remote.request<JobRecord>('GET', `/v1/jobs/${encodeURIComponent(answer.id)}`)
        const code = view.finalFromRecord(job)
        if (code !== null) finish(code)
      } catch (err) {
        io.err(`tidings: ${(err as Error).message}\n`)
        finish(EXIT_FAILED)
      }
    }
    const stop = follow(
      remote,
      [`job:${answer.id}`],
      {
        onOpen: () => {
          if (answer.followFrom === null) void checkRecord()
        },
        onEvent: (e) => {
          if (e.type === 'tidings.reset') {
            void checkRecord()
            return
          }
          const code = view.event(e)
          if (code !== null) finish(code)
        },
        onFatal: (message) => {
          io.err(`tidings: ${message}\n`)
          finish(EXIT_FAILED)
        },
      },
      answer.followFrom,
    )
    void untilStopSignal().then(() => {
      io.err(`\nstopped following; the job goes on (tidings job status ${answer.id})\n`)
      finish(EXIT_FAILED)
    })
  })
}

/** Renders a job's events: a progress bar (redrawn in place on a terminal), log lines, the outcome. */
class JobView {
  readonly #io: CliIo
  readonly #json: boolean
  #barShown = false

  constructor(io: CliIo, json: boolean) {
    this.#io = io
    this.#json = json
  }

  /** Shows one event; returns the exit code when it ends the job. */
  event(e: FollowedEvent): number | null {
    const data = (e.envelope?.data ?? {}) as Record<string, unknown>
    if (this.#json) this.#io.out(JSON.stringify(e.envelope) + '\n')
    switch (e.type) {
      case 'job.started':
        this.#line(`started attempt ${String(data.attempt)}/${String(data.maxAttempts)} on ${String(data.workerId)}`)
        return null
      case 'job.progress':
        this.#progress(data)
        return null
      case 'job.log':
        this.#line(`[${String(data.level)}] ${String(data.message)}`)
        return null
      case 'job.retrying':
        this.#line(`attempt ${String(data.attempt)} failed: ${formatError(data.error as JobError)}; retrying at ${String(data.retryAt)}`)
        return null
      case 'job.succeeded':
        this.#line(`succeeded${typeof data.durationMs === 'number' ? ` in ${data.durationMs} ms` : ''}: ${JSON.stringify(data.result ?? null)}`)
        return EXIT_OK
      case 'job.failed':
        this.#line(`failed after ${String(data.attempts)} attempt(s): ${formatError(data.error as JobError)}`)
        return EXIT_FAILED
      case 'job.cancelled':
        this.#line('cancelled')
        return EXIT_CANCELLED
      default:
        return null
    }
  }

  /** The exit code a finished record means, or null while it is not finished. */
  finalFromRecord(job: JobRecord): number | null {
    switch (job.status) {
      case 'succeeded':
        this.#line(`succeeded: ${JSON.stringify(job.result)}`)
        return EXIT_OK
      case 'failed':
        this.#line(`failed after ${job.attempts} attempt(s): ${formatError(job.error)}`)
        return EXIT_FAILED
      case 'cancelled':
        this.#line('cancelled')
        return EXIT_CANCELLED
      default:
        return null
    }
  }

  endLine(): void {
    if (this.#barShown && this.#io.tty && !this.#json) this.#io.out('\n')
    this.#barShown = false
  }

  #progress(data: Record<string, unknown>): void {
    if (this.#json) return
    const current = Number(data.current)
    const total = typeof data.total === 'number' ? data.total : null
    const percent = typeof data.percent === 'number' ? data.percent : null
    const filled = percent === null ? 0 : Math.round((percent / 100) * BAR_WIDTH)
    const bar = percent === null ? '' : `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] `
    const text = `${bar}${current}${total === null ? '' : `/${total}`}${percent === null ? '' : ` ${percent}%`}${typeof data.message === 'string' ? ` ${data.message}` : ''}`
    if (this.#io.tty) {
      this.#io.out(`\r\u001b[2K${text}`)
      this.#barShown = true
    } else this.#io.out(`progress ${text}\n`)
  }

  #line(text: string): void {
    if (this.#json) return
    if (this.#barShown && this.#io.tty) this.#io.out('\r\u001b[2K')
    this.#barShown = false
    this.#io.out(text + '\n')
  }
}

function formatError(error: JobError | null): string {
  if (error === null) return 'unknown error'
  return `${error.code ? `${error.code}: ` : ''}${error.message}`
}
