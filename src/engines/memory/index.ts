/** The embedded memory engine: nothing to start, nothing kept across restarts. */
export { MemoryEventLog, DEFAULT_MEMORY_MAX_AGE_MS, DEFAULT_MEMORY_MAX_EVENTS, type MemoryEventLogOptions } from './event-log.js'
export { MemoryJobQueue, DEFAULT_MEMORY_JOB_RETENTION_MS, type MemoryJobQueueOptions } from './job-queue.js'
