// Passkeys and the authenticator app on the demo page, in headless Chromium with a virtual
// WebAuthn authenticator (Chrome DevTools Protocol: WebAuthn.addVirtualAuthenticator, CTAP2, a
// platform authenticator with resident keys and user verification), against the real app on a
// real socket: register a passkey, log out, log in with the passkey alone, a second tab stays
// logged in; a passkey registered on another origin, and an assertion made on another origin,
// are refused. The screenshot of the factors (docs/demo-mfa.png) is taken here.
import { generateKeyPairSync } from 'node:crypto'
import { copyFile, mkdir } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core'
import { adminQuery } from '../helpers/database.js'
import { DEMO_PASSWORD as PASSWORD, browserContexts, launchChromium, registerAndLogin, startApp, stateOf, statusOf, type RunningApp } from './harness.js'
import { base32Decode, totp } from '../../src/mfa/totp.js'

declare global {
  interface Window {
    demo: {
      client: import('../../client/src/index.js').AuthClient
      whoami(): Promise<{ id: string; email: string; session_id: string } | null>
    }
  }
}

let server: RunningApp
let other: RunningApp
let browser: Browser
const browsers = browserContexts(() => browser, { width: 1100, height: 900 })

beforeAll(async () => {
  // Another site: its own database and signing key, on another port of localhost (the same RP ID).
  const otherKey = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  ;[server, other] = await Promise.all([startApp(), startApp({ JWT_PRIVATE_KEY: otherKey, JWT_KEY_ID: 'other-site' })])
  browser = await launchChromium()
})
afterEach(async () => {
  expect(await browsers.closeAll()).toEqual([])
})
afterAll(async () => {
  await browser?.close()
  await Promise.all([server?.close(), other?.close()])
})

const newContext = () => browsers.newContext()

/** A virtual platform authenticator for this tab: resident keys, user verification, auto-approved. */
async function authenticator(page: Page): Promise<{ cdp: CDPSession; id: string }> {
  const cdp = await page.context().newCDPSession(page)
  await cdp.send('WebAuthn.enable', { enableUI: false })
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  })
  return { cdp, id: authenticatorId }
}

async function openDemo(context: BrowserContext, app: RunningApp = server, withAuthenticator = true) {
  const page = await context.newPage()
  browsers.watch(page)
  const auth = withAuthenticator ? await authenticator(page) : null
  await page.goto(`${app.origin}/`)
  await page.waitForFunction(() => window.demo !== undefined && document.body.dataset.state !== 'unknown')
  return { page, auth }
}

async function addPasskey(page: Page) {
  await page.click('#passkey-register')
  await page.waitForFunction(() => document.querySelectorAll('#passkey-list li').length === 1)
}

const since = (app: RunningApp, t: number, path: string) => app.seen.filter((s) => s.at >= t && s.path === path).map((s) => s.status)

