/**
 * The NATS engine across real processes (test/integration/process-suite.ts): spawned `tidings
 * serve` and `tidings worker` processes share nothing but the system nats-server (JetStream); each
 * test has a prefix of its own (`TIDINGS_NATS_PREFIX`), and every stream and KV bucket of the run
 * is deleted afterwards.
 */
import { randomBytes } from 'node:crypto'
import { engineAvailable, engineUrl } from '../helpers/engines.js'
import { deleteStreams } from '../helpers/nats.js'
import { processSuite } from './process-suite.js'

const skip = await engineAvailable('nats')
const url = engineUrl('nats')
/** Prefix `p` names stream `P_EVENTS`, stream `P_JOBS` and bucket `p_jobs` (stream `KV_p_jobs`). */
const runPrefix = `tidings-test-procs-${randomBytes(4).toString('hex')}`

processSuite('NATS', {
  skip,
  env: (n) => ({
    TIDINGS_BACKEND: 'nats',
    NATS_URL: url,
    TIDINGS_NATS_PREFIX: `${runPrefix}-${n}`,
  }),
  async cleanup() {
    await deleteStreams(url, [runPrefix.toUpperCase(), `KV_${runPrefix}`])
  },
})
