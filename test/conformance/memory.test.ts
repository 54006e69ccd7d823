import { MemoryEventLog } from '../../src/engines/memory/event-log.js'
import { eventLogConformance } from './event-log.js'

eventLogConformance('memory', {
  create: async (retention) => new MemoryEventLog(retention),
  // A memory log lives as long as its process: "recreating" it is a new instance.
  recreate: async () => new MemoryEventLog(),
})
