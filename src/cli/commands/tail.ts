/**
 * `tidings tail --channel <c> [--channel <c>…] [--from <cursor>] [--json]`: follows channels and
 * prints each event until Ctrl-C (seed 001's hand-written smoke tool).
 */
import { parseArgs } from 'node:util'
import { follow } from '../follow.js'
import { CliError, EXIT_FAILED, EXIT_OK, EXIT_USAGE, Remote, REMOTE_OPTIONS, type CliIo } from '../remote.js'
import { untilStopSignal } from '../signals.js'

/** Prints events as they arrive. */
export async function tailCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { ...REMOTE_OPTIONS, channel: { type: 'string', multiple: true }, from: { type: 'string' } },
    strict: true,
  })
  if (values.channel === undefined) throw new CliError('TIDINGS_ERR_NO_CHANNELS', 'usage: tidings tail --channel <channel> [--channel …]', EXIT_USAGE)
  const remote = new Remote(values, io.env)
  let fatal: string | null = null
  const stopped = new Promise<void>((resolve) => {
    const stop = follow(
      remote,
      values.channel!,
      {
        onOpen: () => io.err(`following ${values.channel!.join(', ')} on ${remote.url}\n`),
        onEvent: (e) => {
          if (values.json) {
            io.out(JSON.stringify({ cursor: e.cursor, event: e.envelope }) + '\n')
            return
          }
          const channels = Array.isArray(e.envelope?.channels) ? (e.envelope.channels as string[]).join(',') : ''
          io.out(`${e.type}  ${channels}  ${JSON.stringify(e.envelope?.data ?? null)}\n`)
        },
        onFatal: (message) => {
          fatal = message
          stop()
          resolve()
        },
      },
      values.from ?? null,
    )
    void untilStopSignal().then(() => {
      stop()
      resolve()
    })
  })
  await stopped
  if (fatal !== null) {
    io.err(`tidings: ${fatal}\n`)
    return EXIT_FAILED
  }
  return EXIT_OK
}
