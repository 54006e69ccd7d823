/**
 * Headless Chromium for end-to-end tests: Debian's /usr/bin/chromium driven by playwright-core.
 * When Chromium is missing the caller skips with a loud reason (CI installs it and sets
 * TIDINGS_REQUIRE_BROWSER=1, which turns the skip into a failure).
 */
import { existsSync, mkdirSync } from 'node:fs'
import { chromium, type Browser } from 'playwright-core'

/** Where Chromium is expected. */
export const CHROMIUM_PATH = process.env.TIDINGS_CHROMIUM_PATH ?? '/usr/bin/chromium'

/** Why browser tests cannot run here, or null when they can. */
export function browserUnavailable(): string | null {
  if (existsSync(CHROMIUM_PATH)) return null
  const reason = `Chromium not found at ${CHROMIUM_PATH} (apt-get install -y chromium)`
  if (process.env.TIDINGS_REQUIRE_BROWSER === '1') throw new Error(`${reason}, and TIDINGS_REQUIRE_BROWSER=1`)
  process.stderr.write(`\n!!! SKIPPING browser tests: ${reason}\n\n`)
  return reason
}

/** Launches headless Chromium with the flags this machine needs. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
  })
}

/** Directory for screenshots and other artefacts. */
export function artifactDir(): string {
  const dir = new URL('../../test-artifacts/', import.meta.url).pathname
  mkdirSync(dir, { recursive: true })
  return dir
}
