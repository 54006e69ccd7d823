/**
 * The RabbitMQ engine across real processes (test/integration/process-suite.ts): spawned `tidings
 * serve` and `tidings worker` processes share nothing but the system broker and, for job records,
 * the system PostgreSQL (`TIDINGS_RABBITMQ_RECORDS=postgres`). Each test has a stream, a job prefix
 * and a schema of its own; every queue and exchange of the run is deleted afterwards, and every
 * schema dropped.
 */
import { engineAvailable, engineUrl } from '../helpers/engines.js'
import { dropSchemas, POSTGRES_URL, testSchema } from '../helpers/postgres.js'
import { deleteQueues, listQueues, testName } from '../helpers/rabbitmq.js'
import { processSuite } from './process-suite.js'

const skip = (await engineAvailable('rabbitmq')) ?? (await engineAvailable('postgres'))
const url = engineUrl('rabbitmq')
const runName = testName('procs')
const runSchema = testSchema('procs')
let tests = 0

processSuite('RabbitMQ', {
  skip,
  env: (n) => {
    tests = Math.max(tests, n + 1)
    return {
      TIDINGS_BACKEND: 'rabbitmq',
      AMQP_URL: url,
      TIDINGS_RABBITMQ_STREAM: `${runName}.${n}.events`,
      TIDINGS_RABBITMQ_PREFIX: `${runName}.${n}.jobs`,
      TIDINGS_RABBITMQ_BRIDGE: '',
      TIDINGS_RABBITMQ_RECORDS: 'postgres',
      DATABASE_URL: POSTGRES_URL,
      TIDINGS_PG_SCHEMA: `${runSchema}_${n}`,
    }
  },
  async cleanup() {
    const ids = Array.from({ length: tests }, (_, n) => n)
    // Exchanges are not listed by name: each test's job prefix names its one (queues are found by prefix).
    const exchanges = ids.map((n) => `${runName}.${n}.jobs`)
    await deleteQueues(ids.map((n) => `${runName}.${n}.events`), runName, exchanges)
    const left = await listQueues(runName)
    if (left.length > 0) throw new Error(`queues left on the broker: ${left.join(', ')}`)
    await dropSchemas(POSTGRES_URL, ids.map((n) => `${runSchema}_${n}`))
  },
})
