/**
 * NATS test helpers: unique stream, subject and bucket names per run (every stream whose name
 * starts with the run's prefix is deleted afterwards), and private `nats-server` processes on spare
 * loopback ports for restart tests. Only servers started here are ever stopped, by their own pid;
 * the machine's server on 4222 is never touched.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after } from 'node:test'
import { promisify } from 'node:util'
import { connect } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'

const execFileP = promisify(execFile)

/** The nats-server binary tests start (Debian's package puts it in /usr/sbin). */
export const NATS_SERVER_BIN = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server'

/** Names for one test run: streams `<stream>_<n>`, subjects `<subject>.<n>`, buckets `<bucket>_<n>`. */
export interface TestNames {
  /** Prefix of every stream (KV buckets are streams `KV_<bucket>`). */
  readonly stream: string
  readonly subject: string
  readonly bucket: string
}

/** Fresh names for one run. */
export function testNames(label = 't'): TestNames {
  const r = randomBytes(4).toString('hex')
  return { stream: `TIDINGS_TEST_${label}_${r}`, subject: `tidings-test.${label}-${r}`, bucket: `tidings_test_${label}_${r}` }
}

/** Deletes every stream whose name starts with one of `prefixes` (KV buckets included: pass `KV_<bucket>`). */
export async function deleteStreams(url: string, prefixes: readonly string[]): Promise<number> {
  const nc = await connect({ servers: url, maxReconnectAttempts: 1 })
  try {
    const jsm = await jetstreamManager(nc)
    let deleted = 0
    for await (const name of jsm.streams.names()) {
      if (prefixes.some((p) => name.startsWith(p))) {
        await jsm.streams.delete(name)
        deleted++
      }
    }
    return deleted
  } finally {
    await nc.close()
  }
}

/** Null when `nats-server` can run here; otherwise why not (loudly, or thrown under TIDINGS_REQUIRE_ENGINES=1). */
export async function natsBinaryAvailable(): Promise<string | null> {
  try {
    await execFileP(NATS_SERVER_BIN, ['--version'], { timeout: 10_000 })
    return null
  } catch (err) {
    const message = `${NATS_SERVER_BIN} cannot run: ${(err as Error).message}`
    if (process.env.TIDINGS_REQUIRE_ENGINES === '1') throw new Error(message, { cause: err })
    process.stderr.write(`\n!!! SKIPPING nats process suites: ${message}\n\n`)
    return message
  }
}

/** A free TCP port on 127.0.0.1. */
export async function sparePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

/** A nats-server with JetStream that this test process started, on 127.0.0.1 and a store directory of its own. */
export class OwnNatsServer {
  readonly dir: string
  #child: ChildProcess | undefined

  private constructor(readonly port: number) {
    this.dir = mkdtempSync(join(tmpdir(), 'tidings-nats-'))
  }

  /** Starts a server on a spare loopback port; resolves once it accepts clients. */
  static async start(): Promise<OwnNatsServer> {
    const server = new OwnNatsServer(await sparePort())
    servers.add(server)
    await server.#spawn()
    return server
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`
  }

  /** The pid of the running server. */
  get pid(): number | undefined {
    return this.#child?.pid
  }

  /** Kills the server by its pid (SIGKILL: a crash) and waits for it to exit. */
  async kill(): Promise<void> {
    const child = this.#child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    process.kill(child.pid!, 'SIGKILL')
    await exited
    this.#child = undefined
  }

  /** Starts it again on the same port and store directory. */
  async restart(): Promise<void> {
    await this.kill()
    await this.#spawn()
  }

  /** Kills it and removes its directory. */
  async stop(): Promise<void> {
    await this.kill()
    servers.delete(this)
    rmSync(this.dir, { recursive: true, force: true })
  }

  async #spawn(): Promise<void> {
    const child = spawn(NATS_SERVER_BIN, ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.dir], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.#child = child
    await new Promise<void>((resolve, reject) => {
      let out = ''
      const onData = (chunk: Buffer): void => {
        out += chunk.toString()
        if (out.includes('Server is ready')) {
          child.stderr!.off('data', onData)
          child.stderr!.resume()
          resolve()
        }
      }
      child.stderr!.on('data', onData)
      child.stdout!.resume()
      child.once('exit', (code) => reject(new Error(`nats-server exited (${code}) before it was ready:\n${out.slice(-2000)}`)))
    })
  }
}

const servers = new Set<OwnNatsServer>()
after(async () => {
  for (const s of [...servers]) await s.stop()
})
