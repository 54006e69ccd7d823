/**
 * Several Tidings instances sharing one memory log and one memory job queue: they stand in for
 * processes (every engine issue repeats these tests across real processes).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { after } from 'node:test'
import { MemoryEventLog } from '../../src/engines/memory/event-log.js'
import { MemoryJobQueue } from '../../src/engines/memory/job-queue.js'
import { EventCollector } from '../../src/testing/index.js'
import { createTidings, type Tidings, type TidingsOptions } from '../../src/tidings.js'

/** One stand-in process. */
export interface Node {
  readonly tidings: Tidings
  /** Every event this instance's hub sees. */
  readonly events: EventCollector
}

/** `n` instances on one shared log and queue; closed after the test file. */
export interface Cluster {
  readonly log: MemoryEventLog
  readonly queue: MemoryJobQueue
  readonly nodes: Node[]
  close(): Promise<void>
}

const open = new Set<Cluster>()
after(async () => {
  for (const c of open) await c.close()
})

/** Starts `n` instances sharing one log and one job queue. */
export async function startCluster(n: number, options: TidingsOptions = {}): Promise<Cluster> {
  const log = new MemoryEventLog()
  const queue = new MemoryJobQueue()
  const nodes: Node[] = []
  for (let i = 0; i < n; i++) {
    const tidings = createTidings({ auth: { open: true }, ...options, events: log, jobs: queue })
    await tidings.ready()
    const events = new EventCollector(tidings)
    await events.ready()
    nodes.push({ tidings, events })
  }
  let closed = false
  const cluster: Cluster = {
    log,
    queue,
    nodes,
    async close() {
      if (closed) return
      closed = true
      open.delete(cluster)
      for (const node of nodes) {
        await node.events.close()
        await node.tidings.close()
      }
      await queue.close()
      await log.close()
    },
  }
  open.add(cluster)
  return cluster
}

/** Polls `fn` every 10 ms until it returns a value, for at most `ms` (for state that has no event). */
export async function eventually<T>(fn: () => Promise<T | null | undefined | false> | T | null | undefined | false, ms = 5_000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v !== null && v !== undefined && v !== false) return v
    if (Date.now() > end) throw new Error('condition not met in time')
    await sleep(10)
  }
}

/** A promise with its resolve function, to let a handler tell the test where it is. */
export function signal<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void
  const promise = new Promise<T>((r) => (resolve = r))
  return { promise, resolve }
}
