/** A bounded set remembering the most recent values added; the oldest are forgotten first. */
export class RecentSet {
  readonly #capacity: number
  readonly #set = new Set<string>()

  constructor(capacity: number) {
    this.#capacity = capacity
  }

  has(value: string): boolean {
    return this.#set.has(value)
  }

  add(value: string): void {
    if (this.#set.has(value)) return
    this.#set.add(value)
    if (this.#set.size > this.#capacity) {
      const oldest = this.#set.values().next()
      if (oldest.done !== true) this.#set.delete(oldest.value)
    }
  }
}
