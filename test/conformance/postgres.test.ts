import { after, describe } from 'node:test'
import { PostgresEventLog } from '../../src/engines/postgres/event-log.js'
import { engineAvailable } from '../helpers/engines.js'
import { dropSchemas, POSTGRES_URL, testPool, testSchema } from '../helpers/postgres.js'
import { eventLogConformance } from './event-log.js'

const skip = await engineAvailable('postgres')
const runSchema = testSchema('conf')
const schemas = new Set<string>()
let n = 0

describe('postgres', { skip: skip ?? false }, () => {
  const pool = testPool()
  const open = (schema: string, retention = {}): PostgresEventLog => {
    schemas.add(schema)
    return new PostgresEventLog({ pool, schema, ...retention })
  }
  eventLogConformance('postgres', {
    create: async (retention) => open(`${runSchema}_${n++}`, retention),
    recreate: async (log) => {
      const { schema } = log as PostgresEventLog
      await dropSchemas(POSTGRES_URL, [schema])
      return open(schema)
    },
    beginTransaction: async () => {
      const client = await pool.connect()
      await client.query('BEGIN')
      const end = async (sql: string): Promise<void> => {
        try {
          await client.query(sql)
        } finally {
          client.release()
        }
      }
      return { handle: client, commit: () => end('COMMIT'), rollback: () => end('ROLLBACK') }
    },
  })
  after(async () => {
    await dropSchemas(POSTGRES_URL, schemas)
    await pool.end()
  })
})
