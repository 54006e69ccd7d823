/**
 * `tidings publish <type> --channel <c> [--channel <c>…] [--data '{…}'] [--tenant <t>] [--key <k>] [--json]`:
 * publishes one event (seed 001's hand-written smoke tool).
 */
import { parseArgs } from 'node:util'
import { CliError, EXIT_OK, EXIT_USAGE, parseJsonArg, Remote, REMOTE_OPTIONS, type CliIo } from '../remote.js'

/** Publishes one event and prints its id and cursor. */
export async function publishCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      ...REMOTE_OPTIONS,
      channel: { type: 'string', multiple: true },
      data: { type: 'string' },
      tenant: { type: 'string' },
      key: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  })
  const type = positionals[0]
  if (type === undefined || positionals.length > 1 || values.channel === undefined) {
    throw new CliError('TIDINGS_ERR_INVALID_EVENT', "usage: tidings publish <type> --channel <channel> [--data '{…}']", EXIT_USAGE)
  }
  const remote = new Remote(values, io.env)
  const event = {
    type,
    channels: values.channel,
    data: parseJsonArg('--data', values.data, null),
    ...(values.tenant === undefined ? {} : { tenant: values.tenant }),
    ...(values.key === undefined ? {} : { key: values.key }),
  }
  const { body } = await remote.request<{ id: string; cursor: string }>('POST', '/v1/publish', event)
  io.out(values.json ? JSON.stringify(body) + '\n' : `published ${body.id} at ${body.cursor}\n`)
  return EXIT_OK
}
