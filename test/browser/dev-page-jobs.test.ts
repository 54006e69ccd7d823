import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Browser } from 'playwright-core'
import { demoReport } from '../../src/cli/demo-job.js'
import { artifactDir, browserUnavailable, launchBrowser } from '../helpers/browser.js'
import { startTestServer, type TestServer } from '../helpers/harness.js'

const skip = browserUnavailable()

describe('the page at / runs demo.report and shows its progress', { skip: skip ?? false }, () => {
  let srv: TestServer
  let browser: Browser
  before(async () => {
    srv = await startTestServer({ http: { page: true }, jobDefinitions: [demoReport] })
    await srv.tidings.startWorker()
    browser = await launchBrowser()
  })
  after(async () => {
    await browser?.close()
    await srv?.close()
  })

  it('fills the progress bar from job.progress events on queue:default and ends succeeded', async () => {
    const page = await browser.newPage()
    await page.goto(`${srv.url}/`)
    await page.waitForSelector('#state[data-state="open"]', { timeout: 10_000 })
    await page.fill('#dsteps', '4')
    await page.fill('#dstep', '150')
    // Record every state the bar passes through: a transient state may last less than a poll.
    await page.evaluate(() => {
      const seen: string[] = []
      ;(window as unknown as { seenProgress: string[] }).seenProgress = seen
      const demo = document.querySelector('#demo')!
      new MutationObserver(() => {
        const bar = demo.querySelector('.bar')
        seen.push(`${demo.getAttribute('data-status')}:${bar?.getAttribute('aria-valuenow')}`)
      }).observe(demo, { attributes: true, subtree: true })
    })
    await page.click('#drun')
    await page.waitForSelector('#demo[data-status="succeeded"]', { timeout: 20_000 })
    assert.equal(await page.getAttribute('#demo .bar', 'aria-valuenow'), '100')
    const seen = await page.evaluate(() => (window as unknown as { seenProgress: string[] }).seenProgress)
    assert.ok(seen.includes('running:50'), `the bar showed 50 % while running; saw ${seen.join(' ')}`)
    assert.match(await page.innerText('#dstatus'), /succeeded: \{"steps":4,"pages":12\}/)
    const jobs = await srv.tidings.listJobs({ name: 'demo.report' })
    assert.equal(jobs.jobs.length, 1)
    assert.equal(jobs.jobs[0]!.status, 'succeeded')
    await page.screenshot({ path: `${artifactDir()}dev-page-demo-report.png` })
    await page.close()
  })
})
