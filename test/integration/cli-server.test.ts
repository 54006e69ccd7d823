import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { describe, it } from 'node:test'
import { WebSocket } from 'ws'
import { eventsUrl, SseRecorder } from '../helpers/harness.js'

const root = new URL('../../', import.meta.url).pathname

function cli(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/run.ts', ...args], {
    cwd: root,
    env: { ...process.env, TIDINGS_PORT: '0', TIDINGS_JWT_SECRET: '', TIDINGS_LOG_LEVEL: 'silent', ...env },
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d))
  child.stderr.on('data', (d: Buffer) => (stderr += d))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const url = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', () => {
      const m = /listening on (http:\/\/\S+)/.exec(stdout)
      if (m) resolve(m[1]!)
    })
    void exited.then(() => reject(new Error(`exited before listening: ${stderr}`)))
  })
  url.catch(() => {})
  return { child, url, exited, out: () => stdout, err: () => stderr }
}

describe('tidings dev / serve processes', () => {
  it('dev listens, warns loudly that it runs open, publishes demo events, and stops on SIGTERM', async () => {
    const p = cli(['dev'])
    const url = await p.url
    assert.match(p.err(), /WITHOUT AUTHENTICATION/)
    assert.equal((await fetch(`${url}/healthz`)).status, 200)
    const page = await fetch(`${url}/`)
    assert.match(await page.text(), /<title>Tidings<\/title>/)
    const rec = new SseRecorder(eventsUrl(url, ['demo']), { types: ['demo.tick'] })
    await rec.waitFor(1, 15_000)
    assert.equal(rec.events[0]!.data.type, 'demo.tick')
    rec.close()
    const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/ws?channel=demo`)
    const tick = await new Promise<{ op: string; event: { type: string } }>((resolve) =>
      ws.on('message', (m) => {
        const msg = JSON.parse(m.toString()) as { op: string; event: { type: string } }
        if (msg.op === 'event') resolve(msg)
      }),
    )
    assert.equal(tick.event.type, 'demo.tick', 'the CLI server takes WebSocket upgrades')
    ws.close()
    p.child.kill('SIGTERM')
    assert.equal(await p.exited, 0)
  })

  it('dev with TIDINGS_DEMO=0 publishes nothing by itself', async () => {
    const p = cli(['dev'], { TIDINGS_DEMO: '0' })
    const url = await p.url
    const res = await fetch(`${url}/v1/history?channel=demo`)
    assert.deepEqual(((await res.json()) as { events: unknown[] }).events, [])
    p.child.kill('SIGTERM')
    assert.equal(await p.exited, 0)
  })

  it('serve refuses to run open unless --insecure, and requires tokens when a secret is set', async () => {
    const refused = cli(['serve'])
    assert.notEqual(await refused.exited, 0)
    assert.match(refused.err(), /TIDINGS_ERR_INSECURE_REFUSED/)

    const secured = cli(['serve'], { TIDINGS_JWT_SECRET: 'a-long-enough-secret-for-hs256-0123456789', TIDINGS_HOST: '127.0.0.1' })
    const url = await secured.url
    assert.equal((await fetch(eventsUrl(url, ['broadcast']))).status, 401)
    const page = await fetch(`${url}/`)
    assert.equal(page.status, 401, 'a secured serve shows the dashboard to admins only')
    assert.match(await page.text(), /Admin token/)
    secured.child.kill('SIGTERM')
    assert.equal(await secured.exited, 0)

    const insecure = cli(['serve', '--insecure'], { TIDINGS_HOST: '127.0.0.1' })
    const url2 = await insecure.url
    assert.match(insecure.err(), /WITHOUT AUTHENTICATION/)
    assert.equal((await fetch(`${url2}/healthz`)).status, 200)
    insecure.child.kill('SIGTERM')
    assert.equal(await insecure.exited, 0)
  })
})
