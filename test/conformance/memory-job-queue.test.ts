import { MemoryJobQueue } from '../../src/engines/memory/job-queue.js'
import { jobQueueConformance } from './job-queue.js'

jobQueueConformance('memory', {
  create: async (options) => new MemoryJobQueue(options),
})
