/**
 * Seed 001 on Tidings: a RabbitMQ shop whose workers publish job status messages to the
 * `events.topic` exchange. Jobs are enqueued over HTTP on one hub and run by a worker on another;
 * the bridges of both hubs ingest the status messages once, and each team's SSE clients on either
 * hub get their team's events and no other team's.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { connect, type ChannelModel, type ConfirmChannel } from 'amqplib'
import { z } from 'zod'
import type { TidingsEvent } from '../../src/core/envelope.js'
import { MemoryJobQueue } from '../../src/engines/memory/job-queue.js'
import { RabbitBridge, RabbitEventLog, RabbitJobQueue, type BridgeLog } from '../../src/engines/rabbitmq/index.js'
import { engineAvailable } from '../helpers/engines.js'
import { eventsUrl, postJson, signToken, SseRecorder, startTestServer, TEST_SECRET, type TestServer } from '../helpers/harness.js'
import { AMQP_URL, closeConnections, deleteQueues, rabbitmqctlAvailable, testName } from '../helpers/rabbitmq.js'

const skip = await engineAvailable('rabbitmq')

/** A plain amqplib publisher, standing in for seed 001's Celery workers and services. */
async function topicPublisher(): Promise<{ conn: ChannelModel; ch: ConfirmChannel; publish(exchange: string, key: string, body: unknown, options?: { messageId?: string }): Promise<void> }> {
  const conn = await connect(AMQP_URL)
  conn.on('error', () => undefined)
  const ch = await conn.createConfirmChannel()
  return {
    conn,
    ch,
    async publish(exchange, key, body, options = {}) {
      ch.publish(exchange, key, Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), { contentType: 'application/json', ...options })
      await ch.waitForConfirms()
    },
  }
}

/** Every entry of the log, from its origin. */
async function logEvents(log: RabbitEventLog): Promise<TidingsEvent[]> {
  const events: TidingsEvent[] = []
  let pos: string | null = log.origin
  for (;;) {
    const page = await log.read(pos, { limit: 500 })
    events.push(...page.entries.map((e) => e.event))
    if (page.entries.length === 0 || page.next === null || page.next === pos) return events
    pos = page.next
  }
}

/** Resolves once `count` messages were ingested or found duplicate across `bridges`. */
function handled(bridges: readonly RabbitBridge[], count: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0
    const bump = (): void => {
      if (++seen === count) resolve()
    }
    for (const b of bridges) {
      b.on('ingested', bump)
      b.on('duplicate', bump)
      b.on('malformed', bump)
    }
  })
}

