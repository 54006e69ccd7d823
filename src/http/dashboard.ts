/**
 * Serving the dashboard: the page at `/` and its browser modules under `/assets/` — the dashboard's
 * `app.js` and `tidings/client`, the same compiled files the package exports. From `dist/` they are
 * read as they are; in a source checkout run through tsx (tests, `npm run dev`-style use) the `.ts`
 * files are compiled on first request with TypeScript, which a checkout always has.
 */
import { readFile } from 'node:fs/promises'
import { isTidingsError } from '../core/errors.js'
import { dashboardHtml, signInHtml } from '../dashboard/page.js'
import type { Router } from './router.js'

/** Folders of the package whose modules the page may load. */
const ASSET_DIRS: readonly string[] = ['client', 'dashboard']
const ASSET_NAME = /^[a-z][a-z0-9-]*\.js$/
/** The folder holding `client/` and `dashboard/`: `src/` or `dist/`, wherever this file runs from. */
const PACKAGE_ROOT = new URL('../', import.meta.url)

/** Options of {@link registerDashboard}. */
export interface DashboardOptions {
  /** Serve the page only to admins; others get a sign-in form. */
  readonly adminOnly: boolean
}

/** Adds `GET /` and `GET /assets/:dir/:file` to the router. */
export function registerDashboard(router: Router, options: DashboardOptions): void {
  const assets = new Map<string, Promise<string | null>>()
  router
    .add('GET', '/', async (ctx) => {
      if (options.adminOnly) {
        let message: string | null = null
        let status = 200
        try {
          if (!(await ctx.principal()).admin) [status, message] = [403, 'This token is not an admin token.']
        } catch (err) {
          if (!isTidingsError(err) || err.status !== 401) throw err
          ;[status, message] = [401, 'The dashboard is for admins. Open it with an admin token.']
        }
        if (message !== null) {
          ctx.res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
          ctx.res.end(signInHtml(message))
          return
        }
      }
      ctx.res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer' })
      ctx.res.end(dashboardHtml)
    })
    .add('GET', '/assets/:dir/:file', async (ctx) => {
      const { dir, file } = ctx.params as { dir: string; file: string }
      const key = `${dir}/${file}`
      let text: Promise<string | null> | undefined = assets.get(key)
      if (text === undefined && ASSET_DIRS.includes(dir) && ASSET_NAME.test(file)) {
        text = loadModule(dir, file)
        assets.set(key, text)
      }
      const body = text === undefined ? null : await text
      if (body === null) {
        ctx.res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
        ctx.res.end('not found')
        return
      }
      ctx.res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache' })
      ctx.res.end(body)
    })
}

/** The module's JavaScript, compiled from TypeScript when only the source is there; null when neither is. */
async function loadModule(dir: string, file: string): Promise<string | null> {
  try {
    return await readFile(new URL(`${dir}/${file}`, PACKAGE_ROOT), 'utf8')
  } catch {
    // Not compiled: a source checkout.
  }
  let source: string
  const tsFile = `${dir}/${file.slice(0, -'.js'.length)}.ts`
  try {
    source = await readFile(new URL(tsFile, PACKAGE_ROOT), 'utf8')
  } catch {
    return null
  }
  const ts = (await import('typescript')).default
  return ts.transpileModule(source, {
    fileName: tsFile,
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, sourceMap: false },
  }).outputText
}
