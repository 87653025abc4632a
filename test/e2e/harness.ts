// What the browser tests run against: the real app (buildServer + the demo page) on a real
// socket, an attacker's site on another port, and headless Chromium through playwright-core.
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import type { FastifyInstance } from 'fastify'
import { buildServer } from '../../src/server/app.js'
import type { Config } from '../../src/server/config.js'
import { testConfig } from '../helpers/app.js'
import { createTestDatabase } from '../helpers/database.js'
import { freePort } from '../../src/db/embedded.js'

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS })
}

/** One request as the server saw it. */
export interface Seen {
  at: number
  method: string
  path: string
  status: number
  origin: string | undefined
  secFetchSite: string | undefined
  transport: string | undefined
  /** names of the cookies that came with it */
  cookies: string[]
}

export interface RunningApp {
  app: FastifyInstance
  config: Config
  databaseUrl: string
  port: number
  /** the app's origin as the victim's browser addresses it */
  origin: string
  seen: Seen[]
  close(): Promise<void>
}

export async function startApp(env: Record<string, string> = {}): Promise<RunningApp> {
  const db = await createTestDatabase()
  // The shortest access lifetime the server accepts; expiry itself is simulated by the
  // tests (the harness, unlike the page, can touch httpOnly cookies).
  // The port is chosen first: mail links point at the demo page on PORT (http://localhost:PORT).
  const port = env.PORT !== undefined ? Number(env.PORT) : await freePort()
  const config = testConfig({ ACCESS_TOKEN_TTL: '30', PORT: String(port), ACCESS_TOKEN_EMAIL: 'true', ...env })
  const app = await buildServer({ config, databaseUrl: db.url })

  const seen: Seen[] = []
  app.server.on('request', (req: IncomingMessage, res) => {
    const header = (name: string) => {
      const v = req.headers[name]
      return Array.isArray(v) ? v.join(',') : v
    }
    const entry: Seen = {
      at: Date.now(),
      method: req.method ?? '',
      path: (req.url ?? '').split('?')[0]!,
      status: 0,
      origin: header('origin'),
      secFetchSite: header('sec-fetch-site'),
      transport: header('x-auth-transport'),
      cookies: (header('cookie') ?? '')
        .split(';')
        .map((c) => c.trim().split('=')[0]!)
        .filter(Boolean),
    }
    res.on('finish', () => {
      entry.status = res.statusCode
      seen.push(entry)
    })
  })
  await app.listen({ host: '127.0.0.1', port })
  return {
    app,
    config,
    databaseUrl: db.url,
    port,
    origin: `http://localhost:${port}`,
    seen,
    async close() {
      await app.close()
      await db.drop()
    },
  }
}

/**
 * A hostile site. Its page, opened in the victim's browser, tries to end or take over the
 * victim's session with the victim's cookies:
 *  - `window.attack()`: fetches with credentials to /auth/logout and /auth/refresh, once with
 *    the transport header (needs a CORS preflight) and once as a "simple" no-cors request;
 *  - `#logout-form` / `#refresh-form`: classic auto-submittable cross-site form posts.
 */
export async function startAttacker(target: string): Promise<{ port: number; close(): Promise<void> }> {
  const page = `<!doctype html><html><body><h1>Totally harmless page</h1>
<form id="logout-form" method="post" action="${target}/auth/logout"><input name="x" value="1"></form>
<form id="refresh-form" method="post" action="${target}/auth/refresh" enctype="text/plain"><input name="x" value="1"></form>
<script>
window.attack = async function () {
  const out = {}
  for (const path of ['/auth/logout', '/auth/refresh']) {
    try {
      const r = await fetch('${target}' + path, { method: 'POST', credentials: 'include', headers: { 'X-Auth-Transport': 'cookie' } })
      out[path + ' with header'] = 'status ' + r.status + ' ' + (await r.text())
    } catch (e) { out[path + ' with header'] = 'blocked: ' + e.message }
    try {
      const r = await fetch('${target}' + path, { method: 'POST', credentials: 'include', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: 'x' })
      out[path + ' no-cors'] = 'opaque response: ' + r.type
    } catch (e) { out[path + ' no-cors'] = 'blocked: ' + e.message }
  }
  return out
}
</script></body></html>`
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    res.end(page)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

// ---- the demo page, as the browser tests drive it ------------------------------------------

export const DEMO_PASSWORD = 'correct horse battery'

export const stateOf = (page: Page) => page.evaluate(() => document.body.dataset.state)
export const statusOf = (page: Page) => page.textContent('#status')

/** Registers a new account with the demo page's form (which logs in too); its address. */
export async function registerAndLogin(page: Page, prefix = 'web'): Promise<string> {
  const email = `${prefix}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@example.com`
  await page.fill('#register-form input[name=email]', email)
  await page.fill('#register-form input[name=password]', DEMO_PASSWORD)
  await page.click('#register')
  await page.waitForFunction((e) => document.getElementById('me-email')!.textContent === e, email)
  return email
}

/**
 * The browser contexts of one test file: each with the demo page's test hook (the page hands
 * its client to the tests only when asked, before its script runs), and every page's
 * uncaught errors collected. `closeAll()` after each test closes them and returns the errors
 * seen, which a test expects to be none.
 */
export function browserContexts(browser: () => Browser, viewport: { width: number; height: number }) {
  const contexts: BrowserContext[] = []
  const pageErrors: string[] = []
  return {
    async newContext(): Promise<BrowserContext> {
      const context = await browser().newContext({ viewport })
      await context.addInitScript(() => {
        ;(window as unknown as { __exposeDemoForTests: boolean }).__exposeDemoForTests = true
      })
      contexts.push(context)
      return context
    },
    /** Collects `page`'s uncaught errors. */
    watch(page: Page): Page {
      page.on('pageerror', (err) => pageErrors.push(`${page.url()}: ${err.message}`))
      return page
    },
    async closeAll(): Promise<string[]> {
      await Promise.all(contexts.splice(0).map((c) => c.close()))
      return pageErrors.splice(0)
    },
  }
}
