/**
 * What every fan-out peer under bench/peers shares with bench/lib/hub-process.ts: the IPC protocol
 * bench/lib/ramp.ts drives ({ ready, port } first; { cmd: 'publish', rate, ms, channel } →
 * { published, cpu }; { cmd: 'exit' }) and the pacing of bench/lib/pace.ts: every 5 ms, the events
 * due so far (at most 1000 per tick), all stamped with one publish time.
 *
 * The events are the seed-000 envelope (snake_case, `event_type: 'bench.tick'`), whose `data` is
 * hub-process.ts's payload: `{ t, pad }`, `t` the publish time on the monotonic clock every
 * process on this machine shares (the load generators read it), `pad` 150 bytes.
 */
import { randomUUID } from 'node:crypto'
import { pace } from '../lib/pace.js'

/** One event as the peers publish it (seed 000's format). */
export interface SeedEvent {
  event_id: string
  event_type: string
  user_id: string
  data: { t: string; pad: string }
  occurred_at: string
}

const PAD = 'x'.repeat(150)
const SYSTEM_USER = '00000000-0000-0000-0000-000000000000'

/**
 * Answers the ramp's commands. `publish` gets each tick's events at once (a peer may send them one
 * by one); `close` runs before the process exits.
 */
export function serveRamp(port: number, publish: (channel: string, events: SeedEvent[]) => void, close: () => Promise<void>): void {
  process.on('message', async (msg: { cmd: string; rate: number; ms: number; channel: string }) => {
    if (msg.cmd === 'exit') {
      await close()
      process.exit(0)
    }
    if (msg.cmd !== 'publish') return
    const answer = await pace(msg.rate, msg.ms, (due, t) => {
      const occurredAt = new Date().toISOString()
      publish(msg.channel, Array.from({ length: due }, (): SeedEvent => ({ event_id: randomUUID(), event_type: 'bench.tick', user_id: SYSTEM_USER, data: { t, pad: PAD }, occurred_at: occurredAt })))
    })
    process.send!(answer)
  })
  process.on('disconnect', () => process.exit(0))
  process.send!({ ready: true, port })
}
