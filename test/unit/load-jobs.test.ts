import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { loadJobModule } from '../../src/cli/load-jobs.js'
import { isTidingsError } from '../../src/core/errors.js'

const root = new URL('../../', import.meta.url).pathname

describe('loading a jobs module (--jobs)', () => {
  it('takes `export const jobs = [...]` or `export default [...]`', async () => {
    assert.deepEqual((await loadJobModule('./test/fixtures/jobs-module.ts', root)).map((d) => d.name), ['fixture.hello', 'fixture.other'])
    assert.deepEqual((await loadJobModule('./test/fixtures/jobs-default.ts', root)).map((d) => d.name), ['fixture.default'])
  })

  it('refuses a module that does not export definitions, or cannot be imported', async () => {
    for (const m of ['./test/fixtures/not-jobs.ts', './test/fixtures/missing.ts']) {
      await assert.rejects(loadJobModule(m, root), (e: unknown) => isTidingsError(e, 'TIDINGS_ERR_INVALID_CONFIG') && e.message.includes(m))
    }
  })
})
