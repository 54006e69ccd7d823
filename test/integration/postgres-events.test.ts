/**
 * The PostgreSQL event log under the faults seed 003's reviewer asked about: commits out of
 * order, publishing inside the caller's transaction, the listener's connection killed, events past
 * NOTIFY's 8 KB, a lost NOTIFY, a hub killed under its client, PostgreSQL restarted mid-publish,
 * the schema dropped under a running hub, and several processes migrating at once.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { after, describe, it } from 'node:test'
import type pg from 'pg'
import { normalizeEvent } from '../../src/core/envelope.js'
import { isTidingsError } from '../../src/core/errors.js'
import { PostgresEventLog, type PostgresEventLogOptions } from '../../src/engines/postgres/event-log.js'
import { eventLogLockKey } from '../../src/engines/postgres/migrations.js'
import { engineAvailable } from '../helpers/engines.js'
import { eventsUrl, SseRecorder, startTestServer, type TestServer } from '../helpers/harness.js'
import { dropSchemas, listenerPids, OwnPostgresCluster, postgresBinariesAvailable, POSTGRES_URL, testPool, testSchema, waitUntil } from '../helpers/postgres.js'

const skip = await engineAvailable('postgres')
const TYPES = ['t.pg', 'tidings.reset']

function evt(data: unknown, channel = 'pg'): { type: string; channels: string[]; data: unknown } {
  return { type: 't.pg', channels: [channel], data }
}

/** Ids of the `t.pg` events a client received, in order. */
function ids(rec: SseRecorder): string[] {
  return rec.events.filter((e) => e.type === 't.pg').map((e) => e.data.id)
}

/** Every expected id exactly once, nothing else. */
function assertExactly(got: readonly string[], expected: readonly string[], what: string): void {
  assert.equal(new Set(got).size, got.length, `${what}: an event arrived twice`)
  assert.deepEqual([...got].sort(), [...expected].sort(), `${what}: events lost or unexpected`)
}

