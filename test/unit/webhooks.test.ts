import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Webhook } from 'standardwebhooks'
import { isTidingsError } from '../../src/core/errors.js'
import { EndpointFilter, validateEndpointInput } from '../../src/webhooks/endpoints.js'
import { deliveryBackoff } from '../../src/webhooks/deliver-job.js'
import { DEFAULT_RETRY_SCHEDULE, MIN_SLOW_DOWN_MS, nextDelayMs, parseRetryAfter, parseRetrySchedule } from '../../src/webhooks/retry.js'
import { generateSecret, secretKey, sign, signedHeaders, verifySignature } from '../../src/webhooks/signing.js'
import { TargetGuard } from '../../src/webhooks/ssrf.js'
import type { TidingsEvent } from '../../src/core/envelope.js'

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn()
  } catch (err) {
    return isTidingsError(err) ? err.code : 'not coded'
  }
  return undefined
}

describe('Standard Webhooks signing', () => {
  it('passes the known-answer vector of DESIGN §6', () => {
    assert.equal(
      sign('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}'),
      'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    )
  })

  it('signs so that the standardwebhooks package verifies, with one signature per secret during a rotation', () => {
    const [old, current] = [generateSecret(), generateSecret()]
    const body = Buffer.from(JSON.stringify({ id: 'evt_1', data: { ü: 'ünïcödé' } }))
    const headers = signedHeaders([current, old], 'evt_1', body)
    assert.equal(headers['webhook-signature'].split(' ').length, 2)
    for (const s of [old, current]) assert.deepEqual(new Webhook(s).verify(body.toString('utf8'), { ...headers }), JSON.parse(body.toString('utf8')))
    assert.throws(() => new Webhook(generateSecret()).verify(body.toString('utf8'), { ...headers }))
    assert.equal(verifySignature(old, headers, body), true)
    assert.equal(verifySignature(generateSecret(), headers, body), false)
    assert.equal(verifySignature(current, headers, Buffer.concat([body, Buffer.from(' ')])), false, 'a changed body fails')
    assert.equal(verifySignature(current, headers, body, { now: new Date(Date.now() + 3_600_000) }), false, 'an old timestamp fails')
  })

  it('generates whsec_ secrets of 32 random bytes and refuses malformed ones with a coded error', () => {
    const s = generateSecret()
    assert.match(s, /^whsec_[A-Za-z0-9+/]+=*$/)
    assert.equal(secretKey(s).length, 32)
    assert.notEqual(generateSecret(), s)
    for (const bad of ['abc', 'sk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'whsec_' + Buffer.alloc(10).toString('base64'), 'whsec_' + Buffer.alloc(65).toString('base64'), 'whsec_not base64!']) {
      assert.equal(codeOf(() => secretKey(bad)), 'TIDINGS_ERR_INVALID_WEBHOOK_SECRET', bad)
    }
  })
})

describe('retry schedule', () => {
  const ok = { status: 500, retryAfterMs: null }

  it("follows Svix's schedule with ±20 % jitter, then stops", () => {
    assert.deepEqual(DEFAULT_RETRY_SCHEDULE, [5, 300, 1800, 7200, 18000, 36000, 36000])
    DEFAULT_RETRY_SCHEDULE.forEach((sec, i) => {
      assert.equal(nextDelayMs(DEFAULT_RETRY_SCHEDULE, i + 1, ok, () => 0), Math.round(sec * 1000 * 0.8))
      assert.equal(nextDelayMs(DEFAULT_RETRY_SCHEDULE, i + 1, ok, () => 0.5), sec * 1000)
      assert.ok(nextDelayMs(DEFAULT_RETRY_SCHEDULE, i + 1, ok, () => 0.999999)! <= sec * 1200)
    })
    assert.equal(nextDelayMs(DEFAULT_RETRY_SCHEDULE, 8, ok), null, 'eight attempts in all')
    assert.equal(nextDelayMs([], 1, ok), null)
  })

  it('waits longer on Retry-After and on 429, 502 and 504', () => {
    const mid = () => 0.5
    assert.equal(nextDelayMs([5], 1, { status: 503, retryAfterMs: 120_000 }, mid), 120_000)
    assert.equal(nextDelayMs([300], 1, { status: 503, retryAfterMs: 1_000 }, mid), 300_000, 'Retry-After never shortens the schedule')
    for (const status of [429, 502, 504]) assert.equal(nextDelayMs([5], 1, { status, retryAfterMs: null }, mid), 10_000)
    assert.equal(nextDelayMs([0], 1, { status: 429, retryAfterMs: null }, mid), MIN_SLOW_DOWN_MS)
    assert.equal(nextDelayMs([5], 1, { status: 500, retryAfterMs: null }, mid), 5_000)
    assert.equal(parseRetryAfter('120'), 120_000)
    const now = new Date('2026-01-01T00:00:00Z')
    assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:01:00 GMT', now), 60_000)
    assert.equal(parseRetryAfter('soon'), null)
  })

  it('reads TIDINGS_WEBHOOK_RETRY_SCHEDULE as comma-separated seconds', () => {
    assert.deepEqual(parseRetrySchedule('1, 2.5,60'), [1, 2.5, 60])
    assert.equal(parseRetrySchedule(''), undefined)
    assert.equal(parseRetrySchedule(undefined), undefined)
    for (const bad of ['1,,2', 'a', '-1', '5s']) assert.equal(codeOf(() => parseRetrySchedule(bad)), 'TIDINGS_ERR_INVALID_CONFIG', bad)
  })

  it("the delivery job's backoff takes the delay the handler stated, else the global schedule", () => {
    const backoff = deliveryBackoff([5, 300])
    assert.equal(backoff(1, { code: 'TIDINGS_ERR_WEBHOOK_ATTEMPT_FAILED', message: 'next attempt in 1234 ms: HTTP 500 from http://x/', stack: null }), 1234)
    const fallback = backoff(2, { code: 'ECONNRESET', message: 'next attempt in 1 ms', stack: null })
    assert.ok(fallback >= 240_000 && fallback <= 360_000)
  })
})

describe('SSRF guard', () => {
  const guard = new TargetGuard({ resolve: async (host) => (host === 'rebind.example' ? [{ address: '93.184.216.34', family: 4 }, { address: '10.1.2.3', family: 4 }] : [{ address: '93.184.216.34', family: 4 }]) })

  it('refuses loopback, private, link-local, CGNAT, unspecified, multicast and metadata addresses, IPv4 inside IPv6 included', () => {
    const cases: [string, string][] = [
      ['127.0.0.1', 'loopback'],
      ['127.255.0.9', 'loopback'],
      ['10.0.0.1', 'private'],
      ['172.16.5.4', 'private'],
      ['172.31.255.255', 'private'],
      ['192.168.1.1', 'private'],
      ['169.254.1.1', 'link-local'],
      ['169.254.169.254', 'cloud metadata'],
      ['100.64.0.1', 'shared (CGNAT)'],
      ['0.0.0.0', 'unspecified'],
      ['224.0.0.1', 'multicast'],
      ['::1', 'loopback'],
      ['::', 'unspecified'],
      ['fc00::1', 'private'],
      ['fd12:3456::1', 'private'],
      ['fd00:ec2::254', 'cloud metadata'],
      ['fe80::1', 'link-local'],
      ['::ffff:127.0.0.1', 'loopback'],
      ['::ffff:a9fe:a9fe', 'cloud metadata'],
      ['64:ff9b::10.0.0.1', 'private'],
      ['2002:7f00:1::', 'loopback'],
    ]
    for (const [address, reason] of cases) assert.equal(guard.refusal(address), reason, address)
    for (const address of ['93.184.216.34', '8.8.8.8', '172.32.0.1', '2606:4700::1111', '::ffff:8.8.8.8']) assert.equal(guard.refusal(address), null, address)
  })

  it('checks every address a host resolves to', async () => {
    await assert.doesNotReject(guard.check(new URL('https://public.example/hook')))
    await assert.rejects(guard.check(new URL('https://rebind.example/hook')), (err: unknown) => isTidingsError(err, 'TIDINGS_ERR_WEBHOOK_TARGET_FORBIDDEN') && /10\.1\.2\.3/.test(err.message))
    await assert.rejects(guard.check(new URL('http://[::1]:8080/')), (err: unknown) => isTidingsError(err, 'TIDINGS_ERR_WEBHOOK_TARGET_FORBIDDEN'))
  })

  it('lets allowPrivate or an allow-list of networks and host names through', async () => {
    assert.equal(new TargetGuard({ allowPrivate: true }).refusal('127.0.0.1'), null)
    const listed = new TargetGuard({ allow: ['10.1.0.0/16', '::1', 'internal.example'], resolve: async () => [{ address: '192.168.0.7', family: 4 }] })
    assert.equal(listed.refusal('10.1.200.3'), null)
    assert.equal(listed.refusal('10.2.0.1'), 'private')
    assert.equal(listed.refusal('::1'), null)
    await assert.doesNotReject(listed.check(new URL('http://internal.example/')))
    await assert.rejects(listed.check(new URL('http://other.example/')), (err: unknown) => isTidingsError(err, 'TIDINGS_ERR_WEBHOOK_TARGET_FORBIDDEN'))
    assert.equal(codeOf(() => new TargetGuard({ allow: ['10.0.0.0/40'] })), 'TIDINGS_ERR_INVALID_CONFIG')
  })
})

describe('endpoint input and matching', () => {
  const base = { url: 'https://example.com/hook', eventTypes: ['order.*'] }

  it('refuses bad URLs, patterns, channels, headers, schedules and secrets with coded errors', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ url: 'not a url' }, 'TIDINGS_ERR_INVALID_WEBHOOK'],
      [{ url: 'ftp://example.com/' }, 'TIDINGS_ERR_INVALID_WEBHOOK'],
      [{ url: 'https://user:pw@example.com/' }, 'TIDINGS_ERR_INVALID_WEBHOOK'],
      [{ eventTypes: ['order.$'] }, 'TIDINGS_ERR_INVALID_WEBHOOK'],
      [{ eventTypes: ['order..created'] }, 'TIDINGS_ERR_INVALID_WEBHOOK'],
      [{ eventTypes: [] }, 'TIDINGS_ERR_INVALID_WEBHOOK'],
      [{ channels: ['user 42'] }, 'TIDINGS_ERR_INVALID_WEBHOOK'],
      [{ headers: { 'webhook-id': 'x' } }, 'TIDINGS_ERR_INVALID_WEBHOOK'],
      [{ headers: { 'x-a': 'line\nbreak' } }, 'TIDINGS_ERR_INVALID_WEBHOOK'],
      [{ retrySchedule: [-1] }, 'TIDINGS_ERR_INVALID_WEBHOOK'],
      [{ rateLimit: 0 }, 'TIDINGS_ERR_INVALID_WEBHOOK'],
      [{ secret: 'abc' }, 'TIDINGS_ERR_INVALID_WEBHOOK_SECRET'],
      [{ unknown: 1 }, 'TIDINGS_ERR_INVALID_WEBHOOK'],
    ]
    for (const [patch, code] of cases) assert.equal(codeOf(() => validateEndpointInput({ ...base, ...patch } as never)), code, JSON.stringify(patch))
    assert.equal(codeOf(() => validateEndpointInput({ ...base, secret: generateSecret(), channels: ['user:*'], headers: { 'X-Team': 'a' }, retrySchedule: [1, 2] })), undefined)
  })

  it('matches type patterns, channels and tenant, and never Tidings plumbing or its own webhook events', () => {
    const ev = (over: Partial<TidingsEvent>): TidingsEvent => ({
      id: 'e1', schemaVersion: 1, type: 'order.created', channels: ['user:1'], tenant: null, key: null, occurredAt: new Date().toISOString(), data: null, job: null, traceparent: null, ...over,
    })
    const f = new EndpointFilter({ id: 'ep1', eventTypes: ['order.*', 'webhook.*', 'job.*'], channels: ['user:*', 'webhook:*', 'job:*', 'control:*'], tenant: null }, 'webhooks.deliver')
    assert.equal(f.matches(ev({})), true)
    assert.equal(f.matches(ev({ type: 'order.item.added' })), true)
    assert.equal(f.matches(ev({ type: 'invoice.paid' })), false)
    assert.equal(f.matches(ev({ channels: ['team:1'] })), false)
    assert.equal(f.matches(ev({ tenant: 'acme' })), false, 'an endpoint without a tenant gets no tenant events')
    assert.equal(f.matches(ev({ type: 'job.succeeded', channels: ['job:1'], job: { id: '1', name: 'webhooks.deliver', queue: 'webhooks', attempt: 1 } })), false)
    assert.equal(f.matches(ev({ type: 'job.succeeded', channels: ['job:1'], job: { id: '1', name: 'reports.build', queue: 'default', attempt: 1 } })), true)
    assert.equal(f.matches(ev({ type: 'webhook.exhausted', channels: ['webhook:ep1'], data: { endpointId: 'ep1' } })), false)
    assert.equal(f.matches(ev({ type: 'webhook.exhausted', channels: ['webhook:ep2'], data: { endpointId: 'ep2' } })), true)
    assert.equal(f.matches(ev({ type: 'order.cancel.requested', channels: ['control:jobs'] })), false)
    const tenant = new EndpointFilter({ id: 'ep3', eventTypes: ['*'], channels: null, tenant: 'acme' }, 'webhooks.deliver')
    assert.equal(tenant.matches(ev({ tenant: 'acme' })), true)
    assert.equal(tenant.matches(ev({ tenant: 'globex' })), false)
    assert.equal(tenant.matches(ev({ tenant: null })), false)
  })
})
