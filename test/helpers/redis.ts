/**
 * Redis test helpers: a random key prefix per run (deleted afterwards), `redis-cli` as a
 * non-Node publisher, and private `redis-server` processes on spare loopback ports for restart
 * tests. Only servers started here are ever stopped, by their own pid.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after } from 'node:test'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'

const execFileP = promisify(execFile)

/** A fresh key prefix for one test run. */
export function testPrefix(label = 't'): string {
  return `tidings-test:${label}:${randomBytes(5).toString('hex')}`
}

/** Deletes every key under `prefix:` on the server at `url`. */
export async function deleteKeys(url: string, prefix: string): Promise<number> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  try {
    await client.connect()
    let cursor = '0'
    let deleted = 0
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) deleted += await client.del(...keys)
    } while (cursor !== '0')
    return deleted
  } finally {
    client.disconnect()
  }
}

/** Runs the real `redis-cli` binary and returns its trimmed output. */
export async function redisCli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await execFileP('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 10_000 })
  return stdout.trim()
}

/** Null when `redis-server` and `redis-cli` can run here; otherwise why not (loudly, or thrown under TIDINGS_REQUIRE_ENGINES=1). */
export async function redisBinariesAvailable(): Promise<string | null> {
  try {
    await execFileP('redis-server', ['--version'], { timeout: 10_000 })
    await execFileP('redis-cli', ['--version'], { timeout: 10_000 })
    return null
  } catch (err) {
    const message = `redis-server/redis-cli cannot run: ${(err as Error).message}`
    if (process.env.TIDINGS_REQUIRE_ENGINES === '1') throw new Error(message, { cause: err })
    process.stderr.write(`\n!!! SKIPPING redis process suites: ${message}\n\n`)
    return message
  }
}

async function sparePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

/** A redis-server this test process started, on 127.0.0.1 and a directory of its own. */
export class OwnRedisServer {
  readonly dir: string
  #child: ChildProcess | undefined

  private constructor(
    readonly port: number,
    readonly appendonly: boolean,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'tidings-redis-'))
  }

  /** Starts a server on a spare loopback port; resolves once it accepts connections. */
  static async start(options: { appendonly: boolean }): Promise<OwnRedisServer> {
    const server = new OwnRedisServer(await sparePort(), options.appendonly)
    servers.add(server)
    await server.#spawn()
    return server
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  /** The pid of the running server. */
  get pid(): number | undefined {
    return this.#child?.pid
  }

  /** Kills the server by its pid (SIGKILL: a crash, nothing flushed on the way out) and waits for it to exit. */
  async kill(): Promise<void> {
    const child = this.#child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    process.kill(child.pid!, 'SIGKILL')
    await exited
    this.#child = undefined
  }

  /** Starts it again on the same port and directory. */
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
    const args = [
      '--port', String(this.port),
      '--bind', '127.0.0.1',
      '--dir', this.dir,
      '--appendonly', this.appendonly ? 'yes' : 'no',
      '--save', '',
      '--daemonize', 'no',
      '--logfile', '',
    ]
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    this.#child = child
    await new Promise<void>((resolve, reject) => {
      let out = ''
      const onData = (chunk: Buffer): void => {
        out += chunk.toString()
        if (out.includes('Ready to accept connections')) {
          child.stdout!.off('data', onData)
          child.stdout!.resume()
          resolve()
        }
      }
      child.stdout!.on('data', onData)
      child.stderr!.resume()
      child.once('exit', (code) => reject(new Error(`redis-server exited (${code}) before it was ready:\n${out.slice(-2000)}`)))
    })
  }
}

const servers = new Set<OwnRedisServer>()
after(async () => {
  for (const s of [...servers]) await s.stop()
})
