/**
 * `tidings dev` and `tidings serve`: the HTTP server around one Tidings instance, with a worker, the
 * scheduler and the webhook dispatcher in the same process (`dev` always, `serve` unless told
 * `--no-worker`).
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { TidingsError } from '../core/errors.js'
import { createLogger } from '../core/logger.js'
import type { AnyJobDefinition } from '../core/jobs/define.js'
import type { Worker } from '../core/jobs/worker.js'
import { createTidings, type Tidings } from '../tidings.js'
import { readServerConfig, type ServerConfig } from './config.js'
import { openEngines } from './engines.js'
import { demoReport } from './demo-job.js'
import { openWebhookStore } from './webhook-store.js'

/** Interval of the demo publisher. */
export const DEMO_INTERVAL_MS = 2_000
/** Default concurrency of the worker a server runs. */
export const DEFAULT_SERVER_WORKER_CONCURRENCY = 4

/** A running server. */
export interface RunningServer {
  readonly tidings: Tidings
  readonly server: Server
  readonly url: string
  /** The in-process worker; null when started without one. */
  readonly worker: Worker | null
  close(): Promise<void>
}

/** Options of {@link startServer}. */
export interface StartServerOptions {
  mode: 'dev' | 'serve'
  insecure?: boolean
  env?: NodeJS.ProcessEnv
  /** Where the loud warnings go. @defaultValue stderr */
  warn?: (line: string) => void
  /** Job definitions to register (the CLI loads them from `--jobs <module>`); `dev` adds `demo.report`. */
  jobs?: readonly AnyJobDefinition[]
  /** Run a worker and the scheduler in this process. @defaultValue true */
  worker?: boolean
  /** Jobs the in-process worker runs at once. @defaultValue {@link DEFAULT_SERVER_WORKER_CONCURRENCY} */
  concurrency?: number
}

/** Starts the server the CLI runs; resolves once it listens. */
export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const env = options.env ?? process.env
  const warn = options.warn ?? ((line: string) => process.stderr.write(line + '\n'))
  const config: ServerConfig = readServerConfig(env, options.mode === 'dev' ? '127.0.0.1' : '0.0.0.0')
  let open = false
  if (config.jwt === null) {
    if (options.mode === 'serve' && !options.insecure) throw new TidingsError('TIDINGS_ERR_INSECURE_REFUSED')
    open = true
    warn('')
    warn('  !!! Tidings is running WITHOUT AUTHENTICATION: anyone who can reach this port can read and publish everything.')
    warn('  !!! Set TIDINGS_JWT_SECRET (32+ characters) to require tokens.')
    warn('')
  }
  const logger = createLogger()
  const engines = await openEngines(env, logger)
  const webhookStore = await openWebhookStore(engines, env, logger)
  const tidings = createTidings({
    events: engines.events,
    jobs: engines.jobs,
    logger,
    auth: open ? { open: true } : { jwt: config.jwt! },
    http: { cors: config.cors, page: options.mode === 'dev' || open ? true : 'admin' },
    defaultMetrics: true,
    webhooks: { env, store: webhookStore ?? undefined },
    jobDefinitions: [...(options.mode === 'dev' ? [demoReport] : []), ...(options.jobs ?? [])],
  })
  const server = createServer(tidings.handler)
  tidings.http.attachWebSocket(server)
  server.keepAliveTimeout = 65_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(config.port, config.host, () => resolve())
  })
  const address = server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`
  await engines.start()
  await tidings.ready()
  let worker: Worker | null = null
  if (options.worker !== false) {
    // The dispatcher enqueues webhook deliveries; the worker runs them.
    await tidings.webhooks.start()
    worker = await tidings.startWorker({ concurrency: options.concurrency ?? DEFAULT_SERVER_WORKER_CONCURRENCY })
    await tidings.scheduler.start()
  }
  let demo: NodeJS.Timeout | undefined
  if (options.mode === 'dev' && config.demo) {
    let n = 0
    demo = setInterval(() => {
      n++
      void tidings.publish({ type: 'demo.tick', channels: ['demo'], data: { n, at: new Date().toISOString() } }, { mode: 'failOpen' })
    }, DEMO_INTERVAL_MS)
  }
  tidings.logger.info({ url, engine: engines.summary, auth: open ? 'open' : 'jwt', demo: demo !== undefined, worker: worker?.id ?? null, jobs: tidings.registry.all().map((d) => d.name) }, 'tidings listening')
  return {
    tidings,
    server,
    url,
    worker,
    async close() {
      clearInterval(demo)
      await tidings.close()
      await webhookStore?.close()
      await engines.close()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
