import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { demoReport } from '../../src/cli/demo-job.js'
import { artifactDir, browserUnavailable, launchBrowser } from '../helpers/browser.js'
import { signToken, startTestServer, TEST_SECRET, type TestServer } from '../helpers/harness.js'

const skip = browserUnavailable()

describe('the dashboard at / in headless Chromium', { skip: skip ?? false }, () => {
  let srv: TestServer
  let browser: Browser
  const contexts: BrowserContext[] = []
  before(async () => {
    srv = await startTestServer({ http: { page: true }, jobDefinitions: [demoReport] })
    await srv.tidings.startWorker({ concurrency: 2 })
    browser = await launchBrowser()
  })
  after(async () => {
    for (const c of contexts) await c.close()
    await browser?.close()
    await srv?.close()
  })

  /** A fresh tab (its own sessionStorage) on the dashboard, once both of its streams are connected. */
  async function open(query = ''): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } })
    contexts.push(context)
    const page = await context.newPage()
    page.on('pageerror', (err) => process.stderr.write(`page error: ${err.message}\n`))
    await page.goto(`${srv.url}/${query}`)
    await page.waitForSelector('#state[data-state="connected"]', { timeout: 10_000 })
    await page.waitForSelector('#jobs-panel[data-state="connected"]', { timeout: 10_000 })
    return page
  }

  it('runs demo.report from the page and fills its progress bars to 100 %', async () => {
    const page = await open()
    await page.fill('#dsteps', '4')
    await page.fill('#dstep', '150')
    // Record every state the bar passes through: a transient state may last less than a poll.
    await page.evaluate(() => {
      const seen: string[] = []
      ;(window as unknown as { seenProgress: string[] }).seenProgress = seen
      const demo = document.querySelector('#demo')!
      new MutationObserver(() => seen.push(`${demo.getAttribute('data-status')}:${demo.querySelector('.bar')?.getAttribute('aria-valuenow')}`)).observe(demo, { attributes: true, subtree: true })
    })
    await page.click('#drun')
    await page.waitForSelector('#demo[data-status="succeeded"]', { timeout: 20_000 })
    assert.equal(await page.getAttribute('#demo .bar', 'aria-valuenow'), '100')
    const seen = await page.evaluate(() => (window as unknown as { seenProgress: string[] }).seenProgress)
    assert.ok(seen.includes('running:50'), `the bar showed 50 % while running; saw ${seen.join(' ')}`)
    assert.match(await page.innerText('#dstatus'), /succeeded: \{"steps":4,"pages":12\}/)
    const jobs = await srv.tidings.listJobs({ name: 'demo.report' })
    const id = jobs.jobs[0]!.id
    assert.equal(jobs.jobs[0]!.status, 'succeeded')
    const row = page.locator(`#jobs tr[data-job-id="${id}"]`)
    await page.waitForSelector(`#jobs tr[data-job-id="${id}"][data-status="succeeded"]`)
    assert.equal(await row.locator('.bar').getAttribute('aria-valuenow'), '100', 'the jobs table shows it finished')
    await row.click()
    await page.waitForSelector('#job-detail[data-status="succeeded"]')
    await page.locator('#jlogs li', { hasText: 'report ready' }).waitFor()
    assert.equal(await page.locator('#jevents li', { hasText: 'job.progress' }).count(), 4, 'the detail lists each event once')
    await page.screenshot({ path: `${artifactDir()}dashboard-demo-report.png`, fullPage: true })
  })

  it('cancels a running job from its detail, then retries it', async () => {
    const page = await open()
    await page.fill('#dsteps', '1000')
    await page.fill('#dstep', '50')
    await page.click('#drun')
    await page.waitForSelector('#demo[data-status="running"]', { timeout: 10_000 })
    const id = (await srv.tidings.listJobs({ status: ['running'], name: 'demo.report' })).jobs[0]!.id
    await page.click(`#jobs tr[data-job-id="${id}"]`)
    await page.waitForSelector('#job-detail[data-status="running"]', { timeout: 10_000 })
    await page.click('#jcancel')
    await page.waitForSelector('#job-detail[data-status="cancelled"]', { timeout: 10_000 })
    await page.waitForSelector(`#jobs tr[data-job-id="${id}"][data-status="cancelled"]`)
    await page.waitForSelector('#demo[data-status="cancelled"]')
    assert.equal((await srv.tidings.getJob(id))!.status, 'cancelled')
    assert.equal(await page.isDisabled('#jcancel'), true)
    await page.screenshot({ path: `${artifactDir()}dashboard-cancelled.png`, fullPage: true })

    await page.click('#jretry')
    await page.waitForSelector('#job-detail[data-status="running"]', { timeout: 10_000 })
    assert.equal((await srv.tidings.getJob(id))!.status, 'running')
    await page.click('#jcancel')
    await page.waitForSelector('#job-detail[data-status="cancelled"]', { timeout: 10_000 })
  })

  it('shows an event published through the API in the inspector, over WebSocket, as text', async () => {
    const page = await open('?transport=websocket')
    assert.match(await srv.tidings.metrics.render(), /tidings_connections\{transport="ws"\} [1-9]/)
    const res = await fetch(`${srv.url}/v1/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'demo.hello', channels: ['demo'], data: { greeting: 'hello from the API <b>not bold</b>' } }),
    })
    assert.equal(res.status, 202)
    const { id, cursor } = (await res.json()) as { id: string; cursor: string }
    const item = page.locator(`#events li[data-id="${id}"]`)
    await item.waitFor({ timeout: 10_000 })
    assert.match(await item.innerText(), /demo\.hello/)
    assert.match(await item.innerText(), /hello from the API <b>not bold<\/b>/)
    assert.match(await item.innerText(), new RegExp(`cursor ${cursor.replace(/[.]/g, '\\.')}`))
    assert.equal(await page.locator('#events b').count(), 0, 'event data is shown as text, never as HTML')

    // The channel filter changes what the open socket follows.
    await page.fill('#channels', 'only:this')
    await page.click('#follow button')
    await page.waitForFunction(() => sessionStorage.getItem('tidings.inspector')?.includes('only:this'))
    const [skipped, wanted] = await srv.tidings.publish([
      { type: 'demo.hello', channels: ['demo'], data: 'filtered out' },
      { type: 'demo.hello', channels: ['only:this'], data: 'kept' },
    ])
    await page.locator(`#events li[data-id="${wanted!.id}"]`).waitFor({ timeout: 10_000 })
    assert.equal(await page.locator(`#events li[data-id="${skipped!.id}"]`).count(), 0)
    await page.screenshot({ path: `${artifactDir()}dashboard-inspector.png`, fullPage: true })
  })

  for (const transport of ['sse', 'websocket'] as const) {
    it(`resumes after a reload mid-stream with nothing lost or repeated (${transport})`, async () => {
      const page = await open(`?transport=${transport}`)
      const channel = `reload:${transport}`
      const publish = async (from: number): Promise<string[]> =>
        (await srv.tidings.publish([0, 1, 2].map((i) => ({ type: 'demo.reload', channels: [channel], data: from + i })))).map((p) => p.id)
      const items = page.locator('#events li', { hasText: channel })
      const ids = await publish(1)
      await page.waitForFunction((n) => document.querySelectorAll('#events li[data-id]').length >= n, 3)
      await items.nth(2).waitFor()

      // Hold the reloaded page's script until more events are published: they happen while no
      // page is connected, so only a resume from the stored cursor can show them.
      await page.route('**/assets/dashboard/app.js', async (route) => {
        ids.push(...(await publish(4)))
        await route.continue()
      })
      await page.reload()
      await page.waitForSelector('#state[data-state="connected"]', { timeout: 10_000 })
      ids.push(...(await publish(7)))
      await items.nth(8).waitFor({ timeout: 10_000 })
      const shown = await items.evaluateAll((lis) => lis.map((li) => (li as HTMLElement).dataset.id))
      assert.deepEqual(shown, [...ids].reverse(), 'each event once, newest first, across the reload')
      await page.screenshot({ path: `${artifactDir()}dashboard-reload-${transport}.png`, fullPage: true })
    })
  }

  it('shows webhook endpoints and their deliveries only when /v1/webhooks answers', async () => {
    const page = await open()
    await page.waitForSelector('#webhooks-panel:not([hidden])', { timeout: 10_000 })
    const context = await browser.newContext()
    contexts.push(context)
    const missing = await context.newPage()
    await missing.route('**/v1/webhooks', (route) => route.fulfill({ status: 404, contentType: 'application/json', body: '{"error":{"code":"TIDINGS_ERR_NOT_FOUND"}}' }))
    await missing.goto(`${srv.url}/`)
    await missing.waitForSelector('#state[data-state="connected"]')
    await missing.waitForFunction(() => document.querySelector('#metrics')?.children.length)
    assert.equal(await missing.isHidden('#webhooks-panel'), true, 'no panel when the server has no webhooks')

    const endpoint = { id: 'ep_1', url: 'https://hooks.example.com/in', eventTypes: ['job.*'], enabled: true, health: { lastSuccessAt: null, failureStreak: 2, lastStatus: 500, disabledAt: null } }
    await page.route('**/v1/webhooks', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ endpoints: [endpoint] }) }))
    await page.route('**/v1/webhooks/ep_1/deliveries', (route) =>
      route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ deliveries: [{ id: 'd1', eventType: 'job.failed', status: 'failed', attempts: 3, lastStatus: 500 }], next: null }) }),
    )
    await page.reload()
    await page.locator('#webhooks tr[data-webhook="ep_1"]', { hasText: 'failing ×2' }).click()
    await page.locator('#deliveries tr', { hasText: 'job.failed' }).waitFor()
    await page.screenshot({ path: `${artifactDir()}dashboard-webhooks.png`, fullPage: true })
  })
})

