// The web app flow in a real browser: the demo page at `/`, the SDK in cookie mode, several
// tabs, expiry, logout, and a hostile site. Each check's name is what the issue asks for.
import { createPrivateKey, sign as cryptoSign } from 'node:crypto'
import { copyFile, mkdir } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { adminQuery } from '../helpers/database.js'
import { browserContexts, launchChromium, startApp, startAttacker, type RunningApp } from './harness.js'

declare global {
  interface Window {
    demo: {
      client: import('../../client/src/index.js').AuthClient
      whoami(): Promise<{ id: string; email: string; session_id: string } | null>
    }
    attack(): Promise<Record<string, string>>
  }
}

const PASSWORD = 'correct horse battery'
let server: RunningApp
let browser: Browser
const browsers = browserContexts(() => browser, { width: 1100, height: 820 })

beforeAll(async () => {
  server = await startApp()
  browser = await launchChromium()
})

afterEach(async () => {
  expect(await browsers.closeAll()).toEqual([])
})

afterAll(async () => {
  await browser?.close()
  await server?.close()
})

const newContext = () => browsers.newContext()

async function openDemo(context: BrowserContext): Promise<Page> {
  const page = await context.newPage()
  browsers.watch(page)
  await page.goto(`${server.origin}/`)
  await page.waitForFunction(() => window.demo !== undefined && document.body.dataset.state !== 'unknown')
  return page
}

const uniqueEmail = () => `web-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@example.com`

async function registerAndLogin(page: Page): Promise<string> {
  const email = uniqueEmail()
  await page.fill('#register-form input[name=email]', email)
  await page.fill('#register-form input[name=password]', PASSWORD)
  await page.click('#register')
  await page.waitForSelector('body[data-state="authenticated"]')
  await page.waitForFunction((e) => document.getElementById('me-email')!.textContent === e, email)
  return email
}

const sessionShown = (page: Page) => page.textContent('#me-session')
const stateOf = (page: Page) => page.evaluate(() => document.body.dataset.state)
const since = (t: number, path: string, method = 'POST') =>
  server.seen.filter((s) => s.at >= t && s.path === path && s.method === method)

async function revokedAt(sid: string): Promise<Date | null> {
  const rows = await adminQuery<{ revoked_at: Date | null }>('SELECT revoked_at FROM auth.token_families WHERE id = $1', [sid], server.databaseUrl)
  return rows[0]!.revoked_at
}

describe('the demo page', () => {
  it('is served with the SDK, registers, logs in and shows /me without a token anywhere a script can read', async () => {
    const context = await newContext()
    const answers: Array<Promise<string>> = []
    context.on('response', (res) => {
      if (/\/auth\/(login|refresh)$/.test(res.url()) && res.ok()) answers.push(res.text())
    })
    const page = await openDemo(context)
    expect(await stateOf(page)).toBe('anonymous')
    expect(await page.evaluate(() => typeof navigator.locks?.request)).toBe('function') // the Web Locks path
    const email = await registerAndLogin(page)
    await page.click('#refresh')
    await page.waitForFunction(() => document.getElementById('status')!.textContent!.startsWith('Refreshed'))

    // The cookies are there, httpOnly, with the attributes the server promised...
    const cookies = await context.cookies(server.origin + '/auth/refresh')
    const access = cookies.find((c) => c.name === 'access_token')!
    const refresh = cookies.find((c) => c.name === 'refresh_token')!
    expect(access).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' })
    expect(refresh).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/auth' })

    // ...and nothing the page's scripts can reach holds either token.
    const visible = await page.evaluate(async () => ({
      cookie: document.cookie,
      local: Object.entries(localStorage),
      session: Object.entries(sessionStorage),
      indexedDb: (await indexedDB.databases()).map((d) => d.name),
      caches: 'caches' in window ? await caches.keys() : [],
      html: document.documentElement.outerHTML,
      client: JSON.stringify(window.demo.client),
    }))
    expect(visible.cookie).toBe('')
    expect(visible.local).toEqual([])
    expect(visible.session).toEqual([])
    expect(visible.indexedDb).toEqual([])
    expect(visible.caches).toEqual([])
    for (const token of [access.value, refresh.value]) {
      expect(JSON.stringify(visible)).not.toContain(token)
      expect(token.length).toBeGreaterThan(20)
    }
    // Login and refresh answers carry no token either.
    const bodies = await Promise.all(answers)
    expect(bodies.length).toBeGreaterThanOrEqual(2)
    for (const body of bodies) expect(JSON.parse(body)).toEqual({ token_type: 'Bearer', expires_in: 30 })
    expect(await page.textContent('#me-email')).toBe(email)

    await mkdir('test-results', { recursive: true })
    await page.screenshot({ path: 'test-results/demo.png', fullPage: true })
    // docs/demo.png (linked from the README) is refreshed on request, not on every run.
    if (!existsSync('docs/demo.png') || process.env.UPDATE_SCREENSHOTS) {
      await mkdir('docs', { recursive: true })
      await copyFile('test-results/demo.png', 'docs/demo.png')
    }
  })
})

