/**
 * Engine servers for tests: is the server up on its loopback port? A suite skips when it is not,
 * and says so loudly; with TIDINGS_REQUIRE_ENGINES=1 (CI) a missing server fails the run instead.
 *
 *   const skip = await engineAvailable('redis')
 *   describe('…', { skip: skip ?? false }, () => { … })
 */
import { connect } from 'node:net'

/** The engines tests can run against. */
export type EngineName = 'redis' | 'postgres' | 'nats' | 'rabbitmq'

/** How long a probe waits for the server to answer. */
const PROBE_TIMEOUT_MS = 2_000

const ENGINES: Record<EngineName, { env: string; defaultUrl: string; defaultPort: number; hello?: { send: string; expect: string[] } }> = {
  redis: { env: 'REDIS_URL', defaultUrl: 'redis://127.0.0.1:6379', defaultPort: 6379, hello: { send: 'PING\r\n', expect: ['+PONG', '-NOAUTH'] } },
  postgres: { env: 'DATABASE_URL', defaultUrl: 'postgres://127.0.0.1:5432', defaultPort: 5432 },
  nats: { env: 'NATS_URL', defaultUrl: 'nats://127.0.0.1:4222', defaultPort: 4222, hello: { send: '', expect: ['INFO'] } },
  rabbitmq: { env: 'AMQP_URL', defaultUrl: 'amqp://127.0.0.1:5672', defaultPort: 5672 },
}

/** The URL tests use for an engine: its environment variable, else the loopback default. */
export function engineUrl(engine: EngineName): string {
  const e = ENGINES[engine]
  return process.env[e.env] || e.defaultUrl
}

const cache = new Map<EngineName, Promise<string | null>>()

/**
 * Null when the engine's server answers on its port; otherwise why not, after printing
 * `!!! SKIPPING <engine> suites: …` to stderr. Throws instead when TIDINGS_REQUIRE_ENGINES=1.
 */
export function engineAvailable(engine: EngineName): Promise<string | null> {
  let probe = cache.get(engine)
  if (probe === undefined) {
    probe = (async () => {
      const reason = await probeServer(engine)
      if (reason === null) return null
      const message = `${engine} server not reachable at ${engineUrl(engine)}: ${reason}`
      if (process.env.TIDINGS_REQUIRE_ENGINES === '1') {
        throw new Error(`${message} (TIDINGS_REQUIRE_ENGINES=1: start it, or unset the variable to skip)`)
      }
      process.stderr.write(`\n!!! SKIPPING ${engine} suites: ${message}\n!!! start it (see .ci/run) or set ${ENGINES[engine].env}; CI sets TIDINGS_REQUIRE_ENGINES=1 so this fails there\n\n`)
      return message
    })()
    cache.set(engine, probe)
  }
  return probe
}

function probeServer(engine: EngineName): Promise<string | null> {
  const e = ENGINES[engine]
  let host = '127.0.0.1'
  let port = e.defaultPort
  try {
    const url = new URL(engineUrl(engine))
    host = url.hostname.replace(/^\[|\]$/g, '') || host
    port = url.port ? Number(url.port) : e.defaultPort
  } catch {
    return Promise.resolve(`invalid ${e.env}`)
  }
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    let received = ''
    const finish = (reason: string | null): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(reason)
    }
    const timer = setTimeout(() => finish(`no answer within ${PROBE_TIMEOUT_MS} ms`), PROBE_TIMEOUT_MS)
    socket.on('error', (err) => finish(err.message))
    socket.on('connect', () => {
      if (e.hello === undefined) finish(null)
      else if (e.hello.send !== '') socket.write(e.hello.send)
    })
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1')
      if (e.hello === undefined) return
      if (e.hello.expect.some((x) => received.startsWith(x))) finish(null)
      else if (received.includes('\n')) finish(`unexpected answer ${JSON.stringify(received.slice(0, 80))}`)
    })
  })
}
