/**
 * RabbitMQ test helpers: names unique to one run (every queue and exchange a test declares is
 * deleted afterwards), a plain amqplib client to stand in for other services, `rabbitmqctl` to cut
 * one connection or stop the broker's app, and a wait until the broker answers again.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { connect, type Channel, type ChannelModel } from 'amqplib'
import { engineUrl } from './engines.js'

const execFileP = promisify(execFile)

/** The AMQP URL tests use. */
export const AMQP_URL = engineUrl('rabbitmq')

/** A name prefix unique to this run: `tidings-test.<label>.<hex>`. */
export function testName(label = 't'): string {
  return `tidings-test.${label}.${randomBytes(4).toString('hex')}`
}

/** Opens a plain amqplib connection and channel, runs `fn`, closes both. */
export async function withChannel<T>(fn: (ch: Channel, conn: ChannelModel) => Promise<T>, url = AMQP_URL): Promise<T> {
  const conn = await connect(url)
  conn.on('error', () => undefined)
  try {
    const ch = await conn.createChannel()
    ch.on('error', () => undefined)
    return await fn(ch, conn)
  } finally {
    await conn.close().catch(() => undefined)
  }
}

/** Every queue on the broker whose name starts with `prefix` (by `rabbitmqctl`; empty if it cannot run). */
export async function listQueues(prefix: string): Promise<string[]> {
  try {
    const { stdout } = await execFileP('rabbitmqctl', ['list_queues', '-q', '--no-table-headers', 'name'], { timeout: 20_000 })
    return stdout.split('\n').map((l) => l.trim()).filter((name) => name.startsWith(prefix))
  } catch {
    return []
  }
}

/** Deletes the named queues and every queue whose name starts with `prefix`, and the named exchanges. */
export async function deleteQueues(names: Iterable<string>, prefix?: string, exchanges: Iterable<string> = []): Promise<void> {
  const all = new Set(names)
  if (prefix !== undefined) for (const q of await listQueues(prefix)) all.add(q)
  await withChannel(async (_ch, conn) => {
    for (const name of all) {
      const ch = await conn.createChannel()
      ch.on('error', () => undefined)
      await ch.deleteQueue(name).catch(() => undefined)
      await ch.close().catch(() => undefined)
    }
    for (const name of exchanges) {
      const ch = await conn.createChannel()
      ch.on('error', () => undefined)
      await ch.deleteExchange(name).catch(() => undefined)
      await ch.close().catch(() => undefined)
    }
  })
}

/** Closes, on the broker's side, every connection whose client-given name starts with `prefix`; resolves to how many. */
export async function closeConnections(prefix: string): Promise<number> {
  const { stdout } = await execFileP('rabbitmqctl', ['list_connections', '-q', '--no-table-headers', 'pid', 'client_properties'], { timeout: 20_000 })
  let closed = 0
  for (const line of stdout.split('\n')) {
    const pid = line.match(/^\s*(<[^>]+>)/)?.[1]
    const name = line.match(/\{"connection_name",(?:longstr,)?"([^"]*)"\}/)?.[1]
    if (pid === undefined || name === undefined || !name.startsWith(prefix)) continue
    await execFileP('rabbitmqctl', ['close_connection', pid, 'tidings test: simulated connection loss'], { timeout: 20_000 })
    closed++
  }
  return closed
}

/** Runs `rabbitmqctl <args>`. */
export async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await execFileP('rabbitmqctl', args, { timeout: 60_000 })
  return stdout
}

/** Resolves once an AMQP connection opens and a channel answers; throws after `ms`. */
export async function waitForBroker(ms = 60_000, url = AMQP_URL): Promise<void> {
  const end = Date.now() + ms
  for (;;) {
    try {
      await withChannel(async (ch) => {
        await ch.checkExchange('amq.direct')
      }, url)
      return
    } catch (err) {
      if (Date.now() > end) throw new Error(`RabbitMQ did not answer within ${ms} ms`, { cause: err })
      // Nothing to await while the broker boots: poll the port.
      await sleep(200)
    }
  }
}

/** Null when `rabbitmqctl` can talk to the local node; otherwise why not (printed, or thrown under TIDINGS_REQUIRE_ENGINES=1). */
export async function rabbitmqctlAvailable(): Promise<string | null> {
  try {
    await execFileP('rabbitmqctl', ['status'], { timeout: 30_000 })
    return null
  } catch (err) {
    const message = `rabbitmqctl cannot reach the local node: ${(err as Error).message.split('\n')[0]}`
    if (process.env.TIDINGS_REQUIRE_ENGINES === '1') throw new Error(message, { cause: err })
    process.stderr.write(`\n!!! SKIPPING rabbitmq fault tests: ${message}\n\n`)
    return message
  }
}
