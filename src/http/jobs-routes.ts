/**
 * The jobs and schedules part of the HTTP API (DESIGN §5), on the same router and auth as the rest.
 *
 * Permissions: a principal may enqueue the jobs its token's `tidings.enqueue` patterns name (admins
 * any) and owns what it enqueues (`owner = { user: sub, tenant }`). Owners see, cancel, retry and
 * follow (`job:{id}`) their own jobs; others get 404, as if the job did not exist. Admins see and
 * act on every job. Schedules are admin-only.
 */
import { z } from 'zod'
import { canEnqueue, type Principal } from '../core/auth.js'
import { TidingsError } from '../core/errors.js'
import { formatCursor, type EventLog } from '../core/event-log.js'
import type { JobFilter, JobRecord, JobStatus } from '../core/job-queue.js'
import type { Jobs } from '../core/jobs/jobs.js'
import type { Scheduler } from '../core/jobs/scheduler.js'
import type { HttpSurface } from './handler.js'
import { DEFAULT_MAX_BODY_BYTES, readJson, sendJson } from './respond.js'
import type { RouteContext } from './router.js'

const JOB_STATUSES: readonly JobStatus[] = ['delayed', 'queued', 'running', 'retrying', 'succeeded', 'failed', 'cancelled']

const enqueueBody = z.strictObject({
  name: z.string().min(1).max(200),
  payload: z.unknown().optional(),
  delay: z.number().optional(),
  runAt: z.string().optional(),
  priority: z.number().optional(),
  key: z.string().optional(),
})

const scheduleFields = {
  cron: z.string().max(200),
  job: z.string().max(200),
  payload: z.unknown().optional(),
  timezone: z.string().max(100).nullable().optional(),
  enabled: z.boolean().optional(),
}
const scheduleBody = z.strictObject({ name: z.string().max(200), ...scheduleFields })
const schedulePatchBody = z.strictObject({
  cron: scheduleFields.cron.optional(),
  job: scheduleFields.job.optional(),
  payload: scheduleFields.payload,
  timezone: scheduleFields.timezone,
  enabled: scheduleFields.enabled,
})

/** What the job routes need from a Tidings instance. */
export interface JobRoutesDeps {
  readonly jobs: Jobs
  readonly scheduler: Scheduler
  readonly log: EventLog
  /** @defaultValue {@link DEFAULT_MAX_BODY_BYTES} */
  readonly maxBodyBytes?: number
}

/** True when the principal may see and act on the job: an admin, or its owner (same user and tenant). */
export function ownsJob(p: Principal, job: Pick<JobRecord, 'owner'>): boolean {
  if (p.admin) return true
  return job.owner !== null && p.sub !== null && job.owner.user === p.sub && (job.owner.tenant ?? null) === p.tenant
}