describe('seed 001 on RabbitMQ', { skip: skip ?? false }, () => {
  const run = testName('seed001')
  const exchange = `${run}.events.topic`
  const closers: (() => Promise<void>)[] = []
  after(async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined)
    await deleteQueues([], run, [exchange, `${run}.jobs`, `${run}.x2`])
  })

  describe('enqueue over HTTP → worker → team status events, on two hubs', () => {
    const hubs: TestServer[] = []
    let publisher: Awaited<ReturnType<typeof topicPublisher>>

    before(async () => {
      publisher = await topicPublisher()
      closers.push(() => publisher.conn.close())
      // One record store shared by both "processes", as a PostgreSQL job store would be.
      const records = new MemoryJobQueue()
      closers.push(() => records.close())
      for (let i = 0; i < 2; i++) {
        const log = new RabbitEventLog({ url: AMQP_URL, stream: `${run}.events` })
        const jobs = new RabbitJobQueue({ url: AMQP_URL, prefix: `${run}.jobs`, records, ownsRecords: false })
        const hub = await startTestServer({ events: log, jobs, auth: { jwt: { secret: TEST_SECRET } } })
        // The legacy worker's job: report status the seed 001 way, on the topic exchange.
        hub.tidings.defineJob({
          name: 'environments.create',
          schema: z.object({ team: z.string(), env: z.string() }),
          handler: async (ctx) => {
            for (const status of ['running', 'completed']) {
              await publisher.publish(exchange, `team.${ctx.payload.team}.job.${ctx.job.id}.status`, {
                job_id: ctx.job.id,
                team_id: ctx.payload.team,
                status,
                message: `environment ${ctx.payload.env} ${status}`,
                env_name: ctx.payload.env,
                occurred_at: Math.floor(Date.now() / 1000),
              })
            }
            return { env: ctx.payload.env }
          },
        })
        const bridge = new RabbitBridge(log, { url: AMQP_URL, exchange, queue: `${run}.bridge` })
        await bridge.start()
        closers.push(
          async () => {
            await log.close()
            await jobs.close()
          },
          () => hub.close(),
          () => bridge.close(),
        )
        hubs.push(hub)
      }
      // The worker runs beside hub 0 only: jobs enqueued on hub 1 reach it through RabbitMQ.
      await hubs[0]!.tidings.startWorker({ concurrency: 2, heartbeatMs: 1_000 })
    })

    it('delivers each team its own job status, once, on every hub, and nothing of another team', { timeout: 60_000 }, async () => {
      const enqueue = ['environments.*']
      const acme = await signToken({ sub: 'ann', tenant: 'acme', tidings: { subscribe: ['team:acme:*'], enqueue } })
      // A pattern wide enough to name other teams' channels: tenant isolation must still hold.
      const globex = await signToken({ sub: 'gus', tenant: 'globex', tidings: { subscribe: ['team:*'], enqueue } })
      const types = ['job.status']
      const acmeOn0 = new SseRecorder(eventsUrl(hubs[0]!.url, ['team:acme:*']), { types, token: acme })
      const acmeOn1 = new SseRecorder(eventsUrl(hubs[1]!.url, ['team:acme:*']), { types, token: acme })
      const globexOn1 = new SseRecorder(eventsUrl(hubs[1]!.url, ['team:*']), { types, token: globex })
      await Promise.all([acmeOn0.opened(), acmeOn1.opened(), globexOn1.opened()])

      const a = await postJson(`${hubs[1]!.url}/v1/jobs`, { name: 'environments.create', payload: { team: 'acme', env: 'staging' } }, acme)
      assert.equal(a.status, 202)
      const acmeJob: string = a.body.job.id
      await Promise.all([acmeOn0.waitFor(2, 30_000), acmeOn1.waitFor(2, 30_000)])
      // The log is one total order: globex's own events come after acme's, so once globex has
      // them, any acme event that leaked would already have arrived.
      const g = await postJson(`${hubs[0]!.url}/v1/jobs`, { name: 'environments.create', payload: { team: 'globex', env: 'prod' } }, globex)
      assert.equal(g.status, 202)
      const globexJob: string = g.body.job.id
      await globexOn1.waitFor(2, 30_000)

      for (const client of [acmeOn0, acmeOn1]) {
        assert.deepEqual(
          client.events.map((e) => [e.data.channels, e.data.tenant, (e.data.data as { status: string }).status]),
          [
            [[`team:acme:job:${acmeJob}`], 'acme', 'running'],
            [[`team:acme:job:${acmeJob}`], 'acme', 'completed'],
          ],
        )
      }
      assert.deepEqual(acmeOn0.events.map((e) => e.data.id), acmeOn1.events.map((e) => e.data.id), 'both hubs deliver the same events')
      assert.deepEqual(
        globexOn1.events.map((e) => [e.data.channels, e.data.tenant]),
        [
          [[`team:globex:job:${globexJob}`], 'globex'],
          [[`team:globex:job:${globexJob}`], 'globex'],
        ],
      )
      const job = await fetch(`${hubs[0]!.url}/v1/jobs/${acmeJob}`, { headers: { authorization: `Bearer ${acme}` } }).then((r) => r.json())
      assert.equal(job.status, 'succeeded')
      for (const c of [acmeOn0, acmeOn1, globexOn1]) c.close()
    })
  })

  describe('the bridge', () => {
    it('ingests each message once however many bridges run, mapping routing keys to team channels and tenants', { timeout: 30_000 }, async () => {
      const stream = `${run}.bridged`
      const logs = [0, 1, 2].map(() => new RabbitEventLog({ url: AMQP_URL, stream }))
      const bridges = logs.map((log) => new RabbitBridge(log, { url: AMQP_URL, exchange: `${run}.x2`, queue: `${run}.x2.bridge`, bindings: ['team.#'] }))
      closers.push(async () => {
        for (const b of bridges) await b.close()
        for (const l of logs) await l.close()
      })
      await Promise.all(bridges.map((b) => b.start()))
      const publisher = await topicPublisher()
      closers.push(() => publisher.conn.close())
      const published = 40
      const done = handled(bridges, published + 3)
      for (let i = 0; i < published; i++) {
        await publisher.publish(`${run}.x2`, `team.t${i % 2}.job.j${i}.status`, { job_id: `j${i}`, team_id: `t${i % 2}`, status: 'running', occurred_at: 1_767_225_600 + i })
      }
      // A publisher that sends one message twice (same message id), and two it must not ingest.
      await publisher.publish(`${run}.x2`, 'team.t0.job.j0.status', { job_id: 'j0', status: 'running', occurred_at: 1_767_225_600 }, { messageId: 'fixed-id' })
      await publisher.publish(`${run}.x2`, 'team.t0.job.j0.status', { job_id: 'j0', status: 'running', occurred_at: 1_767_225_600 }, { messageId: 'fixed-id' })
      await publisher.publish(`${run}.x2`, 'team.t0', { no: 'job' })
      await publisher.publish(`${run}.x2`, 'team.t0.job.j1.status', 'not json')
      await done.catch(() => undefined)
      await done
      const events = await logEvents(logs[0]!)
      assert.equal(events.length, published + 1, 'each message once, the repeated id once')
      assert.equal(new Set(events.map((e) => e.id)).size, events.length)
      const first = events.find((e) => (e.data as { job_id?: string }).job_id === 'j3')!
      assert.deepEqual(first.channels, ['team:t1:job:j3'])
      assert.equal(first.tenant, 't1')
      assert.equal(first.type, 'job.status')
      assert.equal(first.occurredAt, new Date((1_767_225_600 + 3) * 1000).toISOString())
      const counts = bridges.map((b) => b.counts)
      assert.equal(counts.reduce((s, c) => s + c.ingested, 0), published + 1)
      assert.equal(counts.reduce((s, c) => s + c.duplicate, 0), 1)
      assert.equal(counts.reduce((s, c) => s + c.malformed, 0), 2)
      assert.deepEqual(
        events.filter((e) => e.channels[0]!.startsWith('team:t0:')).map((e) => (e.data as { job_id: string }).job_id).slice(0, 5),
        ['j0', 'j2', 'j4', 'j6', 'j8'],
        'one active consumer keeps publish order',
      )
    })

    it('a message redelivered after its bridge died between the append and the ack is not appended again', { timeout: 60_000 }, async (t) => {
      const ctl = await rabbitmqctlAvailable()
      if (ctl !== null) {
        t.skip(ctl)
        return
      }
      const stream = `${run}.redelivered`
      const logA = new RabbitEventLog({ url: AMQP_URL, stream })
      const logB = new RabbitEventLog({ url: AMQP_URL, stream })
      const nameA = `${run}-bridge-a`
      let cut = false
      // Bridge A's log appends, then A's connection dies before A can acknowledge.
      const dying: BridgeLog = {
        append: async (events) => {
          const positions = await logA.append(events)
          if (!cut) {
            cut = true
            await closeConnections(nameA)
          }
          return positions
        },
        eventIdsSince: (ms) => logA.eventIdsSince(ms),
      }
      const options = { url: AMQP_URL, exchange: `${run}.x2`, queue: `${run}.x3.bridge`, bindings: ['team.*.job.redelivered.*'] }
      const a = new RabbitBridge(dying, { ...options, connectionName: nameA })
      await a.start()
      const b = new RabbitBridge(logB, options)
      await b.start()
      closers.push(async () => {
        await a.close()
        await b.close()
        await logA.close()
        await logB.close()
      })
      const duplicate = new Promise<void>((resolve) => b.once('duplicate', () => resolve()))
      const ingested = new Promise<void>((resolve) => a.once('ingested', () => resolve()))
      const publisher = await topicPublisher()
      closers.push(() => publisher.conn.close())
      await publisher.publish(`${run}.x2`, 'team.t9.job.redelivered.status', { status: 'once' })
      await Promise.all([duplicate, ingested])
      assert.equal(a.counts.ingested, 1)
      assert.deepEqual(b.counts, { ingested: 0, duplicate: 1, malformed: 0, failed: 0 })
      const events = await logEvents(logB)
      assert.deepEqual(events.map((e) => e.channels[0]), ['team:t9:job:redelivered'], 'in the log once')
    })
  })
})
