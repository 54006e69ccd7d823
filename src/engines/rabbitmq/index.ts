/**
 * The RabbitMQ engine: `import { RabbitEventLog, RabbitJobQueue, RabbitBridge } from 'tidings/rabbitmq'`.
 * Needs the `amqplib` package (an optional peer dependency), loaded only when something connects.
 */
export {
  RabbitEventLog,
  DEFAULT_RABBIT_STREAM,
  DEFAULT_RABBIT_MAX_AGE_MS,
  DEFAULT_RABBIT_MAX_BYTES,
  DEFAULT_RABBIT_SEGMENT_BYTES,
  DEFAULT_RABBIT_TAIL_BATCH,
  DEFAULT_RABBIT_RETRY_MS,
  DEFAULT_RABBIT_TIMEOUT_MS,
  type RabbitEventLogOptions,
} from './event-log.js'
export {
  RabbitJobQueue,
  rabbitJobTopology,
  delayBucket,
  DEFAULT_RABBIT_JOB_PREFIX,
  DEFAULT_RABBIT_JOB_PREFETCH,
  DEFAULT_RABBIT_JOB_LINGER_MS,
  DEFAULT_RABBIT_JOB_MAX_WAKE_UPS,
  DEFAULT_RABBIT_JOB_DEAD_LETTER_MAX,
  DEFAULT_RABBIT_JOB_RETRY_MS,
  type RabbitJobQueueOptions,
  type RabbitJobTopology,
} from './job-queue.js'
export {
  RabbitBridge,
  eventFromTopicMessage,
  DEFAULT_BRIDGE_EXCHANGE,
  DEFAULT_BRIDGE_QUEUE,
  DEFAULT_BRIDGE_BINDINGS,
  DEFAULT_BRIDGE_PREFETCH,
  DEFAULT_BRIDGE_DEDUP_WINDOW_MS,
  DEFAULT_BRIDGE_RETRY_MS,
  type BridgeLog,
  type BridgeMessage,
  type BridgedMessage,
  type RejectedBridgeMessage,
  type RabbitBridgeOptions,
  type RabbitBridgeEvents,
  type BridgeCounts,
} from './bridge.js'
export { DEFAULT_AMQP_URL, DEFAULT_AMQP_CONNECT_TIMEOUT_MS, DEFAULT_AMQP_HEARTBEAT_S } from './connection.js'
