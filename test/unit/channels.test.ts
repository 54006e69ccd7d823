import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { canSubscribe, principalFromClaims, authorizePublish, tenantAllows } from '../../src/core/auth.js'
import { ChannelMatcher, channelMatches, patternCovers } from '../../src/core/channels.js'
import { normalizeEvent } from '../../src/core/envelope.js'
import { isTidingsError } from '../../src/core/errors.js'

describe('channel patterns', () => {
  it('matches * across any characters, exact otherwise', () => {
    assert.ok(channelMatches('job:*', 'job:42'))
    assert.ok(channelMatches('job:*', 'job:42:log'))
    assert.ok(!channelMatches('job:*', 'jobs:42'))
    assert.ok(channelMatches('team:*:job:*', 'team:acme:job:7'))
    assert.ok(!channelMatches('team:acme', 'team:acme:x'))
    assert.ok(channelMatches('a.b+c', 'a.b+c'))
    assert.ok(!channelMatches('a.b', 'aXb'))
  })

  it('decides whether an allowed pattern covers a requested one', () => {
    assert.ok(patternCovers('team:acme:*', 'team:acme:job:*'))
    assert.ok(patternCovers('*', 'anything:*'))
    assert.ok(!patternCovers('team:acme:*', 'team:*'))
    assert.ok(!patternCovers('team:acme', 'team:acme*'))
    assert.ok(patternCovers('user:1', 'user:1'))
  })

  it('matcher handles exact names and patterns together', () => {
    const m = ChannelMatcher.of(['a', 'job:*'])
    assert.ok(m.matchesAny(['z', 'a']))
    assert.ok(m.matchesAny(['job:1']))
    assert.ok(!m.matchesAny(['b', 'jobs']))
  })
})

describe('principal rights', () => {
  it('defaults to user:{sub}, tenant:{tenant} and broadcast', () => {
    const p = principalFromClaims({ sub: '42', tenant: 'acme' } as never)
    assert.deepEqual([...p.subscribe], ['user:42', 'tenant:acme', 'broadcast'])
    assert.ok(canSubscribe(p, 'user:42'))
    assert.ok(!canSubscribe(p, 'user:43'))
    assert.deepEqual([...p.publish], [])
  })

  it('checks publish rights and keeps publishers inside their tenant', () => {
    const p = principalFromClaims({ sub: 's', tenant: 'acme', tidings: { publish: ['orders:*'] } } as never)
    const e = authorizePublish(p, normalizeEvent({ type: 'a', channels: ['orders:1'] }))
    assert.equal(e.tenant, 'acme')
    assert.throws(() => authorizePublish(p, normalizeEvent({ type: 'a', channels: ['user:1'] })), (err) => isTidingsError(err, 'TIDINGS_ERR_FORBIDDEN_PUBLISH'))
    assert.throws(() => authorizePublish(p, normalizeEvent({ type: 'a', channels: ['orders:1'], tenant: 'other' })), (err) => isTidingsError(err, 'TIDINGS_ERR_FORBIDDEN_PUBLISH'))
  })

  it('tenant isolation: only the same tenant or admins', () => {
    const a = principalFromClaims({ sub: '1', tenant: 'a' } as never)
    const admin = principalFromClaims({ sub: 'root', tidings: { admin: true } } as never)
    assert.ok(tenantAllows(a, 'a'))
    assert.ok(!tenantAllows(a, 'b'))
    assert.ok(tenantAllows(a, null))
    assert.ok(tenantAllows(admin, 'b'))
  })
})
