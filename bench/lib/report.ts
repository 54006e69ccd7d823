/**
 * Prints a suite's figures as a table and writes them to bench/results/<suite>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'

/** One row of figures: a label column and numbers or strings. */
export type Row = Record<string, string | number | null>

/** Prints `rows` under `title` and saves them with machine facts. */
export function report(suite: string, title: string, rows: Row[], notes: string[] = []): void {
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))]
  const fmt = (v: string | number | null | undefined): string =>
    v === null || v === undefined ? '—' : typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 2 : 1)) : v
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => fmt(r[c]).length)))
  const line = (cells: string[]): string => cells.map((s, i) => s.padEnd(widths[i]!)).join('  ')
  process.stdout.write(`\n== ${title} ==\n${line(cols)}\n${line(widths.map((w) => '-'.repeat(w)))}\n`)
  for (const r of rows) process.stdout.write(line(cols.map((c) => fmt(r[c]))) + '\n')
  for (const n of notes) process.stdout.write(`  ${n}\n`)
  const dir = new URL('../results/', import.meta.url)
  mkdirSync(dir, { recursive: true })
  writeFileSync(
    new URL(`${suite}.json`, dir),
    JSON.stringify({ suite, title, at: new Date().toISOString(), node: process.version, cpus: cpus().length, rows, notes }, null, 2) + '\n',
  )
}

/** The p-th percentile (0–100) of `values`. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}
