/**
 * `tidings dev` and `tidings serve`: the HTTP server around one Tidings instance.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { TidingsError } from '../core/errors.js'
import { createTidings, type Tidings } from '../tidings.js'
import { readServerConfig, type ServerConfig } from './config.js'

/** Interval of the demo publisher. */
export const DEMO_INTERVAL_MS = 2_000

/** A running server. */
export interface RunningServer {
  readonly tidings: Tidings
  readonly server: Server
  readonly url: string
  close(): Promise<void>
}

/** Options of {@link startServer}. */
export interface StartServerOptions {
  mode: 'dev' | 'serve'
  insecure?: boolean
  env?: NodeJS.ProcessEnv
  /** Where the loud warnings go. @defaultValue stderr */
  warn?: (line: string) => void
}

/** Starts the server the CLI runs; resolves once it listens. */
export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const env = options.env ?? process.env
  const warn = options.warn ?? ((line: string) => process.stderr.write(line + '\n'))
  const config: ServerConfig = readServerConfig(env, options.mode === 'dev' ? '127.0.0.1' : '0.0.0.0')
  if (config.backend !== 'memory') {
    throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: `the ${config.backend} engine is not part of this build yet; unset TIDINGS_BACKEND (and the engine URL variables) to use memory` })
  }
  let open = false
  if (config.jwt === null) {
    if (options.mode === 'serve' && !options.insecure) throw new TidingsError('TIDINGS_ERR_INSECURE_REFUSED')
    open = true
    warn('')
    warn('  !!! Tidings is running WITHOUT AUTHENTICATION: anyone who can reach this port can read and publish everything.')
    warn('  !!! Set TIDINGS_JWT_SECRET (32+ characters) to require tokens.')
    warn('')
  }
  const tidings = createTidings({
    auth: open ? { open: true } : { jwt: config.jwt! },
    http: { cors: config.cors, page: options.mode === 'dev' || open },
    defaultMetrics: true,
  })
  const server = createServer(tidings.handler)
  server.keepAliveTimeout = 65_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(config.port, config.host, () => resolve())
  })
  const address = server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`
  await tidings.ready()
  let demo: NodeJS.Timeout | undefined
  if (options.mode === 'dev' && config.demo) {
    let n = 0
    demo = setInterval(() => {
      n++
      void tidings.publish({ type: 'demo.tick', channels: ['demo'], data: { n, at: new Date().toISOString() } }, { mode: 'failOpen' })
    }, DEMO_INTERVAL_MS)
  }
  tidings.logger.info({ url, engine: tidings.log.engine, auth: open ? 'open' : 'jwt', demo: demo !== undefined }, 'tidings listening')
  return {
    tidings,
    server,
    url,
    async close() {
      clearInterval(demo)
      await tidings.close()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
