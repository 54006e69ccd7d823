/**
 * Per-turn batching of an engine's calls, shared by the engines that send several calls as one
 * request (see {@link Coalescer}).
 */

/** A call waiting in a {@link Coalescer}. */
interface Pending<I, O> {
  readonly input: I
  resolve(output: O): void
  reject(err: unknown): void
}

/**
 * Gathers the calls of one kind (an engine's enqueue, complete or fail) made in one event-loop turn
 * and sends them as one request: a worker at concurrency N finishing jobs together costs one round
 * trip (and on PostgreSQL one commit) instead of N. At most `max` calls go together. Each caller
 * still gets its own answer or its own error: `send` answers per input, in order. A job named twice
 * in one turn starts a new request, so the second call sees the first one's outcome, as it would
 * one call at a time.
 */
export class Coalescer<I extends { readonly id: string }, O> {
  #pending = new Map<string, Pending<I, O>>()
  #scheduled = false

  constructor(
    private readonly send: (inputs: readonly I[]) => Promise<readonly (O | Error)[]>,
    private readonly max: number,
  ) {}

  push(input: I): Promise<O> {
    if (this.#pending.has(input.id)) this.#flush()
    return new Promise<O>((resolve, reject) => {
      this.#pending.set(input.id, { input, resolve, reject })
      if (this.#pending.size >= this.max) this.#flush()
      else if (!this.#scheduled) {
        this.#scheduled = true
        setImmediate(() => this.#flush())
      }
    })
  }

  /** Sends what is gathered now (before a close, say) instead of at the end of the turn. */
  flush(): void {
    this.#flush()
  }

  #flush(): void {
    this.#scheduled = false
    const batch = [...this.#pending.values()]
    this.#pending = new Map()
    if (batch.length === 0) return
    this.send(batch.map((p) => p.input)).then(
      (outputs) =>
        batch.forEach((p, i) => {
          const out = outputs[i]!
          if (out instanceof Error) p.reject(out)
          else p.resolve(out)
        }),
      (err: unknown) => {
        for (const p of batch) p.reject(err)
      },
    )
  }
}
