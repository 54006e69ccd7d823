/**
 * The `tidings` command line.
 */
import { parseArgs } from 'node:util'
import { isTidingsError } from '../core/errors.js'
import { startServer } from './server.js'

const USAGE = `Usage: tidings <command> [options]

Commands:
  dev                  server + dashboard page on the memory engine, with a demo publisher
                       (TIDINGS_DEMO=0 turns it off); runs open unless TIDINGS_JWT_SECRET is set
  serve [--insecure]   the server; refuses to run without authentication unless --insecure
  help                 this text

Environment: TIDINGS_PORT (8080), TIDINGS_HOST, TIDINGS_JWT_SECRET, TIDINGS_JWT_PUBLIC_KEY,
TIDINGS_JWKS_URL, TIDINGS_JWT_ALGORITHMS, TIDINGS_JWT_ISSUER, TIDINGS_JWT_AUDIENCE,
TIDINGS_CORS_ORIGINS, TIDINGS_BACKEND, TIDINGS_LOG_LEVEL. See docs/cli.md.`

/** Runs the CLI; resolves to the exit code (servers resolve when they stop). */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  try {
    switch (command) {
      case 'dev':
      case 'serve': {
        const { values } = parseArgs({ args: rest, options: { insecure: { type: 'boolean', default: false } }, strict: true })
        const running = await startServer({ mode: command, insecure: values.insecure })
        process.stdout.write(`tidings ${command} listening on ${running.url}\n`)
        await new Promise<void>((resolve) => {
          const stop = (): void => {
            process.off('SIGINT', stop)
            process.off('SIGTERM', stop)
            running.close().then(resolve, resolve)
          }
          process.on('SIGINT', stop)
          process.on('SIGTERM', stop)
        })
        return 0
      }
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE + '\n')
        return command === undefined ? 1 : 0
      default:
        process.stderr.write(`tidings: unknown command ${JSON.stringify(command)}\n\n${USAGE}\n`)
        return 2
    }
  } catch (err) {
    process.stderr.write(`tidings: ${isTidingsError(err) ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err)}\n`)
    return 1
  }
}
