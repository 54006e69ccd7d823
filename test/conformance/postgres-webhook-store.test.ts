import { after } from 'node:test'
import { PostgresWebhookStore } from '../../src/engines/postgres/webhook-store.js'
import { dropSchemas, POSTGRES_URL, testSchema } from '../helpers/postgres.js'
import { webhookStoreConformance } from './webhook-store.js'

const schemas: string[] = []
after(() => dropSchemas(POSTGRES_URL, schemas))

webhookStoreConformance('postgres', {
  create: async () => {
    const schema = testSchema('wh')
    schemas.push(schema)
    return new PostgresWebhookStore({ connectionString: POSTGRES_URL, schema, poolSize: 4 })
  },
})