describe('passkeys on the demo page', () => {
  it('register a passkey; log out; log in with the passkey alone; a second tab stays logged in', async () => {
    const context = await newContext()
    const { page, auth } = await openDemo(context)
    // Anonymous: the login form offers passkeys in its autofill.
    await page.waitForSelector('body[data-passkey-autofill="armed"]')
    expect(await page.getAttribute('#login-form input[name=email]', 'autocomplete')).toBe('username webauthn')
    const email = await registerAndLogin(page)
    await addPasskey(page)
    // The authenticator holds one discoverable credential for this RP, and the server its public key.
    const { credentials } = await auth!.cdp.send('WebAuthn.getCredentials', { authenticatorId: auth!.id })
    expect(credentials).toHaveLength(1)
    expect(credentials[0]).toMatchObject({ isResidentCredential: true, rpId: 'localhost' })
    const [row] = await adminQuery(
      `SELECT c.credential_id, c.counter, c.backup_eligible, c.backed_up, c.transports FROM auth.webauthn_credentials c JOIN auth.users u ON u.id = c.user_id WHERE u.email = $1`,
      [email],
      server.databaseUrl,
    )
    expect(row).toMatchObject({ credential_id: credentials[0]!.credentialId.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_'), backup_eligible: false, backed_up: false })
    expect(await page.textContent('#mfa-status')).toContain('passkeys: 1')

    // While nobody touches the authenticator (no presence), the autofill request waits.
    await auth!.cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId: auth!.id, enabled: false })
    await page.click('#logout')
    await page.waitForSelector('body[data-state="anonymous"]')
    await page.waitForSelector('body[data-passkey-autofill="armed"]')
    const tab2 = (await openDemo(context, server, false)).page
    await auth!.cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId: auth!.id, enabled: true })
    await new Promise((r) => setTimeout(r, 500))
    expect(await stateOf(tab2)).toBe('anonymous')
    expect(await stateOf(page)).toBe('anonymous')
    expect(since(server, 0, '/auth/passkeys/login')).toEqual([])

    const t = Date.now()
    await page.click('#passkey-login')
    await page.waitForSelector('body[data-state="authenticated"]')
    expect(await page.textContent('#me-email')).toBe(email)
    expect(since(server, t, '/auth/passkeys/login')).toEqual([200])
    // A passkey alone, user verified, bound to this device: hwk and mfa (RFC 8176).
    const sid = (await page.textContent('#me-session'))!
    const [family] = await adminQuery('SELECT claims FROM auth.token_families WHERE id = $1', [sid], server.databaseUrl)
    expect(family!.claims.amr).toEqual(['hwk', 'mfa'])
    // The counter the server stored moved with the assertion.
    const [after] = await adminQuery('SELECT counter, last_used_at FROM auth.webauthn_credentials WHERE credential_id = $1', [row!.credential_id], server.databaseUrl)
    expect(Number(after!.counter)).toBeGreaterThan(Number(row!.counter))
    expect(after!.last_used_at).not.toBeNull()

    // The other tab hears of the login, and stays logged in through a refresh of its own.
    await tab2.waitForSelector('body[data-state="authenticated"]')
    await context.clearCookies({ name: 'access_token' })
    const me = await tab2.evaluate(() => window.demo.whoami())
    expect(me).toMatchObject({ email, session_id: sid })
    expect(await stateOf(tab2)).toBe('authenticated')
    expect(await stateOf(page)).toBe('authenticated')
  })
})

describe('conditional UI', () => {
  it('a page with a passkey for this site logs in from the autofill, with no click', async () => {
    const context = await newContext()
    const { page, auth } = await openDemo(context)
    const email = await registerAndLogin(page)
    await addPasskey(page)
    await auth!.cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId: auth!.id, enabled: false })
    await page.click('#logout')
    await page.waitForSelector('body[data-passkey-autofill="armed"]')
    const t = Date.now()
    // The virtual authenticator stands in for the user picking the passkey from the autofill.
    await auth!.cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId: auth!.id, enabled: true })
    await page.reload()
    await page.waitForSelector('body[data-state="authenticated"]')
    expect(await page.textContent('#me-email')).toBe(email)
    expect(since(server, t, '/auth/passkeys/login/options')).toEqual([200])
    expect(since(server, t, '/auth/passkeys/login')).toEqual([200])
  })
})

