/** BullMQ's producer side, resolved from bench/peers/node_modules (see bench/peers/package.json). */
export { Queue } from 'bullmq'
