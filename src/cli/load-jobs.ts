/**
 * Loading job definitions from a module the user names (`--jobs ./jobs.js`). The module exports an
 * array of definitions made with `defineJob`, as `export const jobs = [...]` or `export default [...]`
 * (`jobs` wins when both exist). A TypeScript module needs a loader: `node --import tsx`.
 */
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { TidingsError } from '../core/errors.js'
import { isJobDefinition, type AnyJobDefinition } from '../core/jobs/define.js'

/** Imports `specifier` (a path, relative to `cwd`, or a package name) and returns its job definitions. */
export async function loadJobModule(specifier: string, cwd: string = process.cwd()): Promise<AnyJobDefinition[]> {
  const target = specifier.startsWith('.') || specifier.startsWith('/') ? pathToFileURL(resolve(cwd, specifier)).href : specifier
  let mod: Record<string, unknown>
  try {
    mod = (await import(target)) as Record<string, unknown>
  } catch (err) {
    throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', { detail: `--jobs ${specifier}: cannot import it (${(err as Error).message})`, cause: err })
  }
  const list = mod.jobs ?? mod.default
  if (!Array.isArray(list) || list.length === 0 || !list.every(isJobDefinition)) {
    throw new TidingsError('TIDINGS_ERR_INVALID_CONFIG', {
      detail: `--jobs ${specifier}: the module must export an array of defineJob(...) definitions as \`export const jobs = [...]\` or \`export default [...]\``,
    })
  }
  return list
}
