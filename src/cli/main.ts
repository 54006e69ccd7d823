/**
 * The `tidings` command line.
 */
import { isTidingsError } from '../core/errors.js'
import { jobListCommand } from './commands/job-list.js'
import { jobRunCommand } from './commands/job-run.js'
import { jobStatusCommand } from './commands/job-status.js'
import { publishCommand } from './commands/publish.js'
import { serveCommand } from './commands/serve.js'
import { tailCommand } from './commands/tail.js'
import { workerCommand } from './commands/worker.js'
import { CliError, EXIT_FAILED, EXIT_USAGE, processIo, type CliIo } from './remote.js'

const USAGE = `Usage: tidings <command> [options]

Servers:
  dev [--jobs <module>]  server + worker + scheduler + dashboard page on the memory engine, with
                         the demo.report job and a demo publisher (TIDINGS_DEMO=0 turns it off);
                         runs open unless TIDINGS_JWT_SECRET is set
  serve [--insecure] [--no-worker] [--jobs <module>] [--concurrency <n>]
                         the server, with a worker and the scheduler unless --no-worker; refuses
                         to run without authentication unless --insecure
  worker --jobs <module> [--concurrency <n>] [--queue <q>]
                         a worker and the scheduler for the jobs a module exports
                         (export const jobs = [defineJob(...), ...])

Talking to a server (--url / TIDINGS_URL, default http://127.0.0.1:8080; --token / TIDINGS_TOKEN):
  job list [--status <s>] [--name <n>] [--queue <q>] [--limit <n>] [--cursor <c>] [--json]
  job status <id> [--json]
  job run <name> [--payload '{…}'] [--delay <ms>] [--priority <n>] [--key <k>] [--follow] [--json]
                         --follow shows a live progress bar and the job's log, and exits 0 when
                         it succeeds, 1 when it fails, 3 when it is cancelled
  publish <type> --channel <c> [--channel <c>…] [--data '{…}'] [--tenant <t>] [--key <k>]
  tail --channel <c> [--channel <c>…] [--from <cursor>] [--json]
  help                   this text

Exit codes: 0 ok, 1 failure, 2 bad input (including 4xx answers), 3 job cancelled.
Environment: TIDINGS_PORT (8080), TIDINGS_HOST, TIDINGS_JWT_SECRET, TIDINGS_JWT_PUBLIC_KEY,
TIDINGS_JWKS_URL, TIDINGS_JWT_ALGORITHMS, TIDINGS_JWT_ISSUER, TIDINGS_JWT_AUDIENCE,
TIDINGS_CORS_ORIGINS, TIDINGS_BACKEND, TIDINGS_LOG_LEVEL, TIDINGS_URL, TIDINGS_TOKEN. See docs/cli.md.`

/** Runs the CLI; resolves to the exit code (servers and followers resolve when they stop). */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const [command, ...rest] = argv
  try {
    switch (command) {
      case 'dev':
      case 'serve':
        return await serveCommand(command, rest, io)
      case 'worker':
        return await workerCommand(rest, io)
      case 'job': {
        const [sub, ...args] = rest
        if (sub === 'list') return await jobListCommand(args, io)
        if (sub === 'status') return await jobStatusCommand(args, io)
        if (sub === 'run') return await jobRunCommand(args, io)
        io.err(`tidings: unknown job command ${JSON.stringify(sub ?? '')}; use job list, job status or job run\n`)
        return EXIT_USAGE
      }
      case 'publish':
        return await publishCommand(rest, io)
      case 'tail':
        return await tailCommand(rest, io)
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(USAGE + '\n')
        return command === undefined ? 1 : 0
      default:
        io.err(`tidings: unknown command ${JSON.stringify(command)}\n\n${USAGE}\n`)
        return EXIT_USAGE
    }
  } catch (err) {
    if (err instanceof CliError) {
      io.err(`tidings: ${err.code}: ${err.message}\n`)
      return err.exitCode
    }
    // parseArgs reports unknown or malformed options with these codes.
    const code = (err as { code?: unknown }).code
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
      io.err(`tidings: ${(err as Error).message}\n`)
      return EXIT_USAGE
    }
    io.err(`tidings: ${isTidingsError(err) ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err)}\n`)
    return EXIT_FAILED
  }
}
