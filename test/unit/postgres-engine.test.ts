/**
 * The PostgreSQL engine without a database: `pg` stays unloaded until a log connects, options are
 * validated at construction, positions compare as numbers.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { describe, it } from 'node:test'
import { promisify } from 'node:util'
import { isTidingsError } from '../../src/core/errors.js'
import { PostgresEventLog } from '../../src/engines/postgres/event-log.js'
import { advisoryLockKey, assertSchemaName } from '../../src/engines/postgres/migrations.js'

const execFileP = promisify(execFile)
const DEAD_URL = 'postgres://postgres@127.0.0.1:1/none'

describe('postgres engine, no database needed', () => {
  it('importing tidings, and tidings/postgres, loads no pg module', async () => {
    const script = `
      await import('./src/index.ts')
      const { PostgresEventLog } = await import('./src/engines/postgres/index.ts')
      new PostgresEventLog({ connectionString: '${DEAD_URL}' })
      const { createRequire } = await import('node:module')
      const loaded = Object.keys(createRequire(import.meta.url).cache).filter((k) => /node_modules[\\\\/]pg[\\\\/]/.test(k))
      process.stdout.write(JSON.stringify(loaded))`
    const { stdout } = await execFileP(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: new URL('../../', import.meta.url).pathname })
    assert.deepEqual(JSON.parse(stdout), [])
  })

  it('validates its options with a coded error', () => {
    const invalid = (f: () => unknown, what: RegExp): void => assert.throws(f, (err) => isTidingsError(err, 'TIDINGS_ERR_INVALID_CONFIG') && what.test(err.message))
    invalid(() => new PostgresEventLog({ connectionString: DEAD_URL, schema: 'Robert"); DROP' }), /schema/)
    invalid(() => new PostgresEventLog({ connectionString: DEAD_URL, schema: 'x'.repeat(49) }), /schema/)
    invalid(() => new PostgresEventLog({ connectionString: DEAD_URL, maxEvents: 0 }), /maxEvents/)
    invalid(() => new PostgresEventLog({ connectionString: DEAD_URL, maxAgeMs: 1.5 }), /maxAgeMs/)
    const saved = process.env.DATABASE_URL
    delete process.env.DATABASE_URL
    try {
      invalid(() => new PostgresEventLog(), /DATABASE_URL/)
      process.env.DATABASE_URL = DEAD_URL
      assert.equal(new PostgresEventLog().schema, 'tidings')
    } finally {
      if (saved === undefined) delete process.env.DATABASE_URL
      else process.env.DATABASE_URL = saved
    }
    assertSchemaName('tidings_2')
    assert.notEqual(advisoryLockKey('a:events'), advisoryLockKey('b:events'))
    assert.match(advisoryLockKey('a:events'), /^-?\d{1,19}$/)
  })

  it('positions are decimal integers compared by value', () => {
    const log = new PostgresEventLog({ connectionString: DEAD_URL })
    for (const p of ['0', '1', '42', '999999999999999999']) assert.ok(log.isPosition(p), p)
    for (const p of ['', '01', '-1', '1.5', '1e3', '9999999999999999999', 'abc']) assert.ok(!log.isPosition(p), p)
    assert.ok(log.comparePositions('9', '10') < 0)
    assert.ok(log.comparePositions('100', '99') > 0)
    assert.equal(log.comparePositions('123', '123'), 0)
    assert.ok(log.comparePositions('123', '124') < 0)
  })
})
