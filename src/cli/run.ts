/**
 * Process entry of the CLI (the `tidings` bin runs the compiled copy of this file).
 */
import { main } from './main.js'

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    process.stderr.write(`tidings: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exitCode = 1
  },
)