describe('expiry and silent refresh', () => {
  const ways: Array<[string, (context: BrowserContext, sid: string) => Promise<void>]> = [
    ['the browser dropped the expired access cookie', (context) => context.clearCookies({ name: 'access_token' })],
    [
      'the access cookie holds an expired token',
      async (context, sid) => {
        const me = await server.app.inject({ method: 'GET', url: '/auth/me', cookies: { access_token: (await context.cookies(server.origin)).find((c) => c.name === 'access_token')!.value } })
        const { id, email, email_verified } = me.json() as { id: string; email: string; email_verified: boolean }
        // Signed with the server's own key, as it would have two minutes ago.
        const { key, issuer, audience, accessTtlSec } = server.config.jwt
        const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
        const iat = Math.floor(Date.now() / 1000) - 120 - accessTtlSec
        const input = `${part({ alg: 'EdDSA', typ: 'at+jwt', kid: key.kid })}.${part({ sub: id, sid, email, email_verified, jti: crypto.randomUUID(), iat, exp: iat + accessTtlSec, iss: issuer, aud: audience })}`
        const expired = `${input}.${cryptoSign(null, Buffer.from(input), createPrivateKey(key.signKey)).toString('base64url')}`
        const check = await server.app.inject({ method: 'GET', url: '/auth/me', cookies: { access_token: expired } })
        expect(check.json().error).toBe('token_expired') // a genuinely expired token, not a broken one
        await context.addCookies([{ name: 'access_token', value: expired, url: server.origin, httpOnly: true, sameSite: 'Lax' }])
      },
    ],
    [
      'the access cookie holds garbage',
      (context) => context.addCookies([{ name: 'access_token', value: 'garbage', url: server.origin, httpOnly: true, sameSite: 'Lax' }]),
    ],
  ]

  for (const [how, expire] of ways) {
    it(`login → /me → ${how} → silent refresh → /me`, async () => {
      const context = await newContext()
      const page = await openDemo(context)
      const email = await registerAndLogin(page)
      const sid = (await sessionShown(page))!
      await expire(context, sid)

      const t = Date.now()
      const me = await page.evaluate(() => window.demo.whoami())
      expect(me).toMatchObject({ email, session_id: sid })
      expect(await stateOf(page)).toBe('authenticated')
      const meCalls = since(t, '/auth/me', 'GET').map((s) => s.status)
      expect(meCalls).toEqual([401, 200])
      expect(since(t, '/auth/refresh').map((s) => s.status)).toEqual([200])
      expect(await revokedAt(sid)).toBeNull()
    })
  }

  it('a reloaded page with an expired access cookie is still logged in', async () => {
    const context = await newContext()
    const page = await openDemo(context)
    const email = await registerAndLogin(page)
    await context.clearCookies({ name: 'access_token' })
    await page.reload()
    await page.waitForSelector('body[data-state="authenticated"]')
    expect(await page.textContent('#me-email')).toBe(email)
  })
})

describe('several tabs', () => {
  it('three tabs hitting an expired access token at the same instant all stay logged in, with one refresh', async () => {
    const context = await newContext()
    const tabs = [await openDemo(context), await openDemo(context), await openDemo(context)]
    const email = await registerAndLogin(tabs[0]!)
    // the other tabs hear of the login and show it
    for (const tab of tabs.slice(1)) await tab.waitForFunction((e) => document.getElementById('me-email')!.textContent === e, email)
    const sid = (await sessionShown(tabs[0]!))!
    await context.clearCookies({ name: 'access_token' })

    const t = Date.now()
    const at = Date.now() + 400
    const results = await Promise.all(
      tabs.map((tab) =>
        tab.evaluate(async (at) => {
          await new Promise((r) => setTimeout(r, at - Date.now()))
          return window.demo.whoami()
        }, at),
      ),
    )
    for (const me of results) expect(me).toMatchObject({ email, session_id: sid })
    for (const tab of tabs) expect(await stateOf(tab)).toBe('authenticated')
    console.log('[e2e] three tabs:', server.seen.filter((s) => s.at >= t).map((s) => `${s.method} ${s.path} -> ${s.status}`))
    const refreshes = since(t, '/auth/refresh')
    expect(refreshes.map((s) => s.status)).toEqual([200])
    // every tab's first /me was refused (all were on the expired cookie), and all end on a 200
    expect(since(t, '/auth/me', 'GET').filter((s) => s.status === 401).length).toBeGreaterThanOrEqual(1)
    expect(await revokedAt(sid)).toBeNull()
    // the session is healthy: the next refresh rotates normally
    await tabs[1]!.evaluate(() => window.demo.client.refresh())
    expect(await revokedAt(sid)).toBeNull()
  })

  it('logout in one tab logs out the others', async () => {
    const context = await newContext()
    const tabs = [await openDemo(context), await openDemo(context), await openDemo(context)]
    const email = await registerAndLogin(tabs[0]!)
    for (const tab of tabs.slice(1)) await tab.waitForFunction((e) => document.getElementById('me-email')!.textContent === e, email)
    const sid = (await sessionShown(tabs[0]!))!

    await tabs[1]!.click('#logout')
    for (const tab of tabs) await tab.waitForSelector('body[data-state="anonymous"]')
    for (const tab of [tabs[0]!, tabs[2]!]) {
      expect(await tab.textContent('#status')).toBe('Logged out in another tab.')
      expect(await tab.textContent('#me-email')).toBe('–')
    }
    expect(await revokedAt(sid)).not.toBeNull()

    // their next /me is a 401, and nobody manages to refresh
    const t = Date.now()
    for (const tab of [tabs[0]!, tabs[2]!]) {
      expect(await tab.evaluate(() => window.demo.whoami())).toBeNull()
    }
    expect(since(t, '/auth/me', 'GET').map((s) => s.status)).toEqual([401, 401])
    expect(since(t, '/auth/refresh').filter((s) => s.status === 200)).toEqual([])
    expect(await context.cookies(server.origin)).toEqual([])
  })
})

