/**
 * A Tidings hub on PostgreSQL in a process of its own, for tests that kill a hub with SIGKILL.
 * Reads `DATABASE_URL` and `TIDINGS_TEST_SCHEMA`; prints `READY <url>` once it serves.
 *
 *   spawn(process.execPath, ['--import', 'tsx', 'test/helpers/postgres-hub.ts'], { env })
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { PostgresEventLog } from '../../src/engines/postgres/event-log.js'
import { createTidings } from '../../src/tidings.js'

const log = new PostgresEventLog({ connectionString: process.env.DATABASE_URL, schema: process.env.TIDINGS_TEST_SCHEMA })
const tidings = createTidings({ events: log, auth: { open: true } })
const server = createServer(tidings.handler)
server.listen(0, '127.0.0.1', () => {
  void tidings.ready().then(() => {
    process.stdout.write(`READY http://127.0.0.1:${(server.address() as AddressInfo).port}\n`)
  })
})
