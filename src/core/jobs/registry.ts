/**
 * The job definitions one Tidings instance knows: enqueue checks payloads against them, workers
 * lease only the names they hold.
 */
import { TidingsError } from '../errors.js'
import type { AnyJobDefinition } from './define.js'

/** Job definitions by name. */
export class JobRegistry {
  readonly #byName = new Map<string, AnyJobDefinition>()

  /** Adds definitions; the same name twice is an error unless it is the same definition. */
  add(...definitions: readonly AnyJobDefinition[]): void {
    for (const d of definitions) {
      const known = this.#byName.get(d.name)
      if (known !== undefined && known !== d) {
        throw new TidingsError('TIDINGS_ERR_INVALID_JOB_DEFINITION', { detail: `job ${d.name} is defined twice` })
      }
      this.#byName.set(d.name, d)
    }
  }

  /** The definition of `name`, or undefined. */
  get(name: string): AnyJobDefinition | undefined {
    return this.#byName.get(name)
  }

  /** The definition of `name`; throws `TIDINGS_ERR_UNKNOWN_JOB`. */
  require(name: string): AnyJobDefinition {
    const d = this.#byName.get(name)
    if (d === undefined) throw new TidingsError('TIDINGS_ERR_UNKNOWN_JOB', { detail: `no job named ${JSON.stringify(name)}` })
    return d
  }

  /** Every definition, in the order added. */
  all(): AnyJobDefinition[] {
    return [...this.#byName.values()]
  }

  get size(): number {
    return this.#byName.size
  }
}
