import { MemoryWebhookStore } from '../../src/webhooks/memory-store.js'
import { webhookStoreConformance } from './webhook-store.js'

webhookStoreConformance('memory', {
  create: async () => new MemoryWebhookStore(),
})