/** Adds the `/v1/jobs` and `/v1/schedules` routes, and lets owners follow `job:{id}`. */
export function registerJobRoutes(http: HttpSurface, deps: JobRoutesDeps): void {
  const { jobs, scheduler, log } = deps
  const maxBodyBytes = deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES

  const visibleJob = async (p: Principal, id: string): Promise<JobRecord> => {
    const job = await jobs.get(id)
    if (job === null || !ownsJob(p, job)) throw new TidingsError('TIDINGS_ERR_JOB_NOT_FOUND', { detail: `job ${id}` })
    return job
  }
  const admin = async (ctx: RouteContext): Promise<Principal> => {
    const p = await ctx.principal()
    if (!p.admin) throw new TidingsError('TIDINGS_ERR_FORBIDDEN', { detail: 'schedules are for admins' })
    return p
  }

  http.addChannelAuthorizer(async (p, channel) => {
    if (!channel.startsWith('job:') || p.sub === null) return false
    const job = await jobs.get(channel.slice('job:'.length))
    return job !== null && ownsJob(p, job)
  })

  http.router
    .add('POST', '/v1/jobs', async (ctx) => {
      const p = await ctx.principal()
      const body = parse(enqueueBody, await readJson(ctx.req, maxBodyBytes), 'TIDINGS_ERR_INVALID_JOB_OPTIONS')
      if (!canEnqueue(p, body.name)) {
        throw new TidingsError('TIDINGS_ERR_FORBIDDEN', { detail: `this token may not enqueue ${body.name}; its tidings.enqueue claim must name it` })
      }
      // A cursor from before the job exists: following job:{id} from it misses none of its events.
      const head = await log.head()
      const followFrom = head === null ? null : formatCursor(await log.epoch(), head)
      const owner = p.sub === null && p.tenant === null ? null : { user: p.sub, tenant: p.tenant }
      const key = body.key === undefined || p.admin ? body.key : `${p.tenant === null ? '' : `tenant:${p.tenant}:`}user:${p.sub ?? ''}:${body.key}`
      const r = await jobs.enqueue(body.name, body.payload, { delay: body.delay, runAt: body.runAt, priority: body.priority, key, owner })
      sendJson(ctx.res, r.created ? 202 : 200, { id: r.id, status: r.job.status, created: r.created, followFrom, job: r.job })
    })
    .add('GET', '/v1/jobs', async (ctx) => {
      const p = await ctx.principal()
      const q = ctx.url.searchParams
      const status = q
        .getAll('status')
        .flatMap((s) => s.split(','))
        .filter((s) => s !== '')
      for (const s of status) {
        if (!(JOB_STATUSES as readonly string[]).includes(s)) throw new TidingsError('TIDINGS_ERR_INVALID_QUERY', { detail: `status must be one of ${JOB_STATUSES.join(', ')}` })
      }
      const one = (name: string): string | undefined => q.get(name) ?? undefined
      let filter: JobFilter = { status: status as JobStatus[], name: one('name'), queue: one('queue') }
      if (p.admin) {
        const tenant = q.get('tenant')
        filter = { ...filter, user: one('user'), tenant: tenant === null ? undefined : tenant }
      } else {
        if (p.sub === null) throw new TidingsError('TIDINGS_ERR_FORBIDDEN', { detail: 'listing jobs needs a token with a sub claim' })
        filter = { ...filter, user: p.sub, tenant: p.tenant }
      }
      const limitParam = q.get('limit')
      const limit = limitParam === null ? undefined : Number(limitParam)
      sendJson(ctx.res, 200, await jobs.list(filter, { limit, cursor: q.get('cursor') }))
    })
    .add('GET', '/v1/jobs/:id', async (ctx) => {
      sendJson(ctx.res, 200, await visibleJob(await ctx.principal(), ctx.params.id!))
    })
    .add('POST', '/v1/jobs/:id/cancel', async (ctx) => {
      const id = ctx.params.id!
      await visibleJob(await ctx.principal(), id)
      const result = await jobs.cancel(id)
      if (result.outcome === 'finished') throw new TidingsError('TIDINGS_ERR_JOB_NOT_CANCELLABLE', { detail: `job ${id} is ${result.job.status}` })
      sendJson(ctx.res, result.outcome === 'cancelled' ? 200 : 202, result)
    })
    .add('POST', '/v1/jobs/:id/retry', async (ctx) => {
      const id = ctx.params.id!
      await visibleJob(await ctx.principal(), id)
      const job = await jobs.retry(id)
      sendJson(ctx.res, 202, { id, status: job.status, job })
    })
    .add('GET', '/v1/schedules', async (ctx) => {
      await admin(ctx)
      sendJson(ctx.res, 200, { schedules: await scheduler.list() })
    })
    .add('POST', '/v1/schedules', async (ctx) => {
      await admin(ctx)
      const body = parse(scheduleBody, await readJson(ctx.req, maxBodyBytes), 'TIDINGS_ERR_INVALID_SCHEDULE')
      sendJson(ctx.res, 201, await scheduler.create(body))
    })
    .add('GET', '/v1/schedules/:name', async (ctx) => {
      await admin(ctx)
      const s = await scheduler.get(ctx.params.name!)
      if (s === null) throw new TidingsError('TIDINGS_ERR_SCHEDULE_NOT_FOUND', { detail: `schedule ${ctx.params.name}` })
      sendJson(ctx.res, 200, s)
    })
    .add('PATCH', '/v1/schedules/:name', async (ctx) => {
      await admin(ctx)
      const body = parse(schedulePatchBody, await readJson(ctx.req, maxBodyBytes), 'TIDINGS_ERR_INVALID_SCHEDULE')
      sendJson(ctx.res, 200, await scheduler.update(ctx.params.name!, body))
    })
    .add('DELETE', '/v1/schedules/:name', async (ctx) => {
      await admin(ctx)
      await scheduler.remove(ctx.params.name!)
      ctx.res.writeHead(204, { 'cache-control': 'no-store' })
      ctx.res.end()
    })
}

function parse<T>(schema: z.ZodType<T>, body: unknown, code: 'TIDINGS_ERR_INVALID_JOB_OPTIONS' | 'TIDINGS_ERR_INVALID_SCHEDULE'): T {
  const r = schema.safeParse(body)
  if (r.success) return r.data
  throw new TidingsError(code, {
    detail: r.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
      .join('; '),
    details: r.error.issues.map((i) => ({ path: i.path.map(String), message: i.message })),
  })
}
