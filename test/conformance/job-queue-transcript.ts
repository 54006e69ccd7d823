/**
 * One fixed sequence of JobQueue calls whose every answer, reduced to what must not depend on the
 * engine or the clock, an engine must give exactly as the memory engine (the specification) does.
 * Engine test files run it against a fresh queue of their own and a fresh `MemoryJobQueue`.
 */
import { isTidingsError } from '../../src/core/errors.js'
import type { JobQueue, JobRecord, ScheduleRecord } from '../../src/core/job-queue.js'
import { newJob } from './job-queue.js'

/** A record with its clock-dependent fields reduced to whether they are set. */
function shape(job: JobRecord | null): unknown {
  if (job === null) return null
  return {
    ...job,
    startedAt: job.startedAt !== null,
    finishedAt: job.finishedAt !== null,
    updatedAt: typeof job.updatedAt,
    leaseExpiresAt: job.leaseExpiresAt !== null,
    cancelRequestedAt: job.cancelRequestedAt !== null,
    durationMs: job.durationMs === null ? null : job.durationMs >= 0,
    runAt: typeof job.runAt,
  }
}

function scheduleShape(s: ScheduleRecord | null): unknown {
  return s === null ? null : { ...s, createdAt: typeof s.createdAt, updatedAt: typeof s.updatedAt }
}

async function outcome<T>(p: Promise<T>, map: (v: T) => unknown): Promise<unknown> {
  try {
    return map(await p)
  } catch (err) {
    return { threw: isTidingsError(err) ? err.code : String(err) }
  }
}

