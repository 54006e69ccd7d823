import { describe } from 'node:test'
import { clientFlows } from './client-flows.js'

describe('tidings/client over WebSocket (the ws package)', () => {
  clientFlows('websocket')
})