describe('postgres events', { skip: skip ?? false }, () => {
  const schemas = new Set<string>()
  const logs: PostgresEventLog[] = []
  const servers: TestServer[] = []
  const pool = testPool()

  const newLog = (schema: string, options: PostgresEventLogOptions = {}): PostgresEventLog => {
    schemas.add(schema)
    const log = new PostgresEventLog({ connectionString: POSTGRES_URL, schema, ...options })
    logs.push(log)
    return log
  }
  const serve = async (log: PostgresEventLog, extra: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> => {
    const srv = await startTestServer({ events: log, hub: { tailRetryMs: 50 }, ...extra })
    servers.push(srv)
    return srv
  }
  const begin = async (): Promise<pg.PoolClient> => {
    const client = await pool.connect()
    await client.query('BEGIN')
    return client
  }
  const end = async (client: pg.PoolClient, sql: 'COMMIT' | 'ROLLBACK'): Promise<void> => {
    try {
      await client.query(sql)
    } finally {
      client.release()
    }
  }

  after(async () => {
    for (const s of servers) await s.close().catch(() => {})
    for (const l of logs) await l.close().catch(() => {})
    await dropSchemas(POSTGRES_URL, schemas)
    await pool.end()
  })

  it('commits out of order: a tail and an SSE client get every committed event once; a rolled-back one never', async () => {
    const schema = testSchema('ooo')
    const hubLog = newLog(schema)
    const writer = newLog(schema)
    const srv = await serve(hubLog)
    const rec = new SseRecorder(eventsUrl(srv.url, ['pg']), { types: TYPES })
    await rec.opened()
    const tailLog = newLog(schema)
    const ac = new AbortController()
    const tailed: string[] = []
    const tailing = (async () => {
      for await (const batch of tailLog.tail(await tailLog.head(), ac.signal)) tailed.push(...batch.map((e) => e.event.id))
    })()

    // Six transactions begin in order; each publishes, then they commit newest first, and after
    // each commit the client is seen past it before the next (older) one commits.
    const events = Array.from({ length: 6 }, (_, i) => normalizeEvent(evt(`tx${i}`)))
    const txs: pg.PoolClient[] = []
    for (const e of events) {
      const tx = await begin()
      await writer.appendInTransaction(tx, [e])
      txs.push(tx)
    }
    const doomed = await begin()
    const rolledBack = normalizeEvent(evt('rolled back'))
    await writer.appendInTransaction(doomed, [rolledBack])
    const expected: string[] = []
    for (let i = txs.length - 1; i >= 0; i--) {
      await end(txs[i]!, 'COMMIT')
      expected.push(events[i]!.id)
      await rec.waitFor(expected.length)
      const plain = normalizeEvent(evt(`plain${i}`))
      await writer.append([plain])
      expected.push(plain.id)
      await rec.waitFor(expected.length)
    }
    await end(doomed, 'ROLLBACK')

    // A slow appender inside the locked region: this transaction holds the log's lock and writes
    // the next position the way append_events does; a real append must wait for its commit and
    // take the position after it, and a reader must get both, in order.
    const slow = await begin()
    await slow.query('SELECT pg_advisory_xact_lock($1::bigint)', [eventLogLockKey(schema)])
    const headBefore = BigInt((await writer.head())!)
    const slowEvent = normalizeEvent(evt('slow'))
    await slow.query(`INSERT INTO "${schema}".events (position, id, body) VALUES ($1, $2, $3)`, [String(headBefore + 1n), slowEvent.id, JSON.stringify(slowEvent)])
    await slow.query(`INSERT INTO "${schema}".event_channels (channel, position) VALUES ('pg', $1)`, [String(headBefore + 1n)])
    const fast = normalizeEvent(evt('fast'))
    const fastAppend = writer.append([fast])
    await waitUntil(async () => {
      const { rows } = await pool.query(
        `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND ((classid::bigint << 32) | objid::bigint) = $1::bigint`,
        [eventLogLockKey(schema)],
      )
      return rows[0].n > 0
    }, 'the append waits for the lock')
    await end(slow, 'COMMIT')
    const [fastPosition] = await fastAppend
    assert.equal(fastPosition, String(headBefore + 2n), 'the append took the position after the slow commit')
    expected.push(slowEvent.id, fast.id)

    await rec.waitFor(expected.length)
    await waitUntil(() => tailed.length >= expected.length, 'the tail has every event')
    ac.abort()
    await tailing
    assertExactly(ids(rec), expected, 'SSE client')
    assertExactly(tailed, expected, 'tail')
    assert.deepEqual(ids(rec), tailed, 'both in log order')
    assert.ok(!ids(rec).includes(rolledBack.id))
    rec.close()
  })

  it('many appenders and transactions with random commit delays: nothing lost, nothing repeated', async () => {
    const schema = testSchema('mix')
    const srv = await serve(newLog(schema))
    const writer = newLog(schema)
    const rec = new SseRecorder(eventsUrl(srv.url, ['pg', 'other']), { types: TYPES })
    await rec.opened()
    const committed: string[] = []
    const rolledBack: string[] = []
    const pause = (): Promise<void> => new Promise((r) => setTimeout(r, Math.random() * 4))
    await Promise.all([
      ...Array.from({ length: 3 }, async (_, a) => {
        for (let i = 0; i < 20; i++) {
          const batch = [normalizeEvent(evt(`p${a}.${i}`)), normalizeEvent(evt(`p${a}.${i}b`, 'other'))]
          await writer.append(batch)
          committed.push(...batch.map((e) => e.id))
        }
      }),
      ...Array.from({ length: 4 }, async (_, a) => {
        for (let i = 0; i < 10; i++) {
          const tx = await begin()
          const e = normalizeEvent(evt(`t${a}.${i}`))
          await writer.appendInTransaction(tx, [e])
          // The delay sits between publish and commit, so commits overtake each other.
          await pause()
          const ok = (a + i) % 5 !== 0
          await end(tx, ok ? 'COMMIT' : 'ROLLBACK')
          ;(ok ? committed : rolledBack).push(e.id)
        }
      }),
    ])
    const marker = (await srv.tidings.publish(evt('marker'))).id
    await rec.waitFor(committed.length + 1, 20_000)
    assertExactly(ids(rec), [...committed, marker], 'SSE client')
    assert.equal(ids(rec).at(-1), marker)
    for (const id of rolledBack) assert.ok(!ids(rec).includes(id))
    rec.close()
  })

  it('tidings.publish inside a transaction: delivered after COMMIT with nothing else published; never after ROLLBACK', async () => {
    const schema = testSchema('txpub')
    const srv = await serve(newLog(schema))
    const other = await serve(newLog(schema))
    const rec = new SseRecorder(eventsUrl(srv.url, ['pg']), { types: TYPES })
    await rec.opened()

    const tx = await begin()
    const inTx = await other.tidings.publish(evt('in transaction'), { transaction: tx })
    assert.equal(inTx.position, null)
    const { rows } = await tx.query(`SELECT count(*)::int AS n FROM "${schema}".inbox`)
    assert.equal(rows[0].n, 1, 'the transaction sees its own event')
    const before = await srv.tidings.publish(evt('published meanwhile'))
    await rec.waitFor(1)
    assert.deepEqual(ids(rec), [before.id], 'not delivered before the commit')
    await end(tx, 'COMMIT')
    await rec.waitFor(2)
    assert.deepEqual(ids(rec), [before.id, inTx.id])

    const doomed = await begin()
    const gone = await other.tidings.publish([evt('rolled back 1'), evt('rolled back 2')], { transaction: doomed })
    await end(doomed, 'ROLLBACK')
    const marker = await other.tidings.publish(evt('marker'))
    await rec.waitFor(3)
    assert.deepEqual(ids(rec), [before.id, inTx.id, marker.id])
    for (const p of gone) assert.ok(!ids(rec).includes(p.id))
    const { rows: left } = await pool.query(`SELECT count(*)::int AS n FROM "${schema}".inbox`)
    assert.equal(left[0].n, 0)

    await assert.rejects(other.tidings.publish(evt('x'), { transaction: pool }), (err) => isTidingsError(err, 'TIDINGS_ERR_INVALID_CONFIG'))
    const idle = await pool.connect()
    try {
      await assert.rejects(other.tidings.publish(evt('x'), { transaction: idle }), (err) => isTidingsError(err, 'TIDINGS_ERR_INVALID_CONFIG') && /BEGIN/.test(err.message))
    } finally {
      idle.release()
    }
    rec.close()
  })

  it("the listener's connection killed with pg_terminate_backend while events flow: no gap", async () => {
    const schema = testSchema('kill')
    // A long polling interval: only NOTIFY and the reconnect's re-read can deliver in time.
    const hubLog = newLog(schema, { pollIntervalMs: 120_000 })
    const srv = await serve(hubLog)
    const writer = newLog(schema)
    const rec = new SseRecorder(eventsUrl(srv.url, ['pg']), { types: TYPES })
    await rec.opened()
    const listenerPid = (): number | null => {
      const state = hubLog.listenerState
      return state?.type === 'listening' ? state.pid : null
    }
    const killed = new Set<number>()
    const sent: string[] = []
    // The last kill comes just before the last event, and nothing follows it: that event is
    // committed while the hub is deaf, so only the re-read after reconnecting delivers it in time.
    for (let i = 0; i < 90; i++) {
      const e = normalizeEvent(evt(i))
      await writer.append([e])
      sent.push(e.id)
      if (i === 30 || i === 60 || i === 88) {
        await rec.waitFor(sent.length)
        await waitUntil(() => listenerPid() !== null, 'the hub listens')
        const pid = listenerPid()!
        assert.deepEqual(await listenerPids(pool, hubLog.notifyChannel), [pid])
        killed.add(pid)
        const { rows } = await pool.query('SELECT pg_terminate_backend($1) AS ok', [pid])
        assert.equal(rows[0].ok, true)
      }
    }
    await rec.waitFor(sent.length, 20_000)
    assert.deepEqual(ids(rec), sent, 'every event, once, in order')
    await waitUntil(() => listenerPid() !== null, 'the hub listens again')
    assert.equal(killed.size, 3)
    assert.ok(!killed.has(listenerPid()!), 'a new listening connection')
    assert.deepEqual(await listenerPids(pool, hubLog.notifyChannel), [listenerPid()])
    rec.close()
  })

  it('an event of 200 KB (NOTIFY carries at most 8 KB) is delivered intact', async () => {
    const schema = testSchema('big')
    const srv = await serve(newLog(schema), { maxEventBytes: 256 * 1024 })
    const publisher = await serve(newLog(schema), { maxEventBytes: 256 * 1024 })
    const rec = new SseRecorder(eventsUrl(srv.url, ['pg']), { types: TYPES })
    await rec.opened()
    // 204 000 bytes of UTF-8, multi-byte characters included.
    const blob = 'é✓x'.repeat(34_000)
    const published = await publisher.tidings.publish(evt({ blob }))
    await rec.waitFor(1)
    assert.equal(rec.events[0]!.data.id, published.id)
    assert.deepEqual(rec.events[0]!.data.data, { blob })
    rec.close()
  })

  it('a lost NOTIFY delays an event by at most the polling interval, never loses it', async () => {
    const schema = testSchema('poll')
    const srv = await serve(newLog(schema, { pollIntervalMs: 200 }))
    const rec = new SseRecorder(eventsUrl(srv.url, ['pg']), { types: TYPES })
    await rec.opened()
    // Written the way another language's publisher would, and with no NOTIFY at all.
    const e = normalizeEvent(evt('no notify'))
    await pool.query(`INSERT INTO "${schema}".inbox (event_id, body, channels) VALUES ($1, $2, $3)`, [e.id, JSON.stringify(e), JSON.stringify(e.channels)])
    await rec.waitFor(1)
    assert.deepEqual(ids(rec), [e.id])
    rec.close()
  })

  it('a hub killed with SIGKILL: its client resumes on another hub with its Last-Event-ID and gets exactly what it missed', async () => {
    const schema = testSchema('hubs')
    const hubB = await serve(newLog(schema))
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/postgres-hub.ts'], {
      env: { ...process.env, DATABASE_URL: POSTGRES_URL, TIDINGS_TEST_SCHEMA: schema },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    try {
      const urlA = await new Promise<string>((resolve, reject) => {
        let out = ''
        child.stdout!.on('data', (chunk: Buffer) => {
          out += chunk.toString()
          const m = /READY (\S+)/.exec(out)
          if (m) resolve(m[1]!)
        })
        child.once('exit', (code) => reject(new Error(`hub A exited (${code}) before it was ready`)))
      })
      const recA = new SseRecorder(eventsUrl(urlA, ['pg']), { types: TYPES })
      await recA.opened()
      const seen = await hubB.tidings.publish(Array.from({ length: 10 }, (_, i) => evt(`seen ${i}`)))
      await recA.waitFor(10)
      assert.deepEqual(ids(recA), seen.map((p) => p.id))
      const cursor = recA.lastEventId!
      child.kill('SIGKILL')
      await exited
      recA.close()
      const missed = await hubB.tidings.publish(Array.from({ length: 15 }, (_, i) => evt(`missed ${i}`)))
      const recB = new SseRecorder(eventsUrl(hubB.url, ['pg']), { types: TYPES, lastEventId: cursor })
      await recB.waitFor(15)
      const marker = await hubB.tidings.publish(evt('after'))
      await recB.waitFor(16)
      assert.deepEqual(ids(recB), [...missed.map((p) => p.id), marker.id])
      recB.close()
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await exited
    }
  })

  it('the schema dropped under a running hub: the log comes back in a new epoch and the client gets tidings.reset', async () => {
    const schema = testSchema('drop')
    const log = newLog(schema)
    const srv = await serve(log)
    const rec = new SseRecorder(eventsUrl(srv.url, ['pg']), { types: TYPES })
    await rec.opened()
    const first = await srv.tidings.publish(evt('before'))
    await rec.waitFor(1)
    const oldEpoch = await log.epoch()
    await dropSchemas(POSTGRES_URL, [schema])
    await rec.waitFor(2, 20_000)
    assert.equal(rec.events[1]!.type, 'tidings.reset')
    assert.equal((rec.events[1]!.data.data as { reason: string }).reason, 'epoch')
    assert.notEqual(await log.epoch(), oldEpoch)
    const next = await srv.tidings.publish(evt('after'))
    await rec.waitFor(3)
    assert.deepEqual(ids(rec), [first.id, next.id])
    rec.close()
  })

  it('a schema recreated by another process that writes before the hub notices: reset, then those events', async () => {
    const schema = testSchema('recreate')
    // No polling: the hub reads only when woken, so the new epoch's first event is written first.
    const srv = await serve(newLog(schema, { pollIntervalMs: 120_000 }))
    const rec = new SseRecorder(eventsUrl(srv.url, ['pg']), { types: TYPES })
    await rec.opened()
    const first = await srv.tidings.publish(evt('old epoch'))
    await rec.waitFor(1)
    await dropSchemas(POSTGRES_URL, [schema])
    const writer = newLog(schema)
    const early = normalizeEvent(evt('new epoch, before the hub noticed'))
    await writer.append([early])
    await rec.waitFor(3)
    assert.equal(rec.events[1]!.type, 'tidings.reset')
    assert.equal((rec.events[1]!.data.data as { reason: string }).reason, 'epoch')
    assert.deepEqual(ids(rec), [first.id, early.id])
    rec.close()
  })

  it('several processes starting at once migrate once and agree on the epoch', async () => {
    const schema = testSchema('race')
    const racers = Array.from({ length: 6 }, () => newLog(schema))
    await Promise.all(racers.map((l) => l.ready()))
    const epochs = new Set(await Promise.all(racers.map((l) => l.epoch())))
    assert.equal(epochs.size, 1)
    const { rows } = await pool.query(`SELECT component, version FROM "${schema}".migrations ORDER BY version`)
    assert.deepEqual(rows, [{ component: 'events', version: 1 }])
  })

  it('retention by age: old events are trimmed, and a reader behind them is told', async () => {
    const schema = testSchema('age')
    const log = newLog(schema, { maxAgeMs: 1, retentionIntervalMs: 20 })
    const [first] = await log.append([normalizeEvent(evt(1)), normalizeEvent(evt(2)), normalizeEvent(evt(3))])
    await waitUntil(async () => (await log.read(null, { limit: 10 })).entries.length === 0, 'the sweep trims by age')
    const res = await log.read(first!, { limit: 10 })
    assert.equal(res.truncated, true)
    assert.equal(await log.head(), String(BigInt(first!) + 2n), 'the head survives trimming')
    const [later] = await log.append([normalizeEvent(evt(4))])
    assert.equal(later, String(BigInt(first!) + 3n), 'positions continue after a trim')
    await assert.rejects(
      (async () => {
        for await (const _ of log.tail(first!, new AbortController().signal)) assert.fail('a tail must not start across a gap')
      })(),
      (err) => isTidingsError(err, 'TIDINGS_ERR_LOG_TRUNCATED'),
    )
  })

  it('PostgreSQL restarted mid-publish: every acknowledged event is delivered, none twice', { skip: postgresBinariesAvailable() ?? false, timeout: 60_000 }, async () => {
    const cluster = await OwnPostgresCluster.start()
    const schema = 'tidings_restart'
    const hubLog = new PostgresEventLog({ connectionString: cluster.url, schema, pollIntervalMs: 200 })
    const pubLog = new PostgresEventLog({ connectionString: cluster.url, schema })
    logs.push(hubLog, pubLog)
    const srv = await serve(hubLog)
    const publisher = await serve(pubLog)
    const live = new SseRecorder(eventsUrl(srv.url, ['pg']), { types: TYPES })
    await live.opened()
    const acked: { id: string; cursor: string }[] = []
    let failures = 0
    let stop = false
    let n = 0
    const publishers = Array.from({ length: 4 }, async () => {
      while (!stop) {
        try {
          const p = await publisher.tidings.publish(evt(n++))
          acked.push({ id: p.id, cursor: p.cursor! })
        } catch {
          failures++
          // The database is down: no event announces its return, so retry at a modest pace.
          await new Promise((r) => setTimeout(r, 20))
        }
      }
    })
    try {
      await waitUntil(() => acked.length >= 100, '100 events are acknowledged')
      await cluster.stopServer('immediate')
      const beforeRestart = acked.length
      await cluster.startServer()
      await waitUntil(() => acked.length >= beforeRestart + 100, '100 more are acknowledged after the restart', 30_000)
    } finally {
      stop = true
      await Promise.all(publishers)
    }
    assert.ok(failures > 0, 'publishing failed while the server was down')
    const expected = acked.map((a) => a.id)
    await waitUntil(() => expected.every((id) => ids(live).includes(id)), 'the live client has every acknowledged event', 30_000)
    const marker = await publisher.tidings.publish(evt('end'))
    const resumed = new SseRecorder(eventsUrl(publisher.url, ['pg']), { types: TYPES, lastEventId: acked[0]!.cursor })
    await waitUntil(() => ids(resumed).includes(marker.id), 'the resuming client reaches the end', 30_000)
    for (const [label, rec] of [['live', live], ['resumed', resumed]] as const) {
      const got = ids(rec)
      assert.equal(new Set(got).size, got.length, `${label}: an event arrived twice`)
      for (const id of expected.slice(label === 'resumed' ? 1 : 0)) assert.ok(got.includes(id), `${label}: acknowledged event ${id} missing`)
      assert.ok(!rec.events.some((e) => e.type === 'tidings.reset'), `${label}: no reset`)
    }
    live.close()
    resumed.close()
    await srv.close()
    await publisher.close()
    await hubLog.close()
    await pubLog.close()
    await cluster.destroy()
  })
})