describe('another origin', () => {
  let attacker: { port: number; close(): Promise<void> }
  beforeAll(async () => {
    attacker = await startAttacker(server.origin)
  })
  afterAll(() => attacker?.close())

  // 127.0.0.1 vs localhost: another site, so SameSite keeps the cookies home as well.
  // localhost on another port: the same site, so the cookies do travel and only the
  // server's CSRF check stands between the attacker and the session.
  for (const [label, host] of [
    ['a cross-site page (127.0.0.1)', '127.0.0.1'],
    ['a same-site page on another port (localhost)', 'localhost'],
  ] as const) {
    it(`${label} cannot log the user out or refresh with the user's cookies`, async () => {
      const context = await newContext()
      const victim = await openDemo(context)
      await registerAndLogin(victim)
      const sid = (await sessionShown(victim))!
      const evilOrigin = `http://${host}:${attacker.port}`

      const evil = await context.newPage()
      await evil.goto(`${evilOrigin}/`)
      const t = Date.now()
      const fetched = await evil.evaluate(() => window.attack())
      // With the transport header the browser must ask first (preflight), and is told no.
      expect(fetched['/auth/logout with header']).toMatch(/^blocked/)
      expect(fetched['/auth/refresh with header']).toMatch(/^blocked/)
      // Form posts: navigate the attacker's tab to the API with whatever cookies the browser attaches.
      // (Waiting for the server to see the post, not for a navigation: a 204 does not navigate.)
      // One tab, sent back to the attacker's page for each form once the form's own navigation
      // has loaded (every answer here is a 4xx with a body, so the tab does navigate): closing
      // or redirecting a tab mid-navigation could hang Chromium's next newPage().
      const tab = await context.newPage()
      for (const [form, path] of [['#logout-form', '/auth/logout'], ['#refresh-form', '/auth/refresh']] as const) {
        await tab.goto(`${evilOrigin}/`)
        const posted = () => server.seen.filter((s) => s.at >= t && s.origin === evilOrigin && s.path === path && s.method === 'POST').length
        const before = posted()
        await tab.evaluate((f) => (document.querySelector(f) as HTMLFormElement).submit(), form)
        await expect.poll(posted, { timeout: 10_000 }).toBe(before + 1)
        await tab.waitForURL((u) => u.pathname === path)
      }
      await tab.close()

      const hostile = server.seen.filter((s) => s.at >= t && s.origin === evilOrigin)
      // The preflighted calls never happened; what did reach the server changed nothing.
      expect(hostile.filter((s) => s.transport === 'cookie' && s.method === 'POST')).toEqual([])
      expect(hostile.filter((s) => s.method === 'POST').length).toBe(4) // two no-cors fetches, two forms
      // Refused, each for its own reason (no cookie: 401; cookie without the header: 403
      // csrf_rejected; a text/plain body: 400/415); never a 2xx.
      console.log(`[e2e] ${label}:`, hostile.map((s) => `${s.method} ${s.path} -> ${s.status} (cookies: ${s.cookies.join(',') || 'none'})`))
      for (const s of hostile.filter((s) => s.method === 'POST')) expect(s.status).toBeGreaterThanOrEqual(400)
      if (host === '127.0.0.1') {
        for (const s of hostile) expect(s.cookies).toEqual([]) // SameSite: no cookie crossed sites
      }

      // The victim is still logged in, on the same session, which still rotates.
      expect(await revokedAt(sid)).toBeNull()
      await evil.close()
      expect(await victim.evaluate(() => window.demo.whoami())).toMatchObject({ session_id: sid })
      await victim.evaluate(() => window.demo.client.refresh())
      expect(await victim.evaluate(() => window.demo.whoami())).toMatchObject({ session_id: sid })
      expect(await revokedAt(sid)).toBeNull()
    })
  }
})
