import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { ERROR_CODES } from '../../src/core/errors.js'
import { openApiDocument } from '../../src/http/openapi.js'

const root = new URL('../../', import.meta.url)

describe('docs stay in step with the code', () => {
  it('docs/errors.md lists every error code with its status, and no other', () => {
    const doc = readFileSync(new URL('docs/errors.md', root), 'utf8')
    const rows = new Map([...doc.matchAll(/^\| `(TIDINGS_ERR_[A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1]!, Number(m[2])]))
    for (const [code, def] of Object.entries(ERROR_CODES)) {
      assert.equal(rows.get(code), def.status, `${code} must be documented with status ${def.status}`)
    }
    for (const code of rows.keys()) assert.ok(code in ERROR_CODES, `${code} is documented but not in the registry`)
  })

  it('docs/openapi.json is the document the server serves', () => {
    const doc = JSON.parse(readFileSync(new URL('docs/openapi.json', root), 'utf8'))
    assert.deepEqual(doc, JSON.parse(JSON.stringify(openApiDocument)), 'run: npm run docs:openapi')
  })

  it('docs/design.md is the design the project works to', () => {
    const doc = readFileSync(new URL('docs/design.md', root), 'utf8')
    assert.match(doc, /^# Tidings — design/m)
  })
})
