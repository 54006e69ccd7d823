import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { after, describe, it } from 'node:test'
import { PostgresEventLog } from '../../src/engines/postgres/event-log.js'
import { PostgresWebhookStore } from '../../src/engines/postgres/webhook-store.js'
import { RedisJobQueue } from '../../src/engines/redis/job-queue.js'
import { createTidings } from '../../src/tidings.js'
import { engineAvailable, engineUrl } from '../helpers/engines.js'
import { dropSchemas, POSTGRES_URL, testSchema } from '../helpers/postgres.js'
import { deleteKeys, testPrefix } from '../helpers/redis.js'
import { Receiver } from '../helpers/webhooks.js'

const root = new URL('../../', import.meta.url).pathname
const skipPg = await engineAvailable('postgres')
const skipRedis = await engineAvailable('redis')
const children = new Set<ChildProcess>()
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
})

/** Spawns the fixture process and resolves once it prints `ready`. */
async function spawnDispatcher(env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/webhooks-process.ts'], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  let out = ''
  let err = ''
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes('ready\n')) resolve()
    })
    child.once('exit', (code) => reject(new Error(`the dispatcher process exited (${code}) before it was ready:\n${err}`)))
  })
  return child
}

describe('webhooks across processes: PostgreSQL store and log, Redis jobs', { skip: skipPg ?? skipRedis ?? false }, () => {
  it('a dispatching process killed with SIGKILL mid-stream and started again loses no event', async () => {
    const schema = testSchema('whp')
    const prefix = testPrefix('whp')
    const databaseUrl = POSTGRES_URL
    const redisUrl = engineUrl('redis')
    const env = { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, WH_SCHEMA: schema, WH_PREFIX: prefix, TIDINGS_LOG_LEVEL: 'silent' }
    const receiver = new Receiver()
    await receiver.start()
    const store = new PostgresWebhookStore({ connectionString: databaseUrl, schema })
    const jobs = new RedisJobQueue({ url: redisUrl, prefix })
    const log = new PostgresEventLog({ connectionString: databaseUrl, schema })
    const producer = createTidings({ events: log, jobs, webhooks: { store, ssrf: { allowPrivate: true } } })
    try {
      await producer.ready()
      const ep = await producer.webhooks.create({ url: receiver.url, eventTypes: ['order.*'] })
      receiver.secret = ep.secret
      const first = await spawnDispatcher(env)
      const ids: string[] = []
      for (let i = 0; i < 30; i++) ids.push((await producer.publish({ type: 'order.created', channels: ['shop'], data: { i } })).id)
      await receiver.waitFor(5)
      first.kill('SIGKILL')
      await new Promise((resolve) => first.once('exit', resolve))
      const deliveredBeforeRestart = new Set(receiver.ids()).size
      for (let i = 30; i < 60; i++) ids.push((await producer.publish({ type: 'order.created', channels: ['shop'], data: { i } })).id)

      await spawnDispatcher(env)
      await receiver.waitForIds(ids, 30_000)
      const counts = new Map<string, number>()
      for (const id of receiver.ids()) counts.set(id, (counts.get(id) ?? 0) + 1)
      assert.deepEqual([...counts.keys()].sort(), [...ids].sort(), 'every event, and nothing else, was delivered')
      assert.ok(receiver.hooks.length - ids.length <= 4, 'only attempts in flight when the process died (its worker ran 4 at once) were repeated, with the same webhook-id')
      assert.ok(deliveredBeforeRestart < 60, 'the first process died before delivering everything')
      assert.ok(receiver.hooks.every((h) => h.verified === true))
      assert.ok((await store.getEndpoint(ep.id))!.cursor !== ep.cursor, 'the cursor is stored in PostgreSQL')
    } finally {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
      await producer.close()
      await store.close()
      await jobs.close()
      await log.close()
      await deleteKeys(redisUrl, prefix)
      await dropSchemas(databaseUrl, [schema])
    }
  })
})
