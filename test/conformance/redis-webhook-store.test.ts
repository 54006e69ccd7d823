import { after, describe } from 'node:test'
import { RedisWebhookStore } from '../../src/engines/redis/webhook-store.js'
import { engineAvailable, engineUrl } from '../helpers/engines.js'
import { deleteKeys, testPrefix } from '../helpers/redis.js'
import { webhookStoreConformance } from './webhook-store.js'

const skip = await engineAvailable('redis')
const url = engineUrl('redis')
const runPrefix = testPrefix('webhooks-conformance')
let n = 0

describe('redis webhook store', { skip: skip ?? false }, () => {
  after(async () => {
    await deleteKeys(url, runPrefix)
  })

  webhookStoreConformance('redis', {
    create: async () => new RedisWebhookStore({ url, prefix: `${runPrefix}:${n++}` }),
  })
})
