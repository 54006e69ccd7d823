/**
 * The pacing every fan-out publisher shares (bench/lib/hub-process.ts and the peers' bench/peers/
 * fanout-ipc.ts), so that every server in a ramp is fed the same way: every 5 ms, the events due so
 * far at `rate` (at most 1000 per tick), all stamped with one publish time on the monotonic clock
 * the processes of this machine share. Resolves after `ms` with the count and this process's CPU
 * share meanwhile — the `{ published, cpu }` answer bench/lib/ramp.ts expects.
 */

const TICK_MS = 5
const MAX_PER_TICK = 1000

/** Calls `tick(due, t)` every 5 ms for `ms`; `t` is process.hrtime.bigint() as a string. */
export async function pace(rate: number, ms: number, tick: (due: number, t: string) => void): Promise<{ published: number; cpu: number }> {
  const start = performance.now()
  const cpu = process.cpuUsage()
  let published = 0
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsed = performance.now() - start
      if (elapsed >= ms) {
        clearInterval(timer)
        resolve()
        return
      }
      const due = Math.min(MAX_PER_TICK, Math.floor((elapsed / 1000) * rate) - published)
      if (due <= 0) return
      published += due
      tick(due, String(process.hrtime.bigint()))
    }, TICK_MS)
  })
  const used = process.cpuUsage(cpu)
  return { published, cpu: (used.user + used.system) / 1000 / ms }
}
