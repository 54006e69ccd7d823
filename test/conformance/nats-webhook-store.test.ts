import { after, describe } from 'node:test'
import { NatsWebhookStore } from '../../src/engines/nats/webhook-store.js'
import { engineAvailable, engineUrl } from '../helpers/engines.js'
import { deleteStreams, testNames } from '../helpers/nats.js'
import { webhookStoreConformance } from './webhook-store.js'

const skip = await engineAvailable('nats')
const url = engineUrl('nats')
const names = testNames('wh')
let n = 0

describe('nats webhook store', { skip: skip ?? false }, () => {
  // Every store gets a bucket of its own; all of this run's buckets go afterwards.
  after(async () => {
    await deleteStreams(url, [`KV_${names.bucket}`])
  })

  webhookStoreConformance('nats', {
    create: async () => new NatsWebhookStore({ url, bucket: `${names.bucket}_${n++}` }),
  })
})
