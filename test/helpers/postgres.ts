/**
 * PostgreSQL test helpers: the test database URL, a random schema per run (dropped afterwards),
 * bounded polling for conditions no event announces, and a throwaway cluster of this test
 * process's own (initdb + pg_ctl in a temporary directory, on a spare loopback port) for restart
 * tests. The shared cluster on 5432 is never stopped or reconfigured: tests only create and drop
 * their own schemas there.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { after } from 'node:test'
import { promisify } from 'node:util'
import pg from 'pg'

const execFileP = promisify(execFile)

/** The shared test cluster: `DATABASE_URL`, else the trust-auth cluster on 127.0.0.1:5432. */
export const POSTGRES_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres'

/** A fresh schema name for one test run: `tidings_t_<label>_<hex>`. */
export function testSchema(label: string): string {
  return `tidings_t_${label}_${randomBytes(4).toString('hex')}`
}

/** A pool on `url` whose idle-connection errors (a restart) are expected, not fatal. */
export function testPool(url = POSTGRES_URL, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max })
  pool.on('error', () => {})
  return pool
}

/** Drops the schemas (and everything in them) if they exist. */
export async function dropSchemas(url: string, schemas: Iterable<string>): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS ${client.escapeIdentifier(s)} CASCADE`)
  } finally {
    await client.end()
  }
}

/** Polls `check` until it returns true; fails after `timeoutMs`. For conditions no event announces. */
export async function waitUntil(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000, everyMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/** Backend pids of the sessions whose last statement was `LISTEN` on `channel`. */
export async function listenerPids(pool: pg.Pool, channel: string): Promise<number[]> {
  const { rows } = await pool.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE query = $1`, [`LISTEN "${channel}"`])
  return rows.map((r) => r.pid)
}

function binDir(): string | null {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return null
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a))
  return versions.length > 0 ? join(root, versions[0]!, 'bin') : null
}

async function sparePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (address === null || typeof address === 'string') throw new Error('no spare port')
  return address.port
}

/** Null when initdb and pg_ctl can run here; otherwise why not (loudly, or thrown under TIDINGS_REQUIRE_ENGINES=1). */
export function postgresBinariesAvailable(): string | null {
  const bin = binDir()
  const reason = bin === null ? 'no /usr/lib/postgresql/*/bin/initdb' : null
  if (reason === null) return null
  const message = `cannot start a private PostgreSQL cluster: ${reason}`
  if (process.env.TIDINGS_REQUIRE_ENGINES === '1') throw new Error(message)
  process.stderr.write(`\n!!! SKIPPING the PostgreSQL restart test: ${message}\n\n`)
  return message
}

/**
 * A PostgreSQL cluster this test process created: its own data directory under the system temp
 * directory, its own port on 127.0.0.1, its socket in that directory. Run as the `postgres` OS
 * user when the tests run as root (initdb refuses root). Stopped and removed after the tests.
 */
export class OwnPostgresCluster {
  readonly dir: string
  readonly port: number
  readonly #bin: string
  readonly #asPostgres: boolean
  #running = false

  private constructor(dir: string, port: number, bin: string) {
    this.dir = dir
    this.port = port
    this.#bin = bin
    this.#asPostgres = userInfo().uid === 0
  }

  /** Creates and starts a cluster; resolves once it accepts connections. */
  static async start(): Promise<OwnPostgresCluster> {
    const bin = binDir()
    if (bin === null) throw new Error('no PostgreSQL binaries under /usr/lib/postgresql')
    const dir = mkdtempSync(join(tmpdir(), 'tidings-pg-'))
    const cluster = new OwnPostgresCluster(dir, await sparePort(), bin)
    clusters.add(cluster)
    if (cluster.#asPostgres) {
      const { stdout } = await execFileP('id', ['-u', 'postgres'])
      const { stdout: gid } = await execFileP('id', ['-g', 'postgres'])
      chownSync(dir, Number(stdout.trim()), Number(gid.trim()))
    }
    await cluster.#run('initdb', ['-D', cluster.#data, '-A', 'trust', '-U', 'postgres', '-N'])
    await cluster.startServer()
    return cluster
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`
  }

  get #data(): string {
    return join(this.dir, 'data')
  }

  /** Starts the server (again) and waits until it accepts connections. */
  async startServer(): Promise<void> {
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1`
    await this.#run('pg_ctl', ['-D', this.#data, '-o', options, '-l', join(this.dir, 'server.log'), '-w', '-t', '60', 'start'])
    this.#running = true
  }

  /** Stops the server: `immediate` is a crash (recovery on the next start), `fast` a clean stop. */
  async stopServer(mode: 'immediate' | 'fast' = 'immediate'): Promise<void> {
    if (!this.#running) return
    await this.#run('pg_ctl', ['-D', this.#data, '-m', mode, '-w', '-t', '60', 'stop'])
    this.#running = false
  }

  /** Stops the server and removes its directory. */
  async destroy(): Promise<void> {
    await this.stopServer('immediate').catch(() => {})
    clusters.delete(this)
    rmSync(this.dir, { recursive: true, force: true })
  }

  async #run(tool: string, args: string[]): Promise<void> {
    const path = join(this.#bin, tool)
    const [cmd, argv] = this.#asPostgres ? ['runuser', ['-u', 'postgres', '--', path, ...args]] : [path, args]
    await execFileP(cmd, argv, { timeout: 90_000, cwd: this.dir })
  }
}

const clusters = new Set<OwnPostgresCluster>()
after(async () => {
  for (const c of [...clusters]) await c.destroy()
})
