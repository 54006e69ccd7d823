import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { z } from 'zod'
import { isTidingsError } from '../../src/core/errors.js'
import { defineJob } from '../../src/core/jobs/define.js'
import { startCluster } from '../helpers/jobs.js'

const tick = defineJob({ name: 'test.tick', schema: z.object({ label: z.string() }), handler: (ctx) => ctx.payload.label })

describe('cron schedules', () => {
  it('fires once per tick across three instances running the same schedule', async () => {
    const { nodes } = await startCluster(3)
    for (const node of nodes) {
      node.tidings.registerJobs(tick)
      // Each "process" declares the same code-defined schedule at start.
      await node.tidings.schedule('every-second', '* * * * * *', 'test.tick', { label: 'hi' })
    }
    await Promise.all(nodes.map((n) => n.tidings.scheduler.start()))
    await nodes[0]!.tidings.startWorker({ heartbeatMs: 200 })
    const { events } = nodes[0]!
    const fromSchedule = (e: { type: string; data: unknown }) => e.type === 'job.queued' && (e.data as { schedule: string | null }).schedule === 'every-second'
    await events.waitFor(fromSchedule, { count: 3, timeoutMs: 10_000 })
    await Promise.all(nodes.map((n) => n.tidings.scheduler.stop()))

    const jobs = (await nodes[0]!.tidings.listJobs({ name: 'test.tick' }, { limit: 100 })).jobs
    assert.ok(jobs.length >= 3)
    const keys = jobs.map((j) => j.key!)
    assert.equal(new Set(keys).size, jobs.length, 'one job per tick')
    for (const k of keys) assert.match(k, /^schedule:every-second:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/)
    assert.equal(events.filter(fromSchedule).length, jobs.length, 'one job.queued per tick')
    const stats = nodes.map((n) => n.tidings.scheduler.stats)
    assert.equal(stats.reduce((s, x) => s + x.fired, 0), jobs.length)
    // Every instance tried every tick: the others' attempts were turned away by the claim.
    assert.ok(stats.reduce((s, x) => s + x.skipped, 0) >= 2 * (jobs.length - 1), `claims turned away: ${JSON.stringify(stats)}`)
    const schedule = await nodes[1]!.tidings.scheduler.get('every-second')
    const newest = [...keys].sort().at(-1)!
    assert.equal(schedule?.lastRunAt, newest.slice('schedule:every-second:'.length))
    assert.ok(schedule?.nextRunAt !== null && Date.parse(schedule!.nextRunAt!) > Date.parse(schedule!.lastRunAt!))
    assert.ok(jobs.some((j) => j.id === schedule?.lastJobId))
  })

  it('creates, changes, disables, enables and deletes schedules at run time; the change reaches every instance', async () => {
    const { nodes } = await startCluster(2)
    for (const node of nodes) node.tidings.registerJobs(tick)
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
    await b.tidings.scheduler.start()
    const created = await a.tidings.scheduler.create({ name: 'nightly', cron: '0 3 * * *', job: 'test.tick', payload: { label: 'n' }, timezone: 'Europe/Paris' })
    assert.equal(created.enabled, true)
    assert.equal(created.timezone, 'Europe/Paris')
    assert.ok(created.nextRunAt !== null)
    assert.equal(new Date(created.nextRunAt).toLocaleString('en-GB', { timeZone: 'Europe/Paris', hour: '2-digit', minute: '2-digit' }), '03:00')
    await assert.rejects(a.tidings.scheduler.create({ name: 'nightly', cron: '0 3 * * *', job: 'test.tick', payload: { label: 'n' } }), (e: unknown) => isTidingsError(e, 'TIDINGS_ERR_SCHEDULE_EXISTS'))

    const disabled = await a.tidings.scheduler.disable('nightly')
    assert.equal(disabled.enabled, false)
    assert.equal(disabled.nextRunAt, null)
    assert.equal(disabled.revision, created.revision + 1)
    const changed = await a.tidings.scheduler.update('nightly', { cron: '*/5 * * * *', enabled: true })
    assert.equal(changed.cron, '*/5 * * * *')
    assert.equal(changed.enabled, true)
    assert.equal(new Date(changed.nextRunAt!).getUTCMinutes() % 5, 0)
    assert.deepEqual((await b.tidings.scheduler.list()).map((s) => s.name), ['nightly'])
    await a.tidings.scheduler.remove('nightly')
    assert.equal(await b.tidings.scheduler.get('nightly'), null)
    await assert.rejects(a.tidings.scheduler.remove('nightly'), (e: unknown) => isTidingsError(e, 'TIDINGS_ERR_SCHEDULE_NOT_FOUND'))

    // A schedule enabled at run time on one instance fires from a scheduler on another.
    await a.tidings.scheduler.create({ name: 'soon', cron: '* * * * * *', job: 'test.tick', payload: { label: 's' } })
    const fired = await b.events.waitFor((e) => e.type === 'job.queued' && (e.data as { schedule: string | null }).schedule === 'soon', { timeoutMs: 5_000 })
    assert.equal(fired.job?.name, 'test.tick')
    await a.tidings.scheduler.disable('soon')
    await b.tidings.scheduler.stop()
  })

  it('refuses invalid schedules with a coded error and stores nothing', async () => {
    const { nodes } = await startCluster(1)
    const { tidings } = nodes[0]!
    tidings.registerJobs(tick)
    const code = (p: Promise<unknown>): Promise<string | undefined> => p.then(() => undefined, (err: unknown) => (isTidingsError(err) ? err.code : String(err)))
    assert.equal(await code(tidings.schedule('bad', 'not a cron', 'test.tick', { label: 'x' })), 'TIDINGS_ERR_INVALID_SCHEDULE')
    assert.equal(await code(tidings.schedule('bad', '61 * * * *', 'test.tick', { label: 'x' })), 'TIDINGS_ERR_INVALID_SCHEDULE')
    assert.equal(await code(tidings.schedule('bad', '* * * * *', 'test.tick', { label: 'x' }, { timezone: 'Mars/Olympus' })), 'TIDINGS_ERR_INVALID_SCHEDULE')
    assert.equal(await code(tidings.schedule('bad name', '* * * * *', 'test.tick', { label: 'x' })), 'TIDINGS_ERR_INVALID_SCHEDULE')
    assert.equal(await code(tidings.schedule('bad', '* * * * *', 'test.nope', {})), 'TIDINGS_ERR_UNKNOWN_JOB')
    assert.equal(await code(tidings.schedule('bad', '* * * * *', 'test.tick', { label: 3 })), 'TIDINGS_ERR_INVALID_PAYLOAD')
    assert.deepEqual(await tidings.scheduler.list(), [])
  })
})
