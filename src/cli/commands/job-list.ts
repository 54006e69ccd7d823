/**
 * `tidings job list [--status <s>…] [--name <n>] [--queue <q>] [--limit <n>] [--cursor <c>] [--json]`:
 * jobs the token may see, newest first.
 */
import { parseArgs } from 'node:util'
import type { JobPage } from '../../core/job-queue.js'
import { EXIT_OK, Remote, REMOTE_OPTIONS, type CliIo } from '../remote.js'

/** Lists jobs. */
export async function jobListCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      ...REMOTE_OPTIONS,
      status: { type: 'string', multiple: true },
      name: { type: 'string' },
      queue: { type: 'string' },
      limit: { type: 'string' },
      cursor: { type: 'string' },
    },
    strict: true,
  })
  const remote = new Remote(values, io.env)
  const q = new URLSearchParams()
  for (const s of values.status ?? []) q.append('status', s)
  for (const k of ['name', 'queue', 'limit', 'cursor'] as const) if (values[k] !== undefined) q.set(k, values[k])
  const { body } = await remote.request<JobPage>('GET', `/v1/jobs${q.size > 0 ? `?${q}` : ''}`)
  if (values.json) {
    io.out(JSON.stringify(body) + '\n')
    return EXIT_OK
  }
  const rows = body.jobs.map((j) => [j.id, j.name, j.status, `${j.attempts}/${j.maxAttempts}`, j.progress?.percent == null ? '' : `${j.progress.percent}%`, j.enqueuedAt])
  const head = ['ID', 'NAME', 'STATUS', 'ATTEMPTS', 'PROGRESS', 'ENQUEUED']
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd() + '\n'
  io.out(line(head))
  for (const r of rows) io.out(line(r))
  if (body.next !== null) io.out(`more: --cursor ${body.next}\n`)
  return EXIT_OK
}
