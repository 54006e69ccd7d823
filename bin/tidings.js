#!/usr/bin/env node
// The published CLI runs the compiled output; `npm ci` builds it through the `prepare` script.
import { main } from '../dist/cli/main.js'

main(process.argv.slice(2)).then(
  (code) => { if (typeof code === 'number') process.exitCode = code },
  (err) => { console.error(err instanceof Error ? err.message : err); process.exitCode = 1 },
)
