/**
 * `npm run bench [-- <suite> ...]`: runs each suite under bench/suites/ in its own process, one
 * after another, so suites never share a CPU. Not part of `npm test`.
 */
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'

const dir = new URL('./suites/', import.meta.url)
const all = readdirSync(dir).filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3)).sort()
const wanted = process.argv.slice(2)
const unknown = wanted.filter((w) => !all.includes(w))
if (unknown.length > 0) {
  process.stderr.write(`unknown suite(s): ${unknown.join(', ')}; available: ${all.join(', ')}\n`)
  process.exit(2)
}
let failed = 0
for (const suite of wanted.length > 0 ? wanted : all) {
  process.stdout.write(`\n### bench: ${suite}\n`)
  const r = spawnSync(process.execPath, ['--import', 'tsx', new URL(`${suite}.ts`, dir).pathname], { stdio: 'inherit', env: { ...process.env, TIDINGS_LOG_LEVEL: 'silent' } })
  if (r.status !== 0) {
    failed++
    process.stderr.write(`suite ${suite} failed (exit ${r.status ?? r.signal})\n`)
  }
}
process.exit(failed > 0 ? 1 : 0)
