/**
 * RabbitMQ's app stopped and started (`rabbitmqctl stop_app` / `start_app`) while events are
 * published and jobs enqueued: no acknowledged event or job is lost, and the hub's tail and the
 * worker's wake-up consumers come back by themselves. This stops the machine's shared broker, so
 * the test is short, always starts the app again and waits until the broker answers.
 */
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { z } from 'zod'
import { MemoryJobQueue } from '../../src/engines/memory/job-queue.js'
import { RabbitEventLog, RabbitJobQueue } from '../../src/engines/rabbitmq/index.js'
import { engineAvailable } from '../helpers/engines.js'
import { eventsUrl, SseRecorder, startTestServer } from '../helpers/harness.js'
import { signal } from '../helpers/jobs.js'
import { AMQP_URL, deleteQueues, rabbitmqctl, rabbitmqctlAvailable, testName, waitForBroker } from '../helpers/rabbitmq.js'

const skip = (await engineAvailable('rabbitmq')) ?? (await rabbitmqctlAvailable())

describe('RabbitMQ stopped and started mid-publish', { skip: skip ?? false }, () => {
  const run = testName('faults')
  const closers: (() => Promise<void>)[] = []
  after(async () => {
    // Close first: a log still open would declare its stream again once it saw it deleted.
    for (const close of closers.reverse()) await close().catch(() => undefined)
    await deleteQueues([], run, [`${run}.jobs`])
  })

  it('loses no acknowledged event or job; the hub and the worker reconnect unaided', { timeout: 120_000 }, async () => {
    const log = new RabbitEventLog({ url: AMQP_URL, stream: `${run}.events`, retryMs: 50 })
    const jobs = new RabbitJobQueue({ url: AMQP_URL, prefix: `${run}.jobs`, records: new MemoryJobQueue(), retryMs: 50 })
    const hub = await startTestServer({ events: log, jobs })
    closers.push(
      () => log.close(),
      () => jobs.close(),
      () => hub.close(),
    )
    const ran = new Map<string, { promise: Promise<void>; resolve: () => void }>()
    const job = (id: string) => {
      let s = ran.get(id)
      if (s === undefined) ran.set(id, (s = signal()))
      return s
    }
    hub.tidings.defineJob({ name: 'fault.job', schema: z.object({ n: z.int() }), handler: (ctx) => job(ctx.job.id).resolve() })
    // Polls only every ten minutes: a job enqueued after the restart runs in time only if the
    // worker's wake-up consumer came back.
    await hub.tidings.startWorker({ concurrency: 8, heartbeatMs: 600_000, pollMs: 600_000 })
    const client = new SseRecorder(eventsUrl(hub.url, ['f']), { types: ['f.tick', 'f.done'] })
    await client.opened()

    const acked: string[] = []
    let failed = 0
    let i = 0
    const publishOne = async (type = 'f.tick'): Promise<boolean> => {
      try {
        const [p] = await hub.tidings.publish([{ type, channels: ['f'], data: i++ }])
        acked.push(p!.id)
        return true
      } catch {
        failed++
        return false
      }
    }
    const enqueued: string[] = []
    let notEnqueued = 0
    const enqueue = async (): Promise<boolean> => {
      try {
        enqueued.push(await hub.tidings.enqueue('fault.job', { n: enqueued.length }))
        return true
      } catch {
        // Its job.queued event could not be published: not acknowledged (the record may exist).
        notEnqueued++
        return false
      }
    }

    let pumping = true
    let brokerBack = false
    let ackedAfterRestart = 0
    let restarted = false
    try {
      for (let k = 0; k < 5; k++) await publishOne()
      assert.ok(await enqueue())
      const pump = (async () => {
        for (let k = 0; pumping; k++) {
          const ok = k % 5 === 4 ? await enqueue() : await publishOne()
          if (ok && brokerBack) ackedAfterRestart++
          if (!ok) await new Promise((resolve) => setTimeout(resolve, 20))
        }
      })()
      await rabbitmqctl('stop_app')
      await rabbitmqctl('start_app')
      restarted = true
      await waitForBroker()
      brokerBack = true
      while (ackedAfterRestart < 10) await new Promise((resolve) => setTimeout(resolve, 20))
      pumping = false
      await pump
      assert.ok(await enqueue(), 'enqueueing works again after the restart')
      assert.ok(await publishOne('f.done'), 'publishing works again after the restart')
    } finally {
      pumping = false
      if (!restarted) await rabbitmqctl('start_app').catch(() => undefined)
      await waitForBroker()
    }

    // Log order: once f.done arrived, every event before it has.
    while (!client.events.some((e) => e.type === 'f.done')) await client.waitFor(client.events.length + 1, 60_000)
    const received = client.events.map((e) => e.data.id)
    assert.equal(new Set(received).size, received.length, 'no event twice on one connection')
    for (const id of acked) assert.ok(received.includes(id), `acknowledged event ${id} reached the subscriber`)
    assert.ok(failed + notEnqueued > 0, 'some calls failed while the broker was down (the test did stop it mid-publish)')
    await Promise.all(enqueued.map((id) => job(id).promise))
    for (const id of enqueued) assert.equal((await hub.tidings.jobs.get(id))?.status, 'succeeded')
    client.close()
  })
})