describe('another origin', () => {
  it('a passkey registered on another site is refused here', async () => {
    const context = await newContext()
    const { page, auth } = await openDemo(context, other)
    await registerAndLogin(page)
    await addPasskey(page)
    // Same tab, same authenticator: now on this site, which never registered that passkey.
    await auth!.cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId: auth!.id, enabled: false })
    // Cookies do not keep ports apart: the other site's session cookies would reach this one.
    await context.clearCookies()
    await page.goto(`${server.origin}/`)
    await page.waitForSelector('body[data-passkey-autofill="armed"]')
    expect((await auth!.cdp.send('WebAuthn.getCredentials', { authenticatorId: auth!.id })).credentials).toHaveLength(1)
    await auth!.cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId: auth!.id, enabled: true })
    const t = Date.now()
    await page.click('#passkey-login')
    await page.waitForFunction(() => document.getElementById('status')!.textContent!.includes('invalid_passkey'))
    // The button's assertion, and sometimes also the autofill's (Chromium's virtual authenticator
    // may answer the pending autofill request as the button cancels it): every one refused.
    const attempts = since(server, t, '/auth/passkeys/login')
    expect(attempts.length).toBeGreaterThanOrEqual(1)
    expect(attempts.filter((status) => status !== 400)).toEqual([])
    expect(await stateOf(page)).toBe('anonymous')
  })

  it("an assertion of this site's passkey made on another origin (a phishing page) is refused", async () => {
    const context = await newContext()
    const { page, auth } = await openDemo(context)
    const email = await registerAndLogin(page)
    await addPasskey(page)
    // The phishing page, on another origin of the same RP ID (localhost on another port), asks
    // this site for options and the browser for an assertion of the same passkey.
    const options = (await (await fetch(`${server.origin}/auth/passkeys/login/options`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).json()).options
    await auth!.cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId: auth!.id, enabled: false })
    await page.goto(`${other.origin}/`)
    await auth!.cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId: auth!.id, enabled: true })
    const credential = await page.evaluate(async (o) => {
      const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(o)
      const c = (await navigator.credentials.get({ publicKey })) as PublicKeyCredential
      return c.toJSON()
    }, options)
    const clientData = JSON.parse(Buffer.from(credential.response.clientDataJSON, 'base64url').toString())
    expect(clientData).toMatchObject({ type: 'webauthn.get', origin: other.origin, challenge: options.challenge })
    const relayed = await fetch(`${server.origin}/auth/passkeys/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ credential }) })
    expect(relayed.status).toBe(400)
    expect((await relayed.json()).error).toBe('invalid_passkey')
    // The same passkey on its own site still works: it was the origin that was refused.
    const sessions = await adminQuery(`SELECT count(*)::int AS n FROM auth.token_families f JOIN auth.users u ON u.id = f.user_id WHERE u.email = $1`, [email], server.databaseUrl)
    expect(sessions[0]!.n).toBe(1)
  })
})

describe('the authenticator app on the demo page', () => {
  it('enrols with the QR code; adding a passkey then asks for a step-up; a password login asks for the second step', async () => {
    const context = await newContext()
    const { page, auth } = await openDemo(context)
    const email = await registerAndLogin(page)
    await page.click('#totp-enroll')
    await page.waitForSelector('#totp-setup:not([hidden])')
    const qr = await page.getAttribute('#totp-qr', 'src')
    expect(qr).toMatch(/^data:image\/svg\+xml;base64,/)
    // the image is drawn: a QR code is wider than nothing
    expect(await page.evaluate(() => (document.getElementById('totp-qr') as HTMLImageElement).naturalWidth)).toBeGreaterThan(0)
    const secret = base32Decode((await page.textContent('#totp-secret'))!)

    await mkdir('test-results', { recursive: true })
    await page.screenshot({ path: 'test-results/demo-mfa.png', fullPage: true })
    if (!existsSync('docs/demo-mfa.png') || process.env.UPDATE_SCREENSHOTS) {
      await mkdir('docs', { recursive: true })
      await copyFile('test-results/demo-mfa.png', 'docs/demo-mfa.png')
    }

    const confirmedAt = Date.now()
    await page.fill('#totp-confirm-form input[name=code]', totp(secret, confirmedAt))
    await page.click('#totp-confirm')
    await page.waitForFunction(() => document.querySelectorAll('#recovery-codes li').length === 10)
    await page.waitForFunction(() => document.getElementById('mfa-status')!.textContent!.includes('Authenticator app: on · passkeys: 0 · recovery codes left: 10'))

    // This session logged in with the password only: adding a factor now needs the second one.
    await page.click('#passkey-register')
    await page.waitForSelector('#stepup-form:not([hidden])')
    expect(await page.isHidden('#stepup-password-label')).toBe(true)
    await page.fill('#stepup-form input[name=code]', totp(secret, confirmedAt + 30_000))
    await page.click('#stepup-submit')
    await page.waitForFunction(() => document.querySelectorAll('#passkey-list li').length === 1)
    expect(await page.isHidden('#stepup-form')).toBe(true)

    // Log out; the password alone is not enough: the second step, answered with the passkey.
    await auth!.cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId: auth!.id, enabled: false })
    await page.click('#logout')
    await page.waitForSelector('body[data-state="anonymous"]')
    await page.fill('#login-form input[name=email]', email)
    await page.fill('#login-form input[name=password]', PASSWORD)
    await page.click('#login')
    await page.waitForSelector('#mfa-form:not([hidden])')
    expect(await stateOf(page)).toBe('anonymous')
    await auth!.cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId: auth!.id, enabled: true })
    await page.click('#mfa-passkey')
    await page.waitForSelector('body[data-state="authenticated"]')
    const sid = (await page.textContent('#me-session'))!
    const [family] = await adminQuery('SELECT claims FROM auth.token_families WHERE id = $1', [sid], server.databaseUrl)
    expect(family!.claims.amr).toEqual(['pwd', 'hwk', 'mfa'])
    expect(await statusOf(page)).toContain(email)
  })
})
