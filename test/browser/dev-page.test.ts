import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Browser } from 'playwright-core'
import { artifactDir, browserUnavailable, launchBrowser } from '../helpers/browser.js'
import { startTestServer, type TestServer } from '../helpers/harness.js'

const skip = browserUnavailable()

describe('the page at / in headless Chromium', { skip: skip ?? false }, () => {
  let srv: TestServer
  let browser: Browser
  before(async () => {
    srv = await startTestServer({ http: { page: true } })
    browser = await launchBrowser()
  })
  after(async () => {
    await browser?.close()
    await srv?.close()
  })

  it('shows an event published through the API live, with the browser\'s own EventSource', async () => {
    const page = await browser.newPage()
    await page.goto(`${srv.url}/`)
    await page.waitForSelector('#state[data-state="open"]', { timeout: 10_000 })
    const res = await fetch(`${srv.url}/v1/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'demo.hello', channels: ['demo'], data: { greeting: 'hello from the API <b>not bold</b>' } }),
    })
    assert.equal(res.status, 202)
    const { cursor } = (await res.json()) as { cursor: string }
    const item = page.locator('#events li', { hasText: 'hello from the API' })
    await item.waitFor({ timeout: 10_000 })
    assert.match(await item.innerText(), /demo\.hello/)
    assert.match(await item.innerText(), new RegExp(`cursor ${cursor.replace(/[.]/g, '\\.')}`))
    assert.equal(await page.locator('#events b').count(), 0, 'event data is shown as text, never as HTML')
    await page.screenshot({ path: `${artifactDir()}dev-page.png` })
    await page.close()
  })
})