/** One fixed sequence of calls; every answer, reduced to what must not depend on the engine or the clock. */
export async function transcript(q: JobQueue): Promise<unknown[]> {
  const out: unknown[] = []
  const base = Date.parse('2030-01-01T00:00:00.000Z')
  const at = (ms: number) => new Date(base + ms)
  const past = new Date(Date.now() - 60_000)
  const ids = Array.from({ length: 8 }, (_, i) => `01900000-0000-7000-8000-00000000000${i}`)
  const job = (i: number, fields: Parameters<typeof newJob>[0] = {}) => newJob({ id: ids[i]!, enqueuedAt: at(i), runAt: past, ...fields })
  const W = { workerId: 'w1', leaseMs: 10_000 }
  const lease = async (names: string[], limit: number, queues = ['q']) => {
    const r = await q.lease({ queues, names, limit, ...W })
    out.push({ leases: r.leases.map((l) => ({ id: l.id, attempt: l.attempt, job: shape(l.job) })), lost: r.lost.map(shape) })
    return r.leases
  }
  const rec = async (p: Promise<JobRecord>) => out.push(await outcome(p, shape))

  for (const [i, fields] of [
    [0, { owner: { user: 'u1', tenant: 't1' }, key: 'k0', payload: { deep: [1, { x: null }] } }],
    [1, { runAt: at(60_000), priority: 5 }],
    [2, { priority: 5, owner: { user: 'u2', tenant: null } }],
    [3, { name: 't.other', queue: 'q2' }],
    [4, { maxAttempts: 1 }],
    [5, { priority: -1, payload: 'text' }],
  ] as const) {
    out.push(await outcome(q.enqueue(job(i, fields)), (r) => ({ created: r.created, job: shape(r.job) })))
  }
  out.push(await outcome(q.enqueue(job(6, { key: 'k0' })), (r) => ({ created: r.created, job: shape(r.job) })))
  out.push(await outcome(q.enqueue(job(0)), (r) => r.created))

  const [l2, l0, l4] = await lease(['t.job'], 3)
  await lease(['t.job'], 0)
  out.push(await q.heartbeat([l2!, { id: ids[1]!, token: 'nope' }, { id: 'missing', token: 'x' }], 10_000))
  out.push(await outcome(q.setProgress(l0!, { current: 1, total: 4, percent: 25, message: 'one', at: at(5).toISOString() }), () => 'ok'))
  await rec(q.get(l0!.id).then((r) => r!))
  await rec(q.fail(l0!, { message: 'boom', code: 'E_BOOM', stack: 'at x' }, past))
  await rec(q.fail(l4!, { message: 'last', code: null, stack: null }, null))
  await rec(q.release(l2!))
  await rec(q.complete(l2!, 'stale'))
  out.push(await outcome(q.cancel(ids[1]!), (c) => c && { outcome: c.outcome, job: shape(c.job) }))
  out.push(await outcome(q.cancel('missing'), (c) => c))

  const [again2, again0, l5] = await lease(['t.job', 't.other'], 5, ['q', 'q2'])
  out.push(await outcome(q.cancel(again0!.id), (c) => c && { outcome: c.outcome, job: shape(c.job) }))
  out.push(await q.heartbeat([again0!], 10_000))
  await rec(q.confirmCancel(again0!))
  await rec(q.complete(again2!, { ok: [1, 2] }))
  await rec(q.complete(l5!, undefined))
  out.push(await outcome(q.cancel(again2!.id), (c) => c && { outcome: c.outcome, job: shape(c.job) }))

  await rec(q.retry(ids[0]!, at(120_000)))
  await rec(q.retry(ids[4]!, past))
  await rec(q.retry(ids[2]!, past))
  await rec(q.retry('missing', past))

  const page = async (filter: Parameters<JobQueue['list']>[0], limit: number, cursor: string | null = null) =>
    q.list(filter, { limit, cursor }).then((p) => ({ ids: p.jobs.map((j) => j.id), more: p.next !== null, jobs: p.jobs.map(shape) }))
  out.push(await page({}, 100))
  out.push(await page({ status: ['queued'] }, 100))
  out.push(await page({ status: ['delayed', 'cancelled', 'failed'] }, 100))
  out.push(await page({ user: 'u1' }, 100))
  out.push(await page({ tenant: null }, 100))
  out.push(await page({ user: 'u2', tenant: null }, 100))
  out.push(await page({ queue: 'q2', name: 't.other' }, 100))
  const first = await q.list({}, { limit: 2 })
  out.push(first.jobs.map((j) => j.id), await page({}, 2, first.next))

  out.push(await q.prune(new Date(Date.now() + 60_000)))
  out.push(await outcome(q.enqueue(job(7, { key: 'k0' })), (r) => ({ created: r.created, job: shape(r.job) })))
  out.push(await page({}, 100))

  const input = { name: 'nightly', cron: '0 3 * * *', timezone: 'Europe/Paris', job: 't.job', payload: { n: [1] }, enabled: true, nextRunAt: at(1_000) }
  out.push(scheduleShape(await q.putSchedule(input)))
  out.push(scheduleShape(await q.putSchedule(input)))
  out.push(scheduleShape(await q.putSchedule({ ...input, timezone: null, nextRunAt: null })))
  out.push(scheduleShape(await q.putSchedule({ ...input, name: 'hourly', cron: '0 * * * *' })))
  out.push((await q.listSchedules()).map(scheduleShape))
  out.push(await outcome(q.claimScheduleTick('nightly', 2, at(10_000), at(20_000), job(7, { id: 'tick-1', key: 'tick:1' })), shape))
  out.push(await outcome(q.claimScheduleTick('nightly', 2, at(10_000), at(20_000), job(7, { id: 'tick-2', key: 'tick:1b' })), shape))
  out.push(await outcome(q.claimScheduleTick('nightly', 2, at(20_000), null, job(7, { id: 'tick-3', key: 'tick:1' })), shape))
  out.push(scheduleShape(await q.getSchedule('nightly')))
  out.push(await q.deleteSchedule('nightly'), await q.deleteSchedule('nightly'), await q.getSchedule('nightly'))
  out.push((await q.listSchedules()).map((s) => s.name))
  return out
}