describe('the dashboard of a server with tokens', { skip: skip ?? false }, () => {
  it('is for admins: a sign-in page without a token, 403 for others, the live dashboard with an admin token', async () => {
    const srv = await startTestServer({ auth: { jwt: { secret: TEST_SECRET } }, http: { page: 'admin' } })
    const browser = await launchBrowser()
    try {
      const none = await fetch(`${srv.url}/`)
      assert.equal(none.status, 401)
      assert.match(await none.text(), /Admin token/)
      assert.equal((await fetch(`${srv.url}/?token=${await signToken({ sub: 'u1' })}`)).status, 403)
      assert.equal((await fetch(`${srv.url}/assets/client/index.js`)).status, 200, 'the scripts are public')
      assert.equal((await fetch(`${srv.url}/assets/cli/server.js`)).status, 404, 'and only they are')

      const admin = await signToken({ sub: 'root', tidings: { admin: true } })
      const page = await browser.newPage()
      await page.goto(`${srv.url}/?token=${admin}`)
      await page.waitForSelector('#state[data-state="connected"]', { timeout: 10_000 })
      await page.waitForSelector('#jobs-panel[data-state="connected"]', { timeout: 10_000 })
      const [p] = await srv.tidings.publish([{ type: 'demo.secure', channels: ['secure'], data: 1 }])
      await page.locator(`#events li[data-id="${p!.id}"]`).waitFor({ timeout: 10_000 })
    } finally {
      await browser.close()
      await srv.close()
    }
  })
})
